"""A peer process for the interface test: echoes Transcripts and serves DrawStrokes.

It runs in its own process so that the test proves our types cross a real DDS boundary.
The action server executes goals in a worker thread (dream_plotter's offloaded execution):
a Python action server whose execute callback blocks its single-threaded executor would never
see cancel requests while executing.
"""
import sys
import time

import rclpy
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from dream_interfaces.action import DrawStrokes
from dream_interfaces.msg import PlotResult, Transcript
from dream_plotter.offloaded_execution import offloaded


class InterfacePeer(Node):
    def __init__(self):
        super().__init__('interface_peer')
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._echo = self.create_publisher(Transcript, 'peer/transcript_echo', qos)
        self.create_subscription(Transcript, 'peer/transcript', self._echo.publish, qos)
        self._server = ActionServer(
            self, DrawStrokes, 'peer/draw_strokes', offloaded(self, self._execute),
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda handle: CancelResponse.ACCEPT)

    def _execute(self, handle):
        total = len(handle.request.drawing.strokes)
        feedback = DrawStrokes.Feedback()
        result = DrawStrokes.Result()
        for done in range(handle.request.start_stroke, total):
            if handle.is_cancel_requested:
                handle.canceled()
                result.outcome.error_code = PlotResult.ERROR_CANCELLED
                result.outcome.strokes_done = done
                result.outcome.next_stroke = done
                return result
            feedback.progress.session_id = handle.request.session_id
            feedback.progress.strokes_done = done
            feedback.progress.strokes_total = total
            feedback.progress.progress = done / total
            handle.publish_feedback(feedback)
            time.sleep(0.1)
        handle.succeed()
        result.outcome.strokes_done = total
        result.outcome.next_stroke = total
        return result


def main():
    rclpy.init()
    node = InterfacePeer()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    print('peer ready', flush=True)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
