"""``dream params``: the parameters of the system's nodes, and a check of a config against them."""
import contextlib
import io
import pathlib
import re

import pytest
import yaml

from dream_session import command

SHIPPED = pathlib.Path(__file__).resolve().parents[3] / 'launch' / 'dreaming_machine.yaml'


def dream_params(*argv):
    """(exit status, stdout, stderr) of ``dream params ARGV``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = command.main(['params', *argv])
    return status, out.getvalue(), err.getvalue()


def node_section(text, name):
    """The plain listing's lines of node ``name`` (its header up to the next blank line)."""
    match = re.search(rf'^{re.escape(name)}  \(.*?(?=^\s*$|\Z)', text, re.M | re.S)
    assert match, f'no section for {name} in:\n{text}'
    return match.group(0)


@pytest.fixture(scope='module')
def grbl_system():
    return dream_params('--driver', 'grbl')


def test_the_shipped_system_is_listed_with_the_chosen_driver(grbl_system):
    status, out, err = grbl_system
    assert status == 0, err
    for name in ('recorder', 'grbl', 'vad', 'stt', 'clipdraw', 'session_manager',
                 'audio_capture'):
        node_section(out, name)
    assert not re.search(r'^sim  \(', out, re.M)        # the default driver is replaced
    grbl = node_section(out, 'grbl')
    assert 'dream_plotter.grbl_driver_node:GrblDriverNode, lifecycle' in grbl
    # type, value, range and description of what a GRBL plotter's owner has to set
    assert re.search(r'^  servo_up: double = 0\.0  \[range 0\.0 \.\. 100000\.0\]\n'
                     r'      spindle S value with the pen up$', grbl, re.M), grbl
    for name in ('z_down', 'origin_x', 'origin_y', 'invert_y', 'pen_mode'):
        assert re.search(rf'^  {name}: ', grbl, re.M), name
    assert re.search(r'^  port: string = /dev/ttyUSB0  \(config\)  \[read-only\]$', grbl, re.M)
    # a value the config sets, with the node's own default beside it
    assert re.search(r'^  min_silence: double = 1\.6  \(config; default 1\.5\)  '
                     r'\[range 0\.1 \.\. 10\.0\]$', node_section(out, 'vad'), re.M)
    # choices where the node declares them; rclpy's own parameters are left out
    assert 'preset: string = cpu  (config)  [one of cpu | faithful | plotter]' in out
    assert not re.search(r'^  (use_sim_time|start_type_description_service): ', out, re.M)


def test_listing_takes_no_resources(monkeypatch):
    """No microphone or file opened, no Silero, Whisper or CLIP loaded to list the nodes."""
    from dream_audio import audio_capture_node, vad_node
    from dream_clipdraw import clipdraw_node
    from dream_stt import model_store

    taken = []

    class Detector:
        window = 512

        def __init__(self):
            taken.append('silero')

        def reset(self):
            pass

    def load(*args, **kwargs):
        taken.append('whisper')
        raise model_store.ModelUnavailableError('not here')

    monkeypatch.setattr(audio_capture_node.AudioCaptureNode, '_start_source',
                        lambda self: taken.append('audio source'))
    monkeypatch.setattr(vad_node, 'SileroSpeechDetector', Detector)
    monkeypatch.setattr(model_store, 'load', load)
    monkeypatch.setattr(clipdraw_node.ClipDrawNode, '_model', lambda self: taken.append('clip'))
    status, out, err = dream_params('audio_capture', 'vad', 'stt', 'clipdraw')
    assert status == 0, err
    assert taken == []
    assert re.findall(r'^(\w+)  \(', out, re.M) == ['audio_capture', 'vad', 'stt', 'clipdraw']


def test_nodes_are_selected_by_name_drivers_included():
    status, out, err = dream_params('axidraw', 'recorder')
    assert status == 0, err
    assert re.findall(r'^(\w+)  \(', out, re.M) == ['axidraw', 'recorder']
    assert re.search(r'^  pen_up_position: integer = 16000  \[range 1 \.\. 65535\]$', out, re.M)


def test_markdown_gives_a_table_per_node():
    status, out, err = dream_params('grbl', '--markdown')
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == '### `grbl`'
    header = lines.index('| parameter | type | value | default | allowed | read-only | '
                         'description |')
    assert lines[header + 1] == '|---|---|---|---|---|---|---|'
    assert ('| `servo_up` | double | `0.0` | `0.0` | 0.0 .. 100000.0 |   | spindle S value '
            'with the pen up |') in lines
    assert '| `port` | string | `/dev/ttyUSB0` (config) | `/dev/ttyUSB0` |   | yes |' in out
    rows = [line for line in lines[header + 2:] if line.startswith('| `')]
    assert len(rows) > 20 and all(row.count(' | ') >= 6 for row in rows)


def test_the_shipped_config_passes_the_check():
    status, out, err = dream_params('--check')
    assert status == 0, err
    # every driver is checked, not only the default one
    assert all(name in out for name in ('sim', 'grbl', 'axidraw', 'recorder'))
    assert 'every parameter the config sets is declared' in out


def _config(tmp_path, edit):
    data = yaml.safe_load(SHIPPED.read_text())
    edit(data)
    path = tmp_path / 'machine.yaml'
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_an_undeclared_parameter_is_an_error_with_a_did_you_mean(tmp_path):
    def misspell(data):
        data['nodes']['vad']['parameters']['min_silense'] = 1.2
        data['drivers']['grbl']['parameters']['servo_upp'] = 30.0
    config = _config(tmp_path, misspell)
    status, out, err = dream_params('--check', '--config', config)
    assert status == 1
    assert "vad: no parameter 'min_silense' (did you mean 'min_silence'" in err
    assert "grbl: no parameter 'servo_upp' (did you mean 'servo_up'" in err   # not the default
    assert 'problems in vad, grbl' in out
    # the listing says so too, and still lists everything
    status, out, err = dream_params('--config', config, 'vad', 'stt')
    assert status == 1
    assert "no parameter 'min_silense'" in err and "no parameter 'min_silense'" in out
    assert 'min_silence: double = 0.5' not in out     # the misspelt one did not set it
    node_section(out, 'stt')


def test_a_node_that_cannot_be_built_is_reported_and_the_others_listed(tmp_path):
    def break_two(data):
        data['nodes']['ghost'] = {'class': 'no_such_package.ghost:Ghost', 'executable': 'g'}
        data['nodes']['clipdraw']['parameters']['preset'] = 'fast'
    config = _config(tmp_path, break_two)
    status, out, err = dream_params('--config', config, 'ghost', 'clipdraw', 'vad')
    assert status == 1
    assert 'ghost: cannot import no_such_package.ghost' in err
    assert "preset must be one of cpu, faithful, plotter, got 'fast'" in err
    assert 'min_silence: double = 1.6' in node_section(out, 'vad')


def test_every_refused_value_of_a_node_is_reported_not_only_the_first(tmp_path, capfd):
    """rclpy stops building a node at the first value it refuses: once, the check named only
    that one, and a user fixed the config one run at a time."""
    def refuse_three(data):
        vad = data['nodes']['vad']['parameters']
        vad.update(min_silence=50.0, max_length='long', min_silense=1.0)
    config = _config(tmp_path, refuse_three)
    status, out, err = dream_params('--check', '--config', config, 'vad')
    assert status == 1 and 'problems in vad' in out
    assert re.search(r"error: vad: Invalid parameter value \(50\.0\) .*: min_silence$", err,
                     re.M), err
    assert re.search(r"error: vad: Trying to set parameter 'max_length' to 'long'", err), err
    assert "vad: no parameter 'min_silense'" in err
    # the listing goes on with the node built without them, at their defaults
    status, out, err = dream_params('--config', config, 'vad')
    assert status == 1
    assert re.search(r'^  min_silence: double = 1\.5  \[range', out, re.M), out
    # each half-built node destroyed: rcl warned of its name's rosout publisher (stderr, C)
    assert 'Publisher already registered' not in capfd.readouterr().err


def test_an_unknown_node_is_a_clear_error():
    status, out, err = dream_params('vda')
    assert status == 1 and out == ''
    assert "no node 'vda'" in err and "did you mean 'vad'" in err
    assert 'Traceback' not in err and 'DREAM_DEBUG' not in err
    status, out, err = dream_params('--driver', 'plotter')
    assert status == 1 and "unknown driver 'plotter'" in err


OWN_NODE = '''
from rclpy.node import Node

OPENED = []


class OwnArm(Node):
    def __init__(self, acquire_resources=True, **kwargs):
        super().__init__('own_arm', **kwargs)
        self.declare_parameter('port', '/dev/ttyACM0')
        if acquire_resources:
            OPENED.append(self.get_parameter('port').value)
'''


def test_a_node_of_yours_that_takes_acquire_resources_is_listed_without_them(
        tmp_path, monkeypatch):
    """The flag our nodes take (no microphone, model or CLIP to list them) works for a
    node of yours too; one that does not take it is built as it is."""
    (tmp_path / 'own_arm_node.py').write_text(OWN_NODE)
    monkeypatch.syspath_prepend(str(tmp_path))

    def add(data):
        data['nodes']['own_arm'] = {'class': 'own_arm_node:OwnArm', 'executable': 'own_arm',
                                    'parameters': {'port': '/dev/ttyUSB3'}}
    status, out, err = dream_params('--config', _config(tmp_path, add), 'own_arm')
    assert status == 0, err
    assert 'port: string = /dev/ttyUSB3  (config; default /dev/ttyACM0)' in out
    import own_arm_node
    assert own_arm_node.OPENED == []


def test_a_double_range_declared_with_integers_reads_as_doubles():
    """server_wait's range once read [range 0 .. 600], as if it took integers."""
    status, out, err = dream_params('session_manager')
    assert status == 0, err
    assert re.search(r'^  server_wait: double = .*\[range 0\.0 \.\. 600\.0\]$', out, re.M), \
        node_section(out, 'session_manager')
