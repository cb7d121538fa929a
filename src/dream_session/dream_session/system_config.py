"""The one YAML file that says which nodes make the machine and with which parameters.

Both ``launch/dreaming_machine.launch.py`` (``ros2 launch``) and ``dream run`` (all nodes in
one process) read it through :func:`load_system`, so nothing is written twice. Shape::

    nodes:               # always started
      NAME: {class: module:Class, executable: NAME_IN_SETUP_PY, parameters: {...}}
    drivers:             # exactly one, chosen with driver:=NAME / --driver NAME
      NAME: {class: ..., executable: ..., lifecycle: true, parameters: {...}}
    recorder:            # started when record:=true (the default)
      {class: ..., executable: ..., parameters: {...}}
"""
import dataclasses
import difflib
import os
import pathlib

import yaml

CONFIG_NAME = 'dreaming_machine.yaml'


class ConfigError(ValueError):
    """The configuration file is missing, malformed or names something unknown."""


class SetText(str):
    """A ``--set`` value as typed. The runner converts it to its parameter's declared type
    (only the node knows it): ``on`` stays text for a string parameter, is true for a bool."""


# What a node entry and the file may hold; anything else is a typo that would otherwise be
# ignored (``paramters:`` ran every node with its defaults) or a feature that does not exist.
NODE_KEYS = ('class', 'executable', 'parameters', 'lifecycle')
TOP_KEYS = ('nodes', 'drivers', 'default_driver', 'recorder')


def _refuse_unknown_keys(mapping, known, where):
    unknown = []
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            unknown.append(repr(key) + (f' (did you mean {close[0]!r}?)' if close else ''))
    if unknown:
        raise ConfigError(f'{where}: unknown key {", ".join(unknown)}; known keys: '
                          + ', '.join(known))


@dataclasses.dataclass
class NodeSpec:
    name: str
    class_path: str              # 'package.module:Class'
    executable: str              # console script in the package's setup.py
    parameters: dict
    lifecycle: bool = False

    @property
    def package(self):
        return self.class_path.split('.', 1)[0]

    def load_class(self):
        import importlib
        module, _, cls = self.class_path.partition(':')
        try:
            return getattr(importlib.import_module(module), cls)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise       # the module was found; something it imports is missing
            raise ConfigError(f'{self.name}: cannot import {module} ({exc}): install its '
                              'package, or put its folder on PYTHONPATH') from None
        except AttributeError:
            raise ConfigError(f'{self.name}: {module} has no {cls}') from None


def default_config_path():
    """``$DREAM_ROOT/launch/dreaming_machine.yaml``, else the one beside this source tree."""
    candidates = []
    if os.environ.get('DREAM_ROOT'):
        candidates.append(pathlib.Path(os.environ['DREAM_ROOT'], 'launch', CONFIG_NAME))
    candidates.append(pathlib.Path(__file__).resolve().parents[3] / 'launch' / CONFIG_NAME)
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError('cannot find launch/' + CONFIG_NAME + ' (looked in: '
                      + ', '.join(map(str, candidates)) + '); pass --config FILE')


def _spec(name, entry):
    if isinstance(entry, dict):
        _refuse_unknown_keys(entry, NODE_KEYS, f'node {name!r}')
    if not isinstance(entry, dict) or 'class' not in entry or 'executable' not in entry:
        raise ConfigError(f'node {name!r} needs "class: module:Class" and "executable"')
    params = entry.get('parameters') or {}
    if not isinstance(params, dict):
        raise ConfigError(f'node {name!r}: parameters must be a mapping')
    return NodeSpec(name, entry['class'], entry['executable'], dict(params),
                    bool(entry.get('lifecycle', False)))


def load_system(path=None, *, driver=None, record=True, overrides=None):
    """The node specs to start; ``overrides`` is {node name: {parameter: value}}."""
    path = pathlib.Path(path) if path else default_config_path()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f'cannot read {path}: {exc}') from exc
    if not isinstance(data, dict) or 'nodes' not in data:
        raise ConfigError(f'{path}: expected a mapping with a "nodes" section')
    _refuse_unknown_keys(data, TOP_KEYS, str(path))
    # Started in this order: the recorder first (it must hear a session from its first
    # message), the driver, then the nodes in the file's order (the audio source last).
    # Every entry is checked, chosen or not: a typo shows before the day it is chosen.
    recorder = _spec('recorder', data['recorder']) if data.get('recorder') else None
    drivers = {name: _spec(name, entry) for name, entry in (data.get('drivers') or {}).items()}
    specs = [recorder] if record and recorder else []
    if drivers:
        driver = driver or data.get('default_driver') or next(iter(drivers))
        if driver not in drivers:
            raise ConfigError(f'unknown driver {driver!r}; {path} offers: '
                              + ', '.join(drivers))
        specs.append(drivers[driver])
    specs += [_spec(name, entry) for name, entry in (data.get('nodes') or {}).items()]
    by_name = {spec.name: spec for spec in specs}
    for name, params in (overrides or {}).items():
        if name not in by_name:
            raise ConfigError(f'cannot set parameters of {name!r}: no such node '
                              f'(nodes: {", ".join(by_name)})')
        by_name[name].parameters.update(params)
    return specs


def parse_assignment(text):
    """``node.parameter=value`` -> (node, parameter, SetText(value)): the value is kept as
    typed, for the runner to read as the parameter's declared type (YAML would make
    ``language=no`` false and ``min_silence=2`` an integer that a double refuses)."""
    target, sep, raw = text.partition('=')
    node, dot, param = target.partition('.')
    if not sep or not dot or not node or not param:
        raise ConfigError(f'--set expects node.parameter=value, got {text!r}')
    return node, param, SetText(raw)
