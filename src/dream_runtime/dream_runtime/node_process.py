"""A node's console script: spin until SIGINT or SIGTERM, wind down, exit.

rclpy's own signal handlers shut the context down inside the signal: a goal being executed
can then send neither its feedback nor its result (RCLError tracebacks), the client's session
waits for an answer that never comes, and a last status cannot be published. Here a signal
only ends the spinning; then the node's ``wind_down()``, if it has one, stops what it is doing
(a drawing, a plot, the live sessions) and returns a predicate that holds once that has been
answered, and spinning goes on until it holds (at most ``grace`` s: ``ros2 launch`` sends
SIGTERM 5 s after SIGINT) before the node is destroyed. A second signal ends it at once.
"""
import signal
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

GRACE = 4.0       # s given to wind down
LINGER = 0.3      # s of spinning after: a reliable reply or status still on its way goes out
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stop:
    """SIGINT/SIGTERM: the first asks the loop to end; the second interrupts at once."""

    def __init__(self):
        self.signals = []

    def __call__(self, signum, frame):
        self.signals.append(signum)
        if len(self.signals) > 1:
            raise KeyboardInterrupt

    def __bool__(self):
        return bool(self.signals)


def run_node(make_node, args=None, *, finish=None, grace=GRACE):
    """Build ``make_node()``, spin it until a signal, wind it down, destroy it; exit status.

    ``finish(node)`` runs after the wind-down, with the context still valid (a driver lifts
    its pen and closes its port there)."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    node = None
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        # a bounded wait: the Python-level handler runs only between two waits
        while not stop and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
        _wind_down(node, executor, grace)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        try:
            if node is not None:
                if finish is not None:
                    _quietly(finish, node)
                node.destroy_node()
        finally:
            rclpy.try_shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 0


def _wind_down(node, executor, grace):
    wind_down = getattr(node, 'wind_down', None)
    if wind_down is None or not rclpy.ok():
        return
    done = wind_down()
    deadline = time.monotonic() + grace
    while rclpy.ok() and time.monotonic() < deadline and not (done is None or done()):
        executor.spin_once(timeout_sec=0.05)
    if done is not None and not done():
        node.get_logger().warning(f'still busy after {grace:g} s of winding down: stopping')
    deadline = time.monotonic() + LINGER
    while rclpy.ok() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)


def _quietly(step, node):
    try:
        step(node)
    except Exception as exc:  # noqa: BLE001 - best effort on the way out; destroy still runs
        print(f'{node.get_name()}: while stopping: {type(exc).__name__}: {exc}',
              file=sys.stderr)
