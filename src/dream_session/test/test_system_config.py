"""One YAML for launch and dream run: parsing, driver choice, overrides, the launch file."""
import importlib.util
import pathlib
import sys
import types

import pytest

from dream_session.system_config import (ConfigError, NodeSpec, SetText, load_system,
                                         parse_assignment)

ROOT = pathlib.Path(__file__).resolve().parents[3]

CONFIG = '''
nodes:
  session_manager:
    class: dream_session.session_manager_node:SessionManagerNode
    executable: session_manager_node
    parameters: {max_repeats: 1, paper: A4}
drivers:
  sim: {class: dream_session.stand_in_plotter:StandInPlotter, executable: sim_node}
  grbl: {class: x.grbl_node:GrblNode, executable: grbl_node, lifecycle: true,
         parameters: {port: /dev/ttyUSB0}}
recorder:
  class: dream_session.recorder_node:RecorderNode
  executable: recorder_node
  parameters: {output_dir: sessions}
'''


@pytest.fixture
def config(tmp_path):
    path = tmp_path / 'system.yaml'
    path.write_text(CONFIG)
    return path


def test_first_driver_is_the_default_and_recorder_is_optional(config):
    names = [s.name for s in load_system(config)]
    assert names == ['recorder', 'sim', 'session_manager']
    assert [s.name for s in load_system(config, record=False)] == ['sim', 'session_manager']


def test_driver_choice_and_lifecycle(config):
    grbl = load_system(config, driver='grbl')[1]     # after the recorder
    assert grbl.lifecycle and grbl.package == 'x' and grbl.parameters == {'port': '/dev/ttyUSB0'}
    with pytest.raises(ConfigError, match='unknown driver .axidraw.*sim, grbl'):
        load_system(config, driver='axidraw')


def test_overrides_update_parameters_and_reject_unknown_nodes(config):
    specs = load_system(config, overrides={'session_manager': {'paper': 'A3'}})
    manager, = [s for s in specs if s.name == 'session_manager']
    assert manager.parameters == {'max_repeats': 1, 'paper': 'A3'}
    with pytest.raises(ConfigError, match='no such node'):
        load_system(config, overrides={'nope': {'a': 1}})


@pytest.mark.parametrize('text,expected', [
    ('clipdraw.iterations=50', ('clipdraw', 'iterations', '50')),
    ('a.b=[x, y]', ('a', 'b', '[x, y]')),
    ('a.b=on', ('a', 'b', 'on')),
    ('a.b=', ('a', 'b', ''))])
def test_parse_assignment_keeps_the_text_for_the_runner(text, expected):
    """The declared type (known to the node only) reads the value, not YAML 1.1."""
    node, param, value = parse_assignment(text)
    assert (node, param, value) == expected and isinstance(value, SetText)


@pytest.mark.parametrize('bad', ['novalue', 'nodot=1', '.p=1'])
def test_parse_assignment_rejects_malformed(bad):
    with pytest.raises(ConfigError):
        parse_assignment(bad)


def test_malformed_files_give_clear_errors(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('nodes:\n  x: {executable: y}\n')
    with pytest.raises(ConfigError, match='needs "class'):
        load_system(bad)
    with pytest.raises(ConfigError, match='cannot read'):
        load_system(tmp_path / 'missing.yaml')


@pytest.mark.parametrize('text, where, message', [
    ('nodes:\n  vad: {class: a:B, executable: b, paramters: {x: 1}}\n', "node 'vad'",
     "unknown key 'paramters' (did you mean 'parameters'?)"),
    ('nodes:\n  vad: {class: a:B, executable: b, namespace: /x, remappings: []}\n',
     "node 'vad'", "unknown key 'namespace', 'remappings'"),
    ('nodes: {}\ndrivers:\n  sim: {class: a:B, executable: b}\n'
     '  grbl: {class: a:B, executable: b, lifecyle: true}\n', "node 'grbl'",
     "unknown key 'lifecyle' (did you mean 'lifecycle'?)"),     # a driver not chosen
    ('nodes: {}\nrecoder: {class: a:B, executable: b}\n', 'system.yaml',
     "unknown key 'recoder' (did you mean 'recorder'?); known keys: nodes, drivers, "
     'default_driver, recorder'),
])
def test_unknown_keys_are_errors_naming_node_key_and_known_keys(
        tmp_path, text, where, message):
    """Once, ``paramters:`` ran the node with its defaults and ``namespace:`` was dropped."""
    path = tmp_path / 'system.yaml'
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_system(path)
    assert where in str(err.value) and message in str(err.value)
    if where.startswith('node'):
        assert 'known keys: class, executable, parameters, lifecycle' in str(err.value)


PROBE_NODE = '''
from rclpy.node import Node


class Probe(Node):
    def __init__(self, **kwargs):
        super().__init__('probe', **kwargs)
        for name, default in [('step_graph', 'off'), ('language', ''), ('min_silence', 1.6),
                              ('count', 1), ('flag', False), ('words', ['a']),
                              ('scales', [1.0])]:
            self.declare_parameter(name, default)
'''


@pytest.fixture
def probe_config(tmp_path, monkeypatch):
    (tmp_path / 'set_probe.py').write_text(PROBE_NODE)
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(**parameters):
        import yaml
        path = tmp_path / 'probe.yaml'
        path.write_text(yaml.safe_dump({'nodes': {'probe': {
            'class': 'set_probe:Probe', 'executable': 'x', 'parameters': parameters}}}))
        return path
    return write


def _run_probe(path, *assignments):
    from dream_session.runner import SingleProcessRunner
    overrides = {}
    for text in assignments:
        node, param, value = parse_assignment(text)
        overrides.setdefault(node, {})[param] = value
    runner = SingleProcessRunner(load_system(path, overrides=overrides)).start()
    try:
        probe = runner.nodes['probe']
        return {name: probe.get_parameter(name).value for name in (
            'step_graph', 'language', 'min_silence', 'count', 'flag', 'words', 'scales')}
    finally:
        runner.stop(grace=0.1)


def test_set_values_are_read_as_the_declared_type(probe_config):
    """--set step_graph=on stayed YAML's true (refused by the string parameter), language=no
    (Norwegian) became false and min_silence=2 an integer that the double refused."""
    got = _run_probe(probe_config(), 'probe.step_graph=on', 'probe.language=no',
                     'probe.min_silence=2', 'probe.count=3', 'probe.flag=yes',
                     'probe.words=[on, 2, "x, y"]', 'probe.scales=[1, 2.5, 1e3]')
    assert got == {'step_graph': 'on', 'language': 'no', 'min_silence': 2.0, 'count': 3,
                   'flag': True, 'words': ['on', '2', 'x, y'], 'scales': [1.0, 2.5, 1000.0]}
    assert type(got['step_graph']) is str and type(got['min_silence']) is float


@pytest.mark.parametrize('assignment, message', [
    ('probe.min_silence=abc', "probe: cannot set min_silence to 'abc': the parameter is "
                              'of type double'),
    ('probe.count=2.5', "probe: cannot set count to '2.5': the parameter is of type integer"),
    ('probe.flag=maybe', "probe: cannot set flag to 'maybe': the parameter is of type bool "
                         '(true or false)'),
    ('probe.scales=1.0', "probe: cannot set scales to '1.0': the parameter is of type "
                         'double[] (write a list as [a, b, ...])'),
])
def test_a_set_value_of_another_type_names_node_parameter_type_and_value(
        probe_config, assignment, message):
    with pytest.raises(ConfigError) as err:
        _run_probe(probe_config(), assignment)
    assert message in str(err.value)


@pytest.mark.parametrize('parameters', [{'min_silence': 2}, {'step_graph': True}])
def test_typed_yaml_values_are_refused_as_ros2_launch_refuses_them(probe_config, parameters):
    """The file is typed YAML for both ways of running: only --set text is read by type."""
    with pytest.raises(ConfigError, match='probe: Trying to set parameter'):
        _run_probe(probe_config(**parameters))


@pytest.mark.parametrize('class_path, parameters, message', [
    ('dream_audio.audio_capture_node:AudioCaptureNode', {'source': 'net'},
     "source must be one of microphone, file, got 'net'"),
    ('dream_audio.audio_capture_node:AudioCaptureNode', {'encoding': 'mp3'},
     "encoding must be one of pcm_s16le"),
    ('dream_audio.vad_node:VadNode', {'encoding': 'mp3'}, "encoding must be one of pcm_s16le"),
    ('dream_stt.stt_node:SttNode', {'device': 'gpu'},
     "device must be one of auto, cpu, cuda, got 'gpu'"),
    ('dream_stt.stt_node:SttNode', {'compute_type': 'bogus'},
     "compute_type must be one of auto, default, int8"),
])
def test_a_word_outside_its_set_fails_the_start_before_any_session(
        class_path, parameters, message):
    """Once logged ('unknown source', 'using pcm_s16le', 'no speech recognition') while the
    node stayed up, and the run failed later or worked around it."""
    from dream_session.runner import SingleProcessRunner
    name = class_path.split(':')[0].split('.')[-1].replace('_node', '')
    logged = []
    with pytest.raises(ConfigError) as err:
        SingleProcessRunner([NodeSpec(name, class_path, 'x', parameters)],
                            log=logged.append).start()
    assert str(err.value).startswith(f'{name}: ') and message in str(err.value)
    # the half-built node is destroyed quietly (once: "'AudioCaptureNode' object has no
    # attribute '_lock'" after the error)
    assert logged == []


def test_a_recorder_whose_start_failed_is_destroyed_quietly():
    from dream_session.runner import SingleProcessRunner
    logged = []
    with pytest.raises(ConfigError):
        SingleProcessRunner([NodeSpec('recorder', 'dream_session.recorder_node:RecorderNode',
                                      'x', {'flush_interval': 99.0})], log=logged.append).start()
    assert logged == []


@pytest.mark.parametrize('driver', ['sim', 'grbl', 'axidraw'])
def test_shipped_config_names_importable_nodes_and_declared_parameters(driver):
    specs = load_system(ROOT / 'launch' / 'dreaming_machine.yaml', driver=driver)
    # The recorder hears everything from the start; the audio source starts last.
    assert [s.name for s in specs] == ['recorder', driver, 'vad', 'stt', 'clipdraw',
                                       'session_manager', 'audio_capture']
    for spec in specs:
        module_path, cls = spec.class_path.split(':')
        source = pathlib.Path(importlib.util.find_spec(module_path).origin).read_text()
        assert f'class {cls}(' in source, spec.name
        setup = (ROOT / 'src' / spec.package / 'setup.py').read_text()
        assert f"'{spec.executable} = " in setup, spec.name
        # Every configured parameter is declared by that package's nodes (a misspelt one
        # would be silently ignored by rclpy).
        package_dir = pathlib.Path(
            importlib.util.find_spec(spec.package).submodule_search_locations[0])
        declared = '\n'.join(p.read_text() for p in package_dir.glob('*.py'))
        for name in spec.parameters:
            assert f"'{name}'" in declared, (spec.name, name)


def _stub_launch_modules(monkeypatch):
    """Just enough of launch/launch_ros (no wheels exist) to build the description."""
    created = []

    def action(kind):
        def make(*args, **kwargs):
            created.append((kind, kwargs))
            return types.SimpleNamespace(kind=kind, args=args, kwargs=kwargs)
        return make

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]
    modules = {
        'launch': types.SimpleNamespace(LaunchDescription=list),
        'launch.actions': types.SimpleNamespace(DeclareLaunchArgument=action('arg'),
                                                OpaqueFunction=action('opaque'),
                                                SetEnvironmentVariable=action('env')),
        'launch.substitutions': types.SimpleNamespace(LaunchConfiguration=LaunchConfiguration),
        'launch_ros.actions': types.SimpleNamespace(Node=action('node'),
                                                    LifecycleNode=action('lifecycle')),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return created


def test_launch_file_builds_nodes_from_the_same_yaml(monkeypatch, config):
    created = _stub_launch_modules(monkeypatch)
    monkeypatch.delenv('OMP_WAIT_POLICY', raising=False)
    spec = importlib.util.spec_from_file_location(
        'dm_launch', ROOT / 'launch' / 'dreaming_machine.launch.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = [kwargs for kind, kwargs in created if kind == 'arg']
    assert len(declared) == 5
    # Every node gets sleeping OpenMP threads (spinning ones starve Whisper and CLIPDraw).
    assert [n.args for n in description if n.kind == 'env'] == [('OMP_WAIT_POLICY',
                                                                 'PASSIVE')]
    opaque = description[-1].kwargs['function']
    nodes = opaque({'driver': 'grbl', 'record': 'false', 'config': str(config),
                    'use_sim_time': 'true', 'check_params': 'false'})
    kinds = [(n.kind, n.kwargs['name']) for n in nodes]
    assert kinds == [('lifecycle', 'grbl'), ('node', 'session_manager')]
    assert nodes[0].kwargs['autostart'] is True
    assert nodes[1].kwargs['parameters'] == [{'max_repeats': 1, 'paper': 'A4',
                                              'use_sim_time': True}]


def _launch_nodes(monkeypatch, config, **arguments):
    """The node actions the launch file makes of ``config`` (with the stubbed launch)."""
    _stub_launch_modules(monkeypatch)
    spec = importlib.util.spec_from_file_location(
        'dm_launch', ROOT / 'launch' / 'dreaming_machine.launch.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    opaque = module.generate_launch_description()[-1].kwargs['function']
    return opaque(dict({'driver': 'sim', 'record': 'true', 'config': str(config),
                        'use_sim_time': 'false', 'check_params': 'true'}, **arguments))


def test_launch_refuses_a_parameter_its_node_does_not_declare(monkeypatch, tmp_path):
    """rclpy ignores it: the machine once ran with the default, unnoticed."""
    path = tmp_path / 'misspelt.yaml'
    path.write_text(CONFIG.replace('max_repeats: 1', 'max_repeat: 1'))
    with pytest.raises(RuntimeError) as err:
        _launch_nodes(monkeypatch, path)
    assert ("session_manager: no parameter 'max_repeat' (did you mean 'max_repeats'?)"
            in str(err.value))
    assert 'check_params:=false skips this check' in str(err.value)
    nodes = _launch_nodes(monkeypatch, path, check_params='false')
    assert [n.kwargs['name'] for n in nodes] == ['recorder', 'sim', 'session_manager']
    nodes = _launch_nodes(monkeypatch, _write(tmp_path, CONFIG))
    assert [n.kwargs['name'] for n in nodes] == ['recorder', 'sim', 'session_manager']


def _write(tmp_path, text, name='good.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return path


OWN_NODE = '''
from rclpy.node import Node

BUILT = []


class OwnArm(Node):
    def __init__(self, **kwargs):
        BUILT.append('opened the arm')
        super().__init__('own_arm', **kwargs)
'''


def test_launch_does_not_build_a_node_of_yours_that_could_open_its_device(
        monkeypatch, tmp_path):
    (tmp_path / 'unchecked_arm_node.py').write_text(OWN_NODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = _write(tmp_path, CONFIG.replace(
        '  sim: {class: dream_session.stand_in_plotter:StandInPlotter, executable: sim_node}',
        '  arm: {class: unchecked_arm_node:OwnArm, executable: arm, parameters: {speed: 2}}'))
    nodes = _launch_nodes(monkeypatch, config, driver='arm')
    assert [n.kwargs['name'] for n in nodes] == ['recorder', 'arm', 'session_manager']
    import unchecked_arm_node
    assert unchecked_arm_node.BUILT == []
