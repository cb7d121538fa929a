"""All the machine's nodes in one process, each spun by an executor of its own.

This replaces ``ros2 launch`` where no ROS 2 distribution is installed (Python nodes cannot be
loaded into the C++ component container). Each node gets its own SingleThreadedExecutor and
thread, as it would get its own process under launch; action servers that must see cancels
while they execute run their goals in worker threads (``offloaded_execution``). rclpy's
multi-threaded executor is not used: it delivers streamed messages far slower (measured: 125
audio chunks took 7-19 s through it, 0.14 s through per-node single-threaded executors), and
under use_sim_time it hogs the GIL (ros2/rclpy#1452).
Lifecycle drivers are configured and activated here, as launch's ``autostart`` would.
"""
import contextlib
import signal
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from dream_session.system_config import ConfigError, SetText


def _parameters(values, use_sim_time):
    params = [Parameter(name, value=value) for name, value in values.items()
              if value is not None]
    params.append(Parameter('use_sim_time', value=bool(use_sim_time)))
    return params


def _declared_type(entry):
    """The type rclpy gives the parameter of a ``declare_parameters`` entry (name, value or
    type, descriptor), as rclpy infers it; None for a dynamically typed one."""
    from rcl_interfaces.msg import ParameterValue
    value = entry[1] if len(entry) > 1 else None
    if len(entry) < 2 or (len(entry) > 2 and getattr(entry[2], 'dynamic_typing', False)):
        return None
    if isinstance(value, Parameter.Type):
        return value
    if isinstance(value, ParameterValue):
        return Parameter.Type(value.type)
    return Parameter.Type.from_parameter_value(value)


def _scalar(text, kind):
    """``text`` as a bool, integer or double (YAML's reading; an integer is a double too)."""
    import yaml
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = None
    if kind == Parameter.Type.BOOL and isinstance(value, bool):
        return value
    if not isinstance(value, bool) and isinstance(value, int) and kind in (
            Parameter.Type.INTEGER, Parameter.Type.DOUBLE):
        return float(value) if kind == Parameter.Type.DOUBLE else value
    if kind == Parameter.Type.DOUBLE:
        if isinstance(value, float):
            return value
        try:
            return float(text)         # 1e3, inf, nan: not floats to YAML 1.1
        except ValueError:
            pass
    raise ValueError('true or false' if kind == Parameter.Type.BOOL else '')


ELEMENT_TYPES = {Parameter.Type.BOOL_ARRAY: Parameter.Type.BOOL,
                 Parameter.Type.INTEGER_ARRAY: Parameter.Type.INTEGER,
                 Parameter.Type.DOUBLE_ARRAY: Parameter.Type.DOUBLE,
                 Parameter.Type.STRING_ARRAY: Parameter.Type.STRING}


def from_text(text, kind):
    """A ``--set`` value (text as typed) as a value of the declared type ``kind``: a string
    keeps the text, a double takes an integer, a list is [a, b] with each item read as the
    element type; ValueError if it is not one. None (dynamic typing): read as YAML."""
    import yaml
    if kind is None:
        return yaml.safe_load(text) if text else ''
    if kind == Parameter.Type.STRING:
        return str(text)
    if kind in ELEMENT_TYPES:
        try:
            items = yaml.load(text, Loader=yaml.BaseLoader)    # every item left as text
        except yaml.YAMLError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError('write a list as [a, b, ...]')
        return [from_text(item, ELEMENT_TYPES[kind]) for item in items]
    if kind in (Parameter.Type.BOOL, Parameter.Type.INTEGER, Parameter.Type.DOUBLE):
        return _scalar(text, kind)
    return yaml.safe_load(text)


def _type_name(kind):
    return kind.name.lower().replace('_array', '[]')


def _build(cls, spec, **kwargs):
    """``cls(**kwargs)``, its ``--set`` values (SetText) converted to the declared types as
    the node declares them: only then are the types known, and rclpy refuses an override
    of another type (a string 'on' for a bool, an integer for a double)."""
    texts = {name: value for name, value in spec.parameters.items()
             if isinstance(value, SetText)}
    node = cls.__new__(cls)
    if texts:
        declare = node.declare_parameters

        def declare_parameters(namespace, parameters, ignore_override=False):
            for entry in parameters:
                name = f'{namespace}.{entry[0]}' if namespace else entry[0]
                if name not in texts or ignore_override:
                    continue
                kind = _declared_type(entry)
                try:
                    value = from_text(texts[name], kind)
                except ValueError as exc:
                    hint = f' ({exc})' if str(exc) else ''
                    raise ConfigError(
                        f'{spec.name}: cannot set {name} to {texts[name]!r}: the parameter '
                        f'is of type {_type_name(kind)}{hint}') from None
                node._parameter_overrides[name] = Parameter(name, value=value)
            return declare(namespace, parameters, ignore_override)
        node.declare_parameters = declare_parameters
    try:
        node.__init__(**kwargs)
    except BaseException:
        # A node refused mid-build holds its name's rosout publisher until destroyed: built
        # again (dream params, a retry) it would warn 'Publisher already registered'.
        with contextlib.suppress(Exception):
            node.destroy_node()
        raise
    return node


def build_node(spec, context, *, use_sim_time=False, node_class=None, **kwargs):
    """The node of ``spec`` (or of ``node_class``, a subclass of its class), as
    ``ros2 launch`` makes it: the config's parameters as overrides, named by its YAML key.
    ConfigError naming the node for a parameter it refuses (its ``parameter``: the name, or ''
    if rclpy's text does not say) or a class that does not take rclpy's keyword arguments;
    ``kwargs`` go to the class (e.g. acquire_resources)."""
    from rclpy.exceptions import ParameterException
    cls = node_class or spec.load_class()
    try:
        return _build(cls, spec, context=context, parameter_overrides=_parameters(
            spec.parameters, use_sim_time), cli_args=['--ros-args', '-r', f'__node:={spec.name}'],
            **kwargs)
    except ParameterException as exc:
        error = ConfigError(f'{spec.name}: {exc}')
        # rclpy's text ends with the parameter's name: the one to leave out to find the next
        named = str(exc).rpartition(': ')[2]
        error.parameter = named if named in spec.parameters else ''
        raise error from None
    except TypeError as exc:
        if 'unexpected keyword argument' not in str(exc):
            raise
        raise ConfigError(
            f'{spec.name}: {spec.class_path} must take keyword arguments and pass them on '
            f'to rclpy Node (def __init__(self, **kwargs): super().__init__(NAME, '
            f'**kwargs)): the runner gives it context, parameter_overrides and cli_args '
            f'({exc})') from None


class SingleProcessRunner:
    def __init__(self, specs, *, use_sim_time=False, ros_args=(), log=print):
        self.specs = specs
        self.use_sim_time = use_sim_time
        self.ros_args = list(ros_args)   # global ``--ros-args`` of every node, e.g. a namespace
        self.log = log
        self.nodes = {}
        self._stop = threading.Event()          # ends spinning
        self._interrupted = threading.Event()   # SIGINT/SIGTERM: ends wait(), not spinning
        self._context = None
        self._executors = []
        self._spin_threads = []

    @property
    def context(self):
        return self._context

    @property
    def interrupted(self):
        """Whether SIGINT or SIGTERM ended :meth:`wait`."""
        return self._interrupted.is_set()

    def start(self):
        self._context = rclpy.Context()
        rclpy.init(args=['--ros-args', *self.ros_args] if self.ros_args else None,
                   context=self._context)
        try:
            for spec in self.specs:
                node = self._make_node(spec)
                self.nodes[spec.name] = node
                self.add_node(node)
                if spec.lifecycle:
                    self._bring_up(spec.name, node)
        except BaseException:
            try:
                self.stop()
            except Exception as exc:  # the first error is the one to tell
                self.log(f'while stopping after a failed start: {exc}')
            raise
        return self

    def _make_node(self, spec):
        """The node of ``spec``, named by its YAML key as ``ros2 launch`` names it; ConfigError
        naming the node for a bad or unknown parameter (rclpy would ignore an unknown one: a
        typo in --set must not pass unnoticed)."""
        node = build_node(spec, self._context, use_sim_time=self.use_sim_time)
        unknown = sorted(name for name in spec.parameters if not node.has_parameter(name))
        if unknown:
            known = ', '.join(sorted(node.get_parameters_by_prefix('')))
            node.destroy_node()
            raise ConfigError(f'{spec.name} has no parameter {", ".join(map(repr, unknown))} '
                              f'(its parameters: {known})')
        return node

    def add_node(self, node):
        """Spin ``node`` (a runner's or a tool's own) on a new executor in a new thread."""
        executor = SingleThreadedExecutor(context=self._context)
        executor.add_node(node)
        thread = threading.Thread(target=self._spin, args=(executor,), daemon=True,
                                  name=f'spin-{node.get_name()}')
        self._executors.append(executor)
        self._spin_threads.append(thread)
        thread.start()
        return node

    def remove_node(self, node):
        """Stop spinning ``node`` and destroy it (a driver swapped out, a server taken down)."""
        for executor in self._executors:
            if node in executor.get_nodes():
                executor.remove_node(node)
        node.destroy_node()

    def _bring_up(self, name, node):
        from rclpy.lifecycle import TransitionCallbackReturn
        for transition in (node.trigger_configure, node.trigger_activate):
            if transition() != TransitionCallbackReturn.SUCCESS:
                raise RuntimeError(f'{name}: lifecycle transition {transition.__name__} failed')

    def _spin(self, executor):
        while not self._stop.is_set() and self._context.ok():
            executor.spin_once(timeout_sec=0.1)

    def catch_signals(self):
        """From now on SIGINT and SIGTERM only mark the runner interrupted (see
        :attr:`interrupted`), for the caller to wind down: rclpy's own handlers, installed by
        :meth:`start`, would take them without a word while a tool works between start and
        :meth:`wait`."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._interrupted.set())

    def wait(self, predicate=None, timeout=None, install_signals=True):
        """Block until ``predicate()`` holds, SIGINT/SIGTERM, or the timeout; True if met."""
        if install_signals:
            self.catch_signals()
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
        if manager is not None and self._spin_threads:
            manager.shutdown_sessions()
            deadline = time.monotonic() + grace
            while manager.goals_in_flight() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)                 # the last status messages reach the recorder
        self._stop.set()
        deadline = time.monotonic() + grace + 5
        for thread in self._spin_threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for name, node in reversed(list(self.nodes.items())):
            try:
                node.destroy_node()
            except Exception as exc:  # keep closing the others (the recorder above all)
                self.log(f'{name}: error while stopping: {exc}')
        for executor in self._executors:
            executor.shutdown(timeout_sec=1)
        if self._context is not None:
            rclpy.try_shutdown(context=self._context)
