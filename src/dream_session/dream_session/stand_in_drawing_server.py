"""A GenerateDrawing server that answers at once with three strokes, without CLIP.

For exercising the session manager, recorder and runner (tests, or a user checking their launch
setup). It follows the real server's contract: feedback and result mirrored on plain topics,
cancel honoured, error codes set, one drawing at a time (a goal that comes meanwhile is
answered ERROR_BUSY, as the clipdraw node answers it). A prompt containing ``fail`` makes the
drawing fail; ``slow`` makes it take ``slow_seconds``. Goals execute in a worker thread, as the
real server's do, so cancels are seen meanwhile.
"""
import sys
import threading
import time

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from dream_interfaces.action import GenerateDrawing
from dream_interfaces.msg import Drawing, GenerationFeedback, GenerationResult, Stroke
from dream_plotter.offloaded_execution import offloaded
from dream_runtime.node_process import run_node

# Reliable like the real servers' mirrors: a lost result is a session without its outcome.
_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class StandInDrawingServer(Node):
    def __init__(self, **kwargs):
        super().__init__('clipdraw', **kwargs)
        self.declare_parameter('slow_seconds', 5.0, ParameterDescriptor(
            description='how long a goal whose prompt contains "slow" takes'))
        self._busy = threading.Lock()
        self._closing = threading.Event()
        self._drawing_pub = self.create_publisher(Drawing, 'drawing', _QOS)
        self._feedback_pub = self.create_publisher(GenerationFeedback,
                                                   'generate_drawing/feedback_mirror', _QOS)
        self._result_pub = self.create_publisher(GenerationResult,
                                                 'generate_drawing/result_mirror', _QOS)
        self._server = ActionServer(
            self, GenerateDrawing, 'generate_drawing',
            offloaded(self, self._execute, 'generate_drawing-goal'),
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda handle: CancelResponse.ACCEPT)

    def destroy_node(self):
        self._closing.set()
        # rclpy's destroy_node leaves an action server in the graph until the process ends
        self._server.destroy()
        return super().destroy_node()

    def _execute(self, handle):
        if not self._busy.acquire(blocking=False):
            result = GenerateDrawing.Result()
            result.outcome.session_id = handle.request.session_id
            result.outcome.error_code = GenerationResult.ERROR_BUSY
            result.outcome.message = 'another drawing is being generated'
            handle.abort()
            self._result_pub.publish(result.outcome)
            return result
        try:
            return self._draw(handle)
        finally:
            self._busy.release()

    def _draw(self, handle):
        goal = handle.request
        result = GenerateDrawing.Result()
        outcome = result.outcome
        outcome.session_id = goal.session_id
        deadline = time.monotonic() + (self.get_parameter('slow_seconds').value
                                       if 'slow' in goal.prompt else 0.0)
        while time.monotonic() < deadline and not handle.is_cancel_requested:
            if self._closing.wait(0.05):    # destroyed meanwhile: nothing can be sent
                return result
        feedback = GenerateDrawing.Feedback()
        feedback.progress = GenerationFeedback(session_id=goal.session_id, iteration=1,
                                               total_iterations=1, score=0.25)
        handle.publish_feedback(feedback)
        self._feedback_pub.publish(feedback.progress)
        if handle.is_cancel_requested:
            handle.canceled()
            outcome.error_code, outcome.message = GenerationResult.ERROR_CANCELLED, 'cancelled'
        elif 'fail' in goal.prompt:
            handle.abort()
            outcome.error_code = GenerationResult.ERROR_MODEL_UNAVAILABLE
            outcome.message = 'stand-in failure requested by the prompt'
        else:
            drawing = self.make_drawing(goal)
            drawing.session_id = goal.session_id
            outcome.drawing = drawing
            self._drawing_pub.publish(drawing)
            handle.succeed()
        self._result_pub.publish(outcome)
        return result

    def make_drawing(self, goal):
        drawing = Drawing(prompt=goal.prompt, canvas_width=224, canvas_height=224,
                          renderer='stand-in')
        for i in range(3):
            stroke = Stroke(control_points=[10.0 + 50 * i, 10.0, 60.0, 40.0, 90.0, 80.0,
                                            120.0, 200.0], width=2.0)
            stroke.color.a = 1.0
            drawing.strokes.append(stroke)
        return drawing


def main(args=None):
    return run_node(StandInDrawingServer, args)


if __name__ == '__main__':
    sys.exit(main())
