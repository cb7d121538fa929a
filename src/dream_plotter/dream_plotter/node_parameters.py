"""ROS parameters shared by the driver nodes: declared with descriptors and ranges, read
into the plain settings objects of the planner and the driver cores."""
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)

from dream_plotter.motion_profile import MotionLimits
from dream_plotter.outcome import PlotError
from dream_plotter.paper import MAX_PEN_WIDTH_MM, paper_size, PaperDefaults
from dream_plotter.planner import MIN_OPACITY, PlanSettings

BIG = 1e9

# name: (default, description, (min, max) or None, read_only)
COMMON = {
    'feedback_rate_hz': (10.0, 'rate of action feedback and of the feedback mirror topic',
                         (0.5, 100.0), False),
    'paper': ('A4', 'default paper: A3, A4, A5, A6, letter, legal, tabloid or WxH in mm',
              None, False),
    'margin_mm': (10.0, 'default margin around the drawing, mm', (0.0, 200.0), False),
    'pen_width_mm': (0.5, 'default pen width, mm (used for the simulated drawing)',
                     (0.01, MAX_PEN_WIDTH_MM), False),
    'machine_width_mm': (0.0, 'machine travel in x, mm (0 = not limited)', (0.0, 5000.0),
                         True),
    'machine_height_mm': (0.0, 'machine travel in y, mm (0 = not limited)', (0.0, 5000.0),
                          True),
    'draw_speed': (40.0, 'pen-down speed, mm/s', (0.1, 2000.0), False),
    'travel_speed': (120.0, 'pen-up speed, mm/s', (0.1, 2000.0), False),
    'acceleration': (1000.0, 'acceleration, mm/s^2', (1.0, 100000.0), False),
    'junction_deviation': (0.02, 'cornering tolerance (GRBL $11), mm', (0.0001, 10.0), False),
    'pen_down_delay': (0.15, 'wait after lowering the pen, s', (0.0, 10.0), False),
    'pen_up_delay': (0.15, 'wait after lifting the pen, s', (0.0, 10.0), False),
    'pen_change_time': (10.0, 'time given to the operator to swap pens, s', (0.0, 3600.0),
                        False),
    'tolerance_mm': (0.05, 'Bezier flattening tolerance, mm', (0.001, 5.0), False),
    'simplify_mm': (0.02, 'vpype linesimplify tolerance, mm (0 = off)', (0.0, 5.0), False),
    'merge_mm': (0.1, 'vpype linemerge tolerance, mm (0 = off)', (0.0, 5.0), False),
    'sort': (True, 'reorder strokes with vpype linesort to cut pen-up travel', None, False),
    'two_opt': (True, 'refine the order with vpype 2-opt (slower planning)', None, False),
    'two_opt_passes': (10, 'passes of 2-opt', (1, 1000), False),
    'flip': (True, 'allow drawing strokes backwards', None, False),
    'min_opacity': (MIN_OPACITY, 'strokes fainter than this opacity (colour alpha times SVG '
                    'opacity) are not drawn, since a pen has no transparency; alpha 0 is '
                    'always dropped', (0.0, 1.0), False),
}


def paper_error(name):
    """Why ``name`` is no paper (a name or WxH in mm, as paper_size takes), or ''."""
    try:
        width, height = paper_size(name)
    except PlotError as exc:
        return exc.message
    except ValueError:      # '1.2.3x4'
        width = height = 0.0
    if width > 0 and height > 0:
        return ''
    return f'paper {name!r}: WIDTHxHEIGHT must be two positive numbers of mm'


def axidraw_model_error(name):
    from dream_plotter.axidraw_driver import axidraw_travel
    try:
        axidraw_travel(name)
    except ValueError as exc:
        return str(exc)
    return ''


# Text parameters with a fixed set of values: name -> why a value is refused, or ''
# ('model' is the AxiDraw node's).
CHECKS = {'paper': paper_error, 'model': axidraw_model_error}


def check(parameters):
    """An on-set-parameters callback: refuses a value that CHECKS refuses."""
    for p in parameters:
        reason = CHECKS[p.name](p.value) if p.name in CHECKS else ''
        if reason:
            return SetParametersResult(successful=False, reason=reason)
    return SetParametersResult(successful=True)


def declare(node, table):
    """Declare ``table`` on ``node``; the values CHECKS knows are checked when declared (a
    bad one raises rclpy's InvalidParameterValueException) and when set."""
    if CHECKS.keys() & table.keys():
        node.add_on_set_parameters_callback(check)
    for name, (default, description, bounds, read_only) in table.items():
        descriptor = ParameterDescriptor(description=description, read_only=read_only)
        if isinstance(default, bool):
            descriptor.type = ParameterType.PARAMETER_BOOL
        elif isinstance(default, int):
            descriptor.type = ParameterType.PARAMETER_INTEGER
            if bounds:
                descriptor.integer_range = [IntegerRange(from_value=int(bounds[0]),
                                                         to_value=int(bounds[1]), step=1)]
        elif isinstance(default, float):
            descriptor.type = ParameterType.PARAMETER_DOUBLE
            if bounds:
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(bounds[0]), to_value=float(bounds[1]), step=0.0)]
        elif isinstance(default, (list, tuple)):
            descriptor.type = ParameterType.PARAMETER_STRING_ARRAY
            default = list(default)
        else:
            descriptor.type = ParameterType.PARAMETER_STRING
        node.declare_parameter(name, default, descriptor)


def value(node, name):
    return node.get_parameter(name).value


def plan_settings(node):
    limits = MotionLimits(
        draw_speed=value(node, 'draw_speed'), travel_speed=value(node, 'travel_speed'),
        acceleration=value(node, 'acceleration'),
        junction_deviation=value(node, 'junction_deviation'),
        pen_down_delay=value(node, 'pen_down_delay'), pen_up_delay=value(node, 'pen_up_delay'),
        pen_change_time=value(node, 'pen_change_time'))
    return PlanSettings(tolerance_mm=value(node, 'tolerance_mm'),
                        simplify_mm=value(node, 'simplify_mm'),
                        merge_mm=value(node, 'merge_mm'), sort=value(node, 'sort'),
                        two_opt=value(node, 'two_opt'),
                        two_opt_passes=value(node, 'two_opt_passes'),
                        flip=value(node, 'flip'), min_opacity=value(node, 'min_opacity'),
                        limits=limits)


def paper_defaults(node):
    return PaperDefaults(paper=value(node, 'paper'), margin_mm=value(node, 'margin_mm'),
                         pen_width_mm=value(node, 'pen_width_mm'),
                         machine_width_mm=value(node, 'machine_width_mm'),
                         machine_height_mm=value(node, 'machine_height_mm'))
