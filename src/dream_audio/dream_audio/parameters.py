"""Declare ROS parameters with their description and range in one line each."""
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, \
    SetParametersResult


def declare(node, name, default, description, low=None, high=None, read_only=False):
    """Declare ``name`` on ``node``; ``low``/``high`` give a range for numbers."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if low is not None and high is not None:
        if isinstance(default, bool):
            raise TypeError(f'{name}: a boolean parameter has no range')
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                     step=0)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(low), to_value=float(high), step=0.0)]
    return node.declare_parameter(name, default, descriptor).value


def choice_error(choices, name, value):
    """Why ``value`` cannot be parameter ``name`` of ``choices`` ({name: words}), or ''."""
    if name not in choices or value in choices[name]:
        return ''
    return f'{name} must be one of {", ".join(choices[name])}, got {value!r}'


def refuse_other_words(node, choices):
    """Refuse a value outside its words for the parameters of ``choices`` ({name: words}).
    Called before the declarations, a bad value fails the node's start
    (InvalidParameterValueException) instead of being logged and worked around; later, the
    set is refused. The reason lists the words."""
    def validate(parameters):
        for p in parameters:
            reason = choice_error(choices, p.name, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)
    node.add_on_set_parameters_callback(validate)
