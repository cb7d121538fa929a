"""One YAML for launch and dream run: parsing, driver choice, overrides, the launch file."""
import importlib.util
import pathlib
import sys
import types

import pytest

from dream_session.system_config import ConfigError, load_system, parse_assignment

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
    ('clipdraw.iterations=50', ('clipdraw', 'iterations', 50)),
    ('a.b=[x, y]', ('a', 'b', ['x', 'y'])),
    ('a.b=true', ('a', 'b', True))])
def test_parse_assignment(text, expected):
    assert parse_assignment(text) == expected


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
    assert len(declared) == 4
    # Every node gets sleeping OpenMP threads (spinning ones starve Whisper and CLIPDraw).
    assert [n.args for n in description if n.kind == 'env'] == [('OMP_WAIT_POLICY',
                                                                 'PASSIVE')]
    opaque = description[-1].kwargs['function']
    nodes = opaque({'driver': 'grbl', 'record': 'false', 'config': str(config),
                    'use_sim_time': 'true'})
    kinds = [(n.kind, n.kwargs['name']) for n in nodes]
    assert kinds == [('lifecycle', 'grbl'), ('node', 'session_manager')]
    assert nodes[0].kwargs['autostart'] is True
    assert nodes[1].kwargs['parameters'] == [{'max_repeats': 1, 'paper': 'A4',
                                              'use_sim_time': True}]
