"""A GenerateDrawing server that answers with the drawing recorded in a bag, without CLIP."""
import sys

from rcl_interfaces.msg import ParameterDescriptor

from dream_session.stand_in_drawing_server import StandInDrawingServer
from dream_runtime.node_process import run_node


class RecordedDrawingServer(StandInDrawingServer):
    """Answers every goal with the drawing recorded in a bag (``dream replay --from-stage
    plot``: re-plot an old drawing through the live session manager and plotter)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        from dream_session.bag_replay import read_first
        self.declare_parameter('bag', '', ParameterDescriptor(
            description='the session bag (folder or .mcap) whose drawing every goal gets'))
        self._drawing = read_first(self.get_parameter('bag').value, 'drawing')
        if self._drawing is None:
            raise ValueError('the bag holds no drawing to replay')

    def make_drawing(self, goal):
        return self._drawing


def main(args=None):
    return run_node(RecordedDrawingServer, args)


if __name__ == '__main__':
    sys.exit(main())
