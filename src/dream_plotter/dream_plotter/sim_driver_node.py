"""``sim_plotter`` node: the DrawStrokes action served by the simulated plotter.

Always available (no hardware), so it is the default driver of a session. What the pen drew
is written as PNG and SVG into ``output_dir`` after every goal; a goal that resumes a
session (same session_id, start_stroke > 0) continues on the same sheet.

Time: feedback and results are stamped from the node's clock (/clock under use_sim_time),
but the pen's motion is a simulation of a device: it runs on the wall clock, ``time_scale``
simulated seconds per wall second, whatever /clock does (a paused /clock does not stop it).
Durations in the results are the device's simulated seconds.
"""
import pathlib
import re
import sys

from rclpy.node import Node

from dream_plotter import node_parameters as params
from dream_plotter.action_server import DrawStrokesServer
from dream_runtime.node_process import run_node
from dream_plotter.sim_driver import SimDriver

SIM_PARAMETERS = {
    'time_scale': (1.0, 'simulated seconds per wall-clock second (0 = no waiting at all)',
                   (0.0, 100000.0), False),
    'output_dir': ('', 'where the drawn PNG and SVG go ("" = not written)', None, False),
    'png_px_per_mm': (4.0, 'resolution of the PNG', (0.5, 40.0), False),
}


class SimDriverNode(Node):
    def __init__(self, **kwargs):
        super().__init__('sim_plotter', **kwargs)
        params.declare(self, params.COMMON)
        params.declare(self, SIM_PARAMETERS)
        self.core = SimDriver(time_scale=params.value(self, 'time_scale'))
        self._sheet_session = None
        self.last_files = []
        self.server = DrawStrokesServer(
            self, lambda: self.core, self._settings,
            feedback_rate=lambda: params.value(self, 'feedback_rate_hz'),
            before_goal=self._before_goal, after_goal=self._after_goal)
        self.get_logger().info('sim plotter ready on draw_strokes')

    def _settings(self):
        self.core.time_scale = float(params.value(self, 'time_scale'))
        return params.paper_defaults(self), params.plan_settings(self)

    def _before_goal(self, request, plan):
        same = request.session_id and request.session_id == self._sheet_session
        if not (same and request.start_stroke > 0):
            layout = plan.layout
            self.core.new_sheet(layout.width, layout.height, layout.pen_width)
        self._sheet_session = request.session_id

    def _after_goal(self, request, outcome):
        out = params.value(self, 'output_dir')
        if not out:
            return
        name = re.sub(r'[^A-Za-z0-9_.-]', '_', request.session_id) or 'sim'
        base = pathlib.Path(out).expanduser() / name
        try:
            png = self.core.sheet.write_png(base.with_suffix('.png'),
                                            params.value(self, 'png_px_per_mm'))
            svg = self.core.sheet.write_svg(base.with_suffix('.svg'))
            self.last_files = [str(png), str(svg)]
        except OSError as exc:
            self.get_logger().error(f'cannot write the simulated drawing to {out}: {exc}')

    def wind_down(self):
        return self.server.wind_down()

    def shutdown_driver(self):
        self.server.stop_current(timeout=5.0)


def main(args=None):
    return run_node(SimDriverNode, args, finish=SimDriverNode.shutdown_driver)


if __name__ == '__main__':
    sys.exit(main())
