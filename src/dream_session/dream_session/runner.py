"""All the machine's nodes in one process, on one multi-threaded executor.

This replaces ``ros2 launch`` where no ROS 2 distribution is installed (Python nodes cannot be
loaded into the C++ component container; adding them to one executor is the Python way).
Lifecycle drivers are configured and activated here, as launch's ``autostart`` would.
"""
import signal
import threading
import time

import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter


def _parameters(values, use_sim_time):
    params = [Parameter(name, value=value) for name, value in values.items()
              if value is not None]
    params.append(Parameter('use_sim_time', value=bool(use_sim_time)))
    return params


class SingleProcessRunner:
    def __init__(self, specs, *, use_sim_time=False, threads=8, log=print):
        self.specs = specs
        self.use_sim_time = use_sim_time
        self.threads = threads
        self.log = log
        self.nodes = {}
        self._stop = threading.Event()          # ends spinning
        self._interrupted = threading.Event()   # SIGINT/SIGTERM: ends wait(), not spinning
        self._context = None
        self._executor = None
        self._spin_thread = None

    def start(self):
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self._executor = MultiThreadedExecutor(num_threads=self.threads, context=self._context)
        try:
            for spec in self.specs:
                cls = spec.load_class()
                node = cls(context=self._context, parameter_overrides=_parameters(
                    spec.parameters, self.use_sim_time))
                self.nodes[spec.name] = node
                self._executor.add_node(node)
                if spec.lifecycle:
                    self._bring_up(spec.name, node)
        except BaseException:
            self.stop()
            raise
        self._spin_thread = threading.Thread(target=self._spin, daemon=True)
        self._spin_thread.start()
        return self

    def _bring_up(self, name, node):
        from rclpy.lifecycle import TransitionCallbackReturn
        for transition in (node.trigger_configure, node.trigger_activate):
            if transition() != TransitionCallbackReturn.SUCCESS:
                raise RuntimeError(f'{name}: lifecycle transition {transition.__name__} failed')

    def _spin(self):
        while not self._stop.is_set() and self._context.ok():
            self._executor.spin_once(timeout_sec=0.1)

    def wait(self, predicate=None, timeout=None, install_signals=True):
        """Block until ``predicate()`` holds, SIGINT/SIGTERM, or the timeout; True if met."""
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self._interrupted.set())
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._interrupted.is_set():
            if predicate is not None and predicate():
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return False

    def stop(self, grace=10.0):
        """Cancel live sessions (the plotter lifts its pen), close recordings, shut down.

        Spinning goes on until the cancelled goals have answered (at most ``grace`` s): a
        server thread still executing would otherwise keep the process alive.
        """
        manager = self.nodes.get('session_manager')
        if manager is not None and self._spin_thread is not None:
            manager.shutdown_sessions()
            deadline = time.monotonic() + grace
            while manager.goals_in_flight() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)                 # the last status messages reach the recorder
        self._stop.set()
        if self._spin_thread is not None:
            self._spin_thread.join(timeout=grace + 5)
        for name, node in reversed(list(self.nodes.items())):
            try:
                node.destroy_node()
            except Exception as exc:  # keep closing the others (the recorder above all)
                self.log(f'{name}: error while stopping: {exc}')
        if self._executor is not None:
            self._executor.shutdown(timeout_sec=1)
        if self._context is not None:
            rclpy.try_shutdown(context=self._context)
