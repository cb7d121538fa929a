"""``grbl_plotter`` lifecycle node: the DrawStrokes action on a GRBL 1.1 pen plotter."""
import sys

from dream_plotter import node_parameters as params
from dream_plotter.grbl_driver import GrblDriver, GrblSettings
from dream_plotter.lifecycle_driver import LifecycleDriverNode
from dream_runtime.node_process import run_node
from dream_plotter.serial_ports import DEFAULT_ALLOWED_PORTS

GRBL_PARAMETERS = {
    'port': ('/dev/ttyUSB0', 'serial port or pyserial URL (must match allowed_ports)', None,
             True),
    'allowed_ports': (list(DEFAULT_ALLOWED_PORTS), 'shell patterns of the ports this node '
                      'may open', None, True),
    'baudrate': (115200, 'serial speed', (1200, 2000000), True),
    'pen_mode': ('servo', 'servo (M3 S<value>) or z (Z axis)', None, False),
    'servo_up': (0.0, 'spindle S value with the pen up', (0.0, 100000.0), False),
    'servo_down': (1000.0, 'spindle S value with the pen down', (0.0, 100000.0), False),
    'z_up': (2.0, 'Z with the pen up, mm', (-100.0, 100.0), False),
    'z_down': (0.0, 'Z with the pen down, mm', (-100.0, 100.0), False),
    'z_speed': (10.0, 'Z speed, mm/s', (0.1, 1000.0), False),
    'origin_x': (0.0, 'machine x of the paper top-left corner, mm', (-5000.0, 5000.0), False),
    'origin_y': (0.0, 'machine y of the paper top-left corner, mm', (-5000.0, 5000.0), False),
    'invert_y': (False, 'machine y grows opposite to the paper y', None, False),
    'banner_timeout': (2.5, 'wait for the GRBL banner, s', (0.05, 60.0), False),
    'reply_timeout': (30.0, 'longest wait for a reply, s', (0.5, 600.0), False),
    'reconnect_timeout': (3.0, 'time spent reopening a lost port to lift the pen, s',
                          (0.0, 60.0), False),
}


class GrblDriverNode(LifecycleDriverNode):
    PARAMETERS = GRBL_PARAMETERS

    def __init__(self, **kwargs):
        super().__init__('grbl_plotter', **kwargs)

    def make_driver(self):
        v = lambda name: params.value(self, name)  # noqa: E731
        return GrblDriver(GrblSettings(
            port=v('port'), baudrate=v('baudrate'), pen_mode=v('pen_mode'),
            servo_up=v('servo_up'), servo_down=v('servo_down'), z_up=v('z_up'),
            z_down=v('z_down'), z_speed=v('z_speed'), origin_x=v('origin_x'),
            origin_y=v('origin_y'), invert_y=v('invert_y'),
            banner_timeout=v('banner_timeout'), reply_timeout=v('reply_timeout'),
            reconnect_timeout=v('reconnect_timeout'),
            allowed_ports=tuple(v('allowed_ports'))))


def main(args=None):
    return run_node(GrblDriverNode, args, finish=GrblDriverNode.shutdown_driver)


if __name__ == '__main__':
    sys.exit(main())
