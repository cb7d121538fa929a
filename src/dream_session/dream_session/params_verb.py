"""``dream params [NODE...]``: every parameter the system's nodes declare, and a check of the
configuration against them.

Each node of the system configuration (launch/dreaming_machine.yaml, or ``--config FILE``)
is built as ``dream run`` builds it (``runner.build_node``: a private rclpy Context, the
config's parameters as parameter overrides, the node named by its YAML key) but never spun,
and destroyed once its parameters are read: their type, value, default, range, choices,
read-only flag and description (the ParameterDescriptor). Building a node must not take its
resources: a node class that takes ``acquire_resources`` is built with it false (the capture
node opens no microphone or file, the VAD and speech nodes load no model, clipdraw loads no
CLIP); the drivers open their port only when configured, which never happens here. A node
that cannot be built is reported and the others are still listed (exit status 1).

A parameter the config sets and the node does not declare is an error (exit status 1) with a
did-you-mean: rclpy ignores such a parameter under ``ros2 launch`` (``dream run`` refuses it),
so this is how a launch user checks a YAML file; so is a value the node refuses (type, range,
choices). ``--check`` prints only the problems, and checks every driver of the config.
"""
import contextlib
import difflib
import sys

# Declared by rclpy itself on every node, not by ours: left out of the listing.
BUILTIN_PARAMETERS = ('use_sim_time', 'start_type_description_service')

TYPE_NAMES = {0: 'any', 1: 'bool', 2: 'integer', 3: 'double', 4: 'string', 5: 'byte[]',
              6: 'bool[]', 7: 'integer[]', 8: 'double[]', 9: 'string[]'}


class NodeParameter:
    """One declared parameter as the listing shows it."""

    def __init__(self, name, type_name, value, default, descriptor, choices=(), in_config=False):
        self.name = name
        self.type_name = type_name
        self.value = value
        self.default = default          # as declared (before the overrides)
        self.descriptor = descriptor
        self.choices = tuple(choices)
        self.in_config = in_config

    @property
    def description(self):
        return ' '.join(self.descriptor.description.split())

    @property
    def read_only(self):
        return bool(self.descriptor.read_only)

    @property
    def allowed(self):
        """'0.0 .. 100.0' (a range), 'cpu | cuda' (choices), or ''."""
        parts = []
        floats = list(self.descriptor.floating_point_range)
        for r in list(self.descriptor.integer_range) + floats:
            kind = float if r in floats else int      # a double's range given as 0, 600
            text = f'{format_value(kind(r.from_value))} .. {format_value(kind(r.to_value))}'
            if r.step and not (isinstance(r.step, int) and r.step == 1):
                text += f' step {format_value(r.step)}'
            parts.append(text)
        if self.choices:
            parts.append(' | '.join(map(str, self.choices)))
        if self.descriptor.additional_constraints:
            parts.append(' '.join(self.descriptor.additional_constraints.split()))
        return '; '.join(parts)


class NodeReport:
    def __init__(self, spec):
        self.spec = spec
        self.parameters = []           # NodeParameter, in declaration order
        self.error = ''                # the node could not be built
        self.problems = []             # lines: the config does not fit the node

    @property
    def failed(self):
        return bool(self.error or self.problems)


def format_value(value):
    """A value as it would be written in the YAML file (flow style)."""
    import yaml
    if isinstance(value, tuple):
        value = list(value)
    elif hasattr(value, 'tolist'):          # array.array, numpy arrays of array parameters
        value = value.tolist()
    text = yaml.safe_dump(value, default_flow_style=True, width=float('inf'),
                          allow_unicode=True).strip()
    return text[:-4].rstrip() if text.endswith('\n...') else text     # a scalar's end mark


# -- building a node without its resources ---------------------------------------------------

def _takes_resources_flag(cls):
    """Whether ``cls`` takes ``acquire_resources`` (our nodes that open a device or load a
    model at start do; a node of yours may too, to be listed without them)."""
    import inspect
    try:
        return 'acquire_resources' in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _probe_class(cls):
    """A subclass of ``cls`` that records each parameter's declared default; and the extra
    constructor kwargs that build it without its resources."""
    def declare_parameters(self, namespace, parameters, ignore_override=False):
        defaults = self.__dict__.setdefault('_dream_params_defaults', {})
        for entry in parameters:
            name = f'{namespace}.{entry[0]}' if namespace else entry[0]
            defaults.setdefault(name, entry[1] if len(entry) > 1 else None)
        return cls.declare_parameters(self, namespace, parameters, ignore_override)
    attrs = {'__module__': cls.__module__, 'declare_parameters': declare_parameters}
    probe = type(cls.__name__, (cls,), attrs)
    return probe, ({'acquire_resources': False} if _takes_resources_flag(cls) else {})


def _python_default(value):
    from rcl_interfaces.msg import ParameterValue
    from rclpy.parameter import Parameter, parameter_value_to_python
    if isinstance(value, ParameterValue):
        return parameter_value_to_python(value)
    if isinstance(value, Parameter.Type):
        return None                     # declared with a type and no default
    return value


def _choices(cls, name):
    """The words a text parameter takes, from a module-level CHOICES {name: callable or
    words} beside the node class (as clipdraw_node has), or ()."""
    module = sys.modules.get(cls.__module__)
    table = getattr(module, 'CHOICES', None)
    if not isinstance(table, dict) or name not in table:
        return ()
    try:
        words = table[name]() if callable(table[name]) else table[name]
        return tuple(words)
    except Exception:  # noqa: BLE001 - choices are a courtesy; the description says more
        return ()


@contextlib.contextmanager
def _quiet_logger(name):
    """The node's INFO chatter (ready, loaded...) off while it is built; errors still shown."""
    import rclpy.logging
    from rclpy.logging import LoggingSeverity
    try:
        before = rclpy.logging.get_logger_level(name)
    except Exception:  # noqa: BLE001
        before = LoggingSeverity.UNSET
    rclpy.logging.set_logger_level(name, LoggingSeverity.WARN)
    try:
        yield
    finally:
        rclpy.logging.set_logger_level(name, before)


def did_you_mean(name, known):
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f' (did you mean {" or ".join(map(repr, close))}?)' if close else ''


def _build_for_listing(spec, context, node_class, kwargs, refused):
    """The node of ``spec`` built as :func:`build_node` does, with each value it refuses left
    out in turn (rclpy stops at the first) and its error appended to ``refused``; and the
    spec it was built from."""
    import dataclasses

    from dream_session.runner import build_node
    from dream_session.system_config import ConfigError
    while True:
        try:
            return build_node(spec, context, node_class=node_class, **kwargs), spec
        except ConfigError as exc:
            name = getattr(exc, 'parameter', '')
            if not name:
                raise
            refused.append(str(exc))
            spec = dataclasses.replace(spec, parameters={
                k: v for k, v in spec.parameters.items() if k != name})


def describe_node(spec, context):
    """NodeReport of ``spec``: its node built in ``context``, read, destroyed."""
    from dream_session.system_config import ConfigError

    report = NodeReport(spec)
    try:
        cls = spec.load_class()
        probe, kwargs = _probe_class(cls)
        with _quiet_logger(spec.name):
            node, built = _build_for_listing(spec, context, probe, kwargs, report.problems)
    except ConfigError as exc:
        text = str(exc)
        report.error = text[len(spec.name) + 2:] if text.startswith(spec.name + ': ') else text
        return report
    except Exception as exc:  # noqa: BLE001 - a node that cannot be built; list the others
        report.error = f'cannot be built: {type(exc).__name__}: {exc}'
        return report
    try:
        defaults = node.__dict__.get('_dream_params_defaults', {})
        names = [n for n in defaults if n not in BUILTIN_PARAMETERS and node.has_parameter(n)]
        names += sorted(n for n in node.get_parameters_by_prefix('')
                        if n not in names and n not in BUILTIN_PARAMETERS)
        descriptors = node.describe_parameters(names)
        for parameter, descriptor in zip(node.get_parameters(names), descriptors):
            type_id = descriptor.type or parameter.type_.value
            report.parameters.append(NodeParameter(
                parameter.name, TYPE_NAMES.get(type_id, str(type_id)), parameter.value,
                _python_default(defaults.get(parameter.name)), descriptor,
                _choices(cls, parameter.name), parameter.name in built.parameters))
        for name in built.parameters:
            if not node.has_parameter(name):
                report.problems.append(
                    f'{spec.name}: no parameter {name!r}{did_you_mean(name, names)}: the config '
                    f'sets it, {spec.class_path} does not declare it (ros2 launch would '
                    f'ignore it)')
    finally:
        node.destroy_node()
    return report


def config_problems(specs):
    """Lines for what the config sets that its nodes do not declare or refuse (``ros2
    launch`` checks with this before it starts them). Only nodes that take no resources when
    built are built: ours, a lifecycle node (resources come on configure), one that takes
    ``acquire_resources``; a node of yours that is none of these might open its device
    twice, and is not checked."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    lines = []
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)   # launch's
    try:
        for spec in specs:
            try:
                cls = spec.load_class()
            except Exception as exc:  # noqa: BLE001 - its own start will fail: say it here
                lines.append(f'{spec.name}: {exc}')
                continue
            if not (spec.lifecycle or cls.__module__.split('.')[0].startswith('dream_')
                    or _takes_resources_flag(cls)):
                continue
            report = describe_node(spec, context)
            lines += [f'{spec.name}: {report.error}'] if report.error else []
            lines += report.problems
    finally:
        rclpy.try_shutdown(context=context)
    return lines


# -- choosing the nodes ----------------------------------------------------------------------

def select_specs(config, names=(), driver=None, every_driver=False):
    """The NodeSpecs to list: all of the system (its driver: ``driver`` or the default), or
    those ``names`` (a driver of the config is found by its name without --driver).
    ``every_driver``: every driver of the config, not one."""
    import pathlib

    import yaml
    from dream_session.system_config import ConfigError, default_config_path, load_system

    specs = load_system(config, driver=driver, record=True)
    path = config or default_config_path()
    try:
        drivers = list((yaml.safe_load(pathlib.Path(path).read_text()) or {}).get('drivers')
                       or {})
    except (OSError, yaml.YAMLError, AttributeError):
        drivers = []
    if every_driver and driver is None:
        chosen = {s.name for s in specs}
        extra = [d for d in drivers if d not in chosen]
        specs += [next(s for s in load_system(config, driver=d, record=False) if s.name == d)
                  for d in extra]
    if not names:
        return specs
    by_name = {s.name: s for s in specs}
    unknown = [n for n in names if n not in by_name and n not in drivers]
    if unknown:
        known = list(by_name) + [d for d in drivers if d not in by_name]
        raise ConfigError('; '.join(f'no node {n!r} in {path}{did_you_mean(n, known)}'
                                    for n in unknown) + f' (nodes: {", ".join(known)})')
    chosen = []
    for name in dict.fromkeys(names):
        if name not in by_name:     # a driver other than the chosen one
            by_name[name] = next(s for s in load_system(config, driver=name, record=False)
                                 if s.name == name)
        chosen.append(by_name[name])
    return chosen


# -- printing ---------------------------------------------------------------------------------

def _value_text(p):
    text = format_value(p.value)
    if p.in_config:
        default = format_value(p.default) if p.default is not None else 'none'
        text += f'  (config; default {default})' if default != text else '  (config)'
    return text


def plain_text(reports):
    lines = []
    for r in reports:
        spec = r.spec
        kind = ', lifecycle' if spec.lifecycle else ''
        lines.append(f'{spec.name}  ({spec.class_path}{kind})')
        if r.error:
            lines.append(f'  error: {r.error}')
        for p in r.parameters:
            extras = [f'range {p.allowed}' if p.descriptor.integer_range
                      or p.descriptor.floating_point_range else
                      f'one of {p.allowed}' if p.allowed else '']
            extras.append('read-only' if p.read_only else '')
            extra = '; '.join(e for e in extras if e)
            lines.append(f'  {p.name}: {p.type_name} = {_value_text(p)}'
                         + (f'  [{extra}]' if extra else ''))
            if p.description:
                lines.append(f'      {p.description}')
        for problem in r.problems:
            lines.append(f'  error: {problem}')
        lines.append('')
    return '\n'.join(lines).rstrip() + '\n'


def _cell(text):
    return str(text).replace('|', '\\|').replace('\n', ' ') or ' '


def markdown(reports):
    lines = []
    for r in reports:
        spec = r.spec
        kind = ', lifecycle node' if spec.lifecycle else ''
        lines += [f'### `{spec.name}`', '', f'`{spec.class_path}`{kind}', '']
        if r.error:
            lines += [f'**Error:** {_cell(r.error)}', '']
        if r.parameters:
            lines += ['| parameter | type | value | default | allowed | read-only | '
                      'description |', '|---|---|---|---|---|---|---|']
            for p in r.parameters:
                value = f'`{format_value(p.value)}`' + (' (config)' if p.in_config else '')
                default = f'`{format_value(p.default)}`' if p.default is not None else ''
                lines.append('| ' + ' | '.join(_cell(c) for c in (
                    f'`{p.name}`', p.type_name, value, default,
                    p.allowed, 'yes' if p.read_only else '', p.description)) + ' |')
            lines.append('')
        for problem in r.problems:
            lines += [f'**Error:** {_cell(problem)}', '']
    return '\n'.join(lines).rstrip() + '\n'


class ParamsVerb:
    help = 'list the parameters of the nodes (type, value, range, description); check a config'
    description = (
        'List every parameter of the nodes of the system configuration: type, the value the '
        'config sets (or the default), range or choices, read-only flag and description. '
        'A parameter the config sets that its node does not declare (ros2 launch would '
        'ignore it silently), or a value the node refuses, is an error (exit 1). Nodes are '
        'built without spinning and without their resources (no microphone, model or serial '
        'port).')

    def add_arguments(self, parser):
        parser.add_argument('nodes', nargs='*', metavar='NODE',
                            help='only these nodes (YAML keys, e.g. vad, grbl); a driver of '
                                 'the config is found by its name')
        parser.add_argument('--config', help='system YAML (default: '
                                             'launch/dreaming_machine.yaml)')
        parser.add_argument('--driver', help='plotter driver from the config (default: the '
                                             "config's default_driver, sim)")
        parser.add_argument('--markdown', action='store_true',
                            help='print Markdown tables (to paste into documentation)')
        parser.add_argument('--check', action='store_true',
                            help='print only the problems of the config (every driver is '
                                 'checked unless --driver or NODE names some); exit 1 if any')

    def main(self, args):
        import rclpy
        from dream_session.system_config import ConfigError

        try:
            specs = select_specs(args.config, args.nodes, args.driver,
                                 every_driver=args.check and not args.nodes)
        except ConfigError as exc:      # an unknown node or driver, an unreadable config
            print(f'dream params: error: {exc}', file=sys.stderr)
            return 1
        context = rclpy.Context()
        rclpy.init(context=context)
        try:
            reports = [describe_node(spec, context) for spec in specs]
        finally:
            rclpy.try_shutdown(context=context)
        if args.check:
            for r in reports:
                if r.error:
                    print(f'error: {r.spec.name}: {r.error}', file=sys.stderr)
                for problem in r.problems:
                    print(f'error: {problem}', file=sys.stderr)
            failed = [r.spec.name for r in reports if r.failed]
            print(f'{len(reports)} nodes checked ({", ".join(s.name for s in specs)}): '
                  + (f'problems in {", ".join(failed)}' if failed else
                     'every parameter the config sets is declared and fits'))
        else:
            print(markdown(reports) if args.markdown else plain_text(reports), end='')
            for r in reports:
                if r.error:
                    print(f'dream params: {r.spec.name}: {r.error}', file=sys.stderr)
                for problem in r.problems:
                    print(f'dream params: error: {problem}', file=sys.stderr)
        return 1 if any(r.failed for r in reports) else 0
