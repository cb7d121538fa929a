"""Conversions between dream_interfaces messages and the plain planner/driver types.

Reading is duck-typed (any object with the message's fields works), so this module imports
ROS only inside the functions that build messages.
"""
import numpy as np

from dream_plotter.drawing_model import DrawingData, make_stroke
from dream_plotter.outcome import ErrorCode, PlotError
from dream_plotter.paper import PaperRequest


def drawing_from_msg(msg):
    """DrawingData from a dream_interfaces/Drawing (bad strokes become INVALID_DRAWING)."""
    warnings = []
    palette = [(c.r, c.g, c.b, c.a) for c in msg.palette]
    strokes = []
    try:
        for i, s in enumerate(msg.strokes):
            pts = np.asarray(s.control_points, dtype=np.float64)
            strokes.append(make_stroke(pts, s.width, (s.color.r, s.color.g, s.color.b,
                                                      s.color.a), s.pen, i, warnings))
    except ValueError as exc:
        raise PlotError(ErrorCode.INVALID_DRAWING, str(exc)) from exc
    return DrawingData(strokes=strokes, canvas_width=float(msg.canvas_width),
                       canvas_height=float(msg.canvas_height), palette=palette,
                       prompt=msg.prompt, session_id=msg.session_id, warnings=warnings)


def paper_from_msg(msg):
    """PaperRequest from a dream_interfaces/PaperSetup (zeros mean driver defaults)."""
    return PaperRequest(paper=msg.paper, width_mm=float(msg.width_mm),
                        height_mm=float(msg.height_mm), margin_mm=float(msg.margin_mm),
                        orientation=int(msg.orientation),
                        out_of_bounds=int(msg.out_of_bounds),
                        pen_width_mm=float(msg.pen_width_mm))


def drawing_to_msg(drawing):
    """A dream_interfaces/Drawing from a DrawingData (used by the conformance kit and tests)."""
    from dream_interfaces.msg import Drawing, Stroke
    from std_msgs.msg import ColorRGBA
    msg = Drawing(session_id=drawing.session_id, prompt=drawing.prompt,
                  canvas_width=int(round(drawing.canvas_width)),
                  canvas_height=int(round(drawing.canvas_height)))
    for s in drawing.strokes:
        stroke = Stroke(control_points=[float(v) for v in s.points.reshape(-1)],
                        width=float(s.width), pen=int(s.pen))
        stroke.color = ColorRGBA(r=s.color[0], g=s.color[1], b=s.color[2], a=s.color[3])
        msg.strokes.append(stroke)
    for c in drawing.palette:
        msg.palette.append(ColorRGBA(r=c[0], g=c[1], b=c[2], a=c[3]))
    return msg


def progress_to_msg(progress, session_id, stamp=None):
    """dream_interfaces/PlotFeedback from a Progress snapshot."""
    from dream_interfaces.msg import PlotFeedback
    msg = PlotFeedback(session_id=session_id, strokes_done=int(progress.strokes_done),
                       strokes_total=int(progress.strokes_total),
                       current_stroke=int(progress.current_stroke),
                       pen_down=bool(progress.pen_down),
                       progress=float(min(max(progress.progress, 0.0), 1.0)),
                       time_left=float(max(progress.time_left, 0.0)))
    msg.pen_position.x = float(progress.x)
    msg.pen_position.y = float(progress.y)
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def outcome_to_msg(outcome, session_id, stamp=None):
    """dream_interfaces/PlotResult from a PlotOutcome."""
    from dream_interfaces.msg import PlotResult
    msg = PlotResult(session_id=session_id, error_code=int(outcome.error_code),
                     message=outcome.message, device_error=int(outcome.device_error),
                     strokes_done=int(outcome.strokes_done),
                     next_stroke=int(outcome.next_stroke), duration=float(outcome.duration),
                     pen_down_distance=float(outcome.pen_down_distance),
                     pen_up_distance=float(outcome.pen_up_distance),
                     pen_changes=int(outcome.pen_changes))
    if stamp is not None:
        msg.header.stamp = stamp
    return msg
