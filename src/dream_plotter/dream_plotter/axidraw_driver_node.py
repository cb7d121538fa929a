"""``axidraw_plotter`` lifecycle node: the DrawStrokes action on an AxiDraw (EiBotBoard)."""
import sys

from dream_plotter import node_parameters as params
from dream_plotter.axidraw_driver import (AXIDRAW_MODELS, axidraw_travel, AxiDrawDriver,
                                          AxiDrawSettings)
from dream_plotter.lifecycle_driver import LifecycleDriverNode
from dream_runtime.node_process import run_node
from dream_plotter.serial_ports import DEFAULT_ALLOWED_PORTS

AXIDRAW_PARAMETERS = {
    'port': ('auto', '"auto" (find USB 04D8:FD92) or a serial port / pyserial URL', None,
             True),
    'allowed_ports': (list(DEFAULT_ALLOWED_PORTS), 'shell patterns of the ports this node '
                      'may open', None, True),
    'model': ('V3', f'AxiDraw model, for its pen travel: {", ".join(AXIDRAW_MODELS)} '
              '(V3 = SE/A4 300x218 mm, A3 = 430x297, XLX = 595x218, MiniKit = 160x101.6; '
              'none = not limited)', None, True),
    'machine_width_mm': (0.0, 'machine travel in x, mm (0 = the model\'s)', (0.0, 5000.0),
                         True),
    'machine_height_mm': (0.0, 'machine travel in y, mm (0 = the model\'s)', (0.0, 5000.0),
                          True),
    'steps_per_mm': (80.0, 'motor steps per mm (80 at 1/16 microstepping)', (1.0, 10000.0),
                     False),
    'pen_up_position': (16000, 'servo position with the pen up (SC,4)', (1, 65535), False),
    'pen_down_position': (12000, 'servo position with the pen down (SC,5)', (1, 65535),
                          False),
    'chunk_s': (0.03, 'duration of one short move that follows the speed profile, s',
                (0.005, 1.0), False),
    'reply_timeout': (5.0, 'longest wait for a reply, s', (0.1, 120.0), False),
    'reconnect_timeout': (3.0, 'time spent reopening a lost port to lift the pen, s',
                          (0.0, 60.0), False),
}


class AxiDrawDriverNode(LifecycleDriverNode):
    PARAMETERS = AXIDRAW_PARAMETERS

    def __init__(self, **kwargs):
        super().__init__('axidraw_plotter', **kwargs)

    def paper_defaults(self):
        """A travel left at 0 is the model's: the carriage has end stops, not unlimited
        travel."""
        defaults = params.paper_defaults(self)
        width, height = axidraw_travel(params.value(self, 'model'))
        defaults.machine_width_mm = defaults.machine_width_mm or width
        defaults.machine_height_mm = defaults.machine_height_mm or height
        return defaults

    def make_driver(self):
        v = lambda name: params.value(self, name)  # noqa: E731
        return AxiDrawDriver(AxiDrawSettings(
            port=v('port'), steps_per_mm=v('steps_per_mm'),
            pen_up_position=v('pen_up_position'), pen_down_position=v('pen_down_position'),
            chunk_s=v('chunk_s'), reply_timeout=v('reply_timeout'),
            reconnect_timeout=v('reconnect_timeout'),
            allowed_ports=tuple(v('allowed_ports'))))


def main(args=None):
    return run_node(AxiDrawDriverNode, args, finish=AxiDrawDriverNode.shutdown_driver)


if __name__ == '__main__':
    sys.exit(main())
