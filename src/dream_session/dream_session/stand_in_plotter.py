"""A DrawStrokes server that "plots" every stroke at once, without a plotter.

For exercising the session manager, recorder and runner. It follows the driver contract's
essentials: feedback and result mirrored on plain topics, cancel honoured, an empty drawing
refused. Goals execute in a worker thread, as the real drivers' do.
"""
import sys

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from dream_interfaces.action import DrawStrokes
from dream_interfaces.msg import PlotFeedback, PlotResult
from dream_plotter.offloaded_execution import offloaded
from dream_runtime.node_process import run_node

# Reliable like the real servers' mirrors: a lost result is a session without its outcome.
_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class StandInPlotter(Node):
    def __init__(self, **kwargs):
        super().__init__('plotter', **kwargs)
        self._feedback_pub = self.create_publisher(PlotFeedback, 'draw_strokes/feedback_mirror',
                                                   _QOS)
        self._result_pub = self.create_publisher(PlotResult, 'draw_strokes/result_mirror', _QOS)
        ActionServer(self, DrawStrokes, 'draw_strokes',
                     offloaded(self, self._execute, 'draw_strokes-goal'),
                     goal_callback=lambda goal: GoalResponse.ACCEPT,
                     cancel_callback=lambda handle: CancelResponse.ACCEPT)

    def _execute(self, handle):
        goal = handle.request
        total = len(goal.drawing.strokes)
        result = DrawStrokes.Result()
        outcome = result.outcome
        outcome.session_id = goal.session_id
        for index in range(goal.start_stroke, total):
            if handle.is_cancel_requested:
                break
            feedback = DrawStrokes.Feedback()
            feedback.progress = PlotFeedback(session_id=goal.session_id, strokes_done=index + 1,
                                             strokes_total=total, current_stroke=index,
                                             progress=(index + 1) / total)
            handle.publish_feedback(feedback)
            self._feedback_pub.publish(feedback.progress)
            outcome.strokes_done = outcome.next_stroke = index + 1
        if handle.is_cancel_requested:
            handle.canceled()
            outcome.error_code, outcome.message = PlotResult.ERROR_CANCELLED, 'cancelled'
        elif total == 0:
            handle.abort()
            outcome.error_code, outcome.message = PlotResult.ERROR_INVALID_DRAWING, 'empty'
        else:
            handle.succeed()
        self._result_pub.publish(outcome)
        return result


def main(args=None):
    return run_node(StandInPlotter, args)


if __name__ == '__main__':
    sys.exit(main())
