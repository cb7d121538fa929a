"""Lifecycle (managed) behaviour shared by the hardware driver nodes.

configure opens and checks the port (a failure leaves the node unconfigured, with the
reason in the log); activate lets goals run (before that they end with ERROR_NOT_ACTIVE);
deactivate cancels a running goal and lifts the pen; cleanup and shutdown close the port
with the pen up. The action server exists in every state, so clients always find it.
"""
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from dream_plotter import node_parameters as params
from dream_plotter.action_server import DrawStrokesServer
from dream_plotter.outcome import PlotError


class LifecycleDriverNode(LifecycleNode):
    """Subclasses set PARAMETERS (which may redeclare a COMMON one) and implement
    make_driver() from their parameters."""
    PARAMETERS = {}

    def __init__(self, name, **kwargs):
        super().__init__(name, **kwargs)
        params.declare(self, {**params.COMMON, **self.PARAMETERS})
        self.core = None
        self.active = False
        self.server = DrawStrokesServer(
            self, lambda: self.core,
            lambda: (self.paper_defaults(), params.plan_settings(self)),
            is_active=lambda: self.active and self.core is not None,
            feedback_rate=lambda: params.value(self, 'feedback_rate_hz'))

    def paper_defaults(self):
        return params.paper_defaults(self)

    def make_driver(self):
        raise NotImplementedError

    def on_configure(self, state):
        try:
            driver = self.make_driver()
            driver.connect()
        except (PlotError, ValueError) as exc:
            self.get_logger().error(f'configure failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        self.core = driver
        self.get_logger().info(f'{driver.name} driver connected')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        self.active = True
        return super().on_activate(state)

    def on_deactivate(self, state):
        self.active = False
        self._stop_and_lift()
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        self._close()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        self.active = False
        self._stop_and_lift()
        self._close()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state):
        self.active = False
        self._close()
        return TransitionCallbackReturn.SUCCESS

    def _stop_and_lift(self):
        if not self.server.stop_current(timeout=30.0):
            self.get_logger().error('the running goal did not stop within 30 s')
        if self.core is not None:
            try:
                self.core.lift_pen()
            except PlotError as exc:
                self.get_logger().error(f'could not lift the pen: {exc}')

    def _close(self):
        if self.core is not None:
            try:
                self.core.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail the transition
                self.get_logger().error(f'while closing the port: {exc}')
        self.core = None

    def wind_down(self):
        return self.server.wind_down()

    def shutdown_driver(self):
        self.active = False
        self._stop_and_lift()
        self._close()
