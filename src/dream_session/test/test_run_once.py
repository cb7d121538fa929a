"""``dream run --once --audio-file F``: it ends when the file cannot give a session, and a bad
``--set`` is named, not masked."""
import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile
import yaml


def _node(cls, **parameters):
    module = cls.split(':')[0].split('.')[-1]
    return {'class': cls, 'executable': module, 'parameters': parameters}


# The speech side for real (the file, the VAD), the rest stood in for.
SYSTEM = {
    'nodes': {
        'vad': _node('dream_audio.vad_node:VadNode'),
        'session_manager': _node('dream_session.session_manager_node:SessionManagerNode',
                                 server_wait=5.0),
        'clipdraw': _node('dream_session.stand_in_drawing_server:StandInDrawingServer'),
        'audio_capture': _node('dream_audio.audio_capture_node:AudioCaptureNode',
                               source='microphone'),
    },
    'drivers': {'sim': _node('dream_session.stand_in_plotter:StandInPlotter')},
}


def run_once(tmp_path, audio, *extra, system=SYSTEM):
    config = tmp_path / 'system.yaml'
    config.write_text(yaml.safe_dump(system))
    # --timeout is far beyond what each case needs: reaching it is the failure.
    return subprocess.run(
        [sys.executable, '-m', 'dream_session.command', 'run', '--once', '--fast',
         '--no-record', '--config', str(config), '--audio-file', str(audio),
         '--timeout', '120', *extra], capture_output=True, text=True, timeout=200)


@pytest.fixture
def silence(tmp_path):
    path = tmp_path / 'silence.wav'
    soundfile.write(path, np.zeros(16000 * 3, dtype='float32'), 16000)
    return path


def test_a_file_that_cannot_play_ends_the_run_at_once(tmp_path):
    junk = tmp_path / 'junk.wav'
    junk.write_bytes(b'not audio at all')
    proc = run_once(tmp_path, junk)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'no session finished: cannot play' in proc.stderr


def test_a_file_without_speech_ends_the_run_when_it_has_played(tmp_path, silence):
    proc = run_once(tmp_path, silence)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'played out and no speech was heard' in proc.stderr


@pytest.mark.parametrize('assignment, message', [
    ('session_manager.server_wait=abc', "session_manager: cannot set server_wait to 'abc': "
                                        'the parameter is of type double'),
    ('session_manager.sever_wait=5.0', "session_manager has no parameter 'sever_wait'"),
    ('session_manager.paper=A9', "session_manager: Invalid parameter value (A9)"),
])
def test_a_bad_parameter_override_is_named(tmp_path, silence, assignment, message):
    proc = run_once(tmp_path, silence, '--set', assignment)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert message in proc.stderr and 'Traceback' not in proc.stderr


def test_a_misspelt_word_parameter_fails_the_start_naming_node_parameter_and_words(
        tmp_path, silence):
    """The real speech node: a task it cannot do ends the run before any session."""
    nodes = dict(SYSTEM['nodes'])
    audio = nodes.pop('audio_capture')
    system = dict(SYSTEM, nodes=dict(nodes, stt=_node('dream_stt.stt_node:SttNode'),
                                     audio_capture=audio))
    started = time.monotonic()
    proc = run_once(tmp_path, silence, '--set', 'stt.task=trasnlate', system=system)
    assert proc.returncode == 1, proc.stderr[-3000:]
    error = [line for line in proc.stderr.splitlines() if 'error: stt: ' in line]
    assert error and "'trasnlate'" in error[0] and 'transcribe or translate' in error[0] \
        and error[0].endswith(': task'), proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr and time.monotonic() - started < 60


REJECTING_STT = '''
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from dream_interfaces.msg import Transcript, Utterance


class RejectingSpeechNode(Node):
    """Rejects every utterance, as Whisper does a mumble."""

    def __init__(self, **kwargs):
        super().__init__('stt', **kwargs)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._pub = self.create_publisher(Transcript, 'speech/transcript', qos)
        self.create_subscription(Utterance, 'audio/utterance', self._reject, qos)

    def _reject(self, utterance):
        self._pub.publish(Transcript(
            session_id=utterance.session_id, is_final=True,
            status=Transcript.STATUS_REJECTED_LOW_CONFIDENCE,
            status_message='low confidence'))
'''


def test_a_rejected_utterance_fails_its_session_when_the_file_has_no_more(tmp_path, monkeypatch):
    """Asked to repeat, the session would listen until its timeout (90 s) for speech that a
    played-out file cannot give."""
    (tmp_path / 'rejecting_stt.py').write_text(REJECTING_STT)
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join([str(tmp_path), os.environ['PYTHONPATH']]))
    system = {**SYSTEM, 'nodes': {**SYSTEM['nodes'],
                                  'stt': _node('rejecting_stt:RejectingSpeechNode')}}
    dream = pathlib.Path(__file__).parents[3] / 'data' / 'dreams' / 'red_whale.flac'
    start = time.monotonic()
    proc = run_once(tmp_path, dream, system=system)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert ('speech rejected: low confidence; the audio file ended before a repeat was heard'
            in proc.stderr), proc.stderr[-3000:]
    assert time.monotonic() - start < 60


def test_a_config_without_a_session_manager_is_refused_for_once_and_runs_without(tmp_path):
    """Once, both crashed with "error: 'session_manager'" and an abort (exit 134)."""
    import signal
    config = tmp_path / 'system.yaml'
    config.write_text(yaml.safe_dump({'nodes': {}, 'drivers': SYSTEM['drivers']}))
    proc = subprocess.run([sys.executable, '-m', 'dream_session.command', 'run', '--once',
                           '--no-record', '--config', str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert ('--once runs one session, and the config has no session_manager node to run it '
            '(its nodes: sim)') in proc.stderr
    assert 'starting:' not in proc.stderr and 'Traceback' not in proc.stderr
    serve = subprocess.Popen(
        [sys.executable, '-m', 'dream_session.command', 'run', '--no-record', '--config',
         str(config)], stderr=subprocess.PIPE, text=True)
    try:
        line = ''
        while 'serving visitors' not in line:
            line = serve.stderr.readline()
            assert line, 'dream run ended early'
        serve.send_signal(signal.SIGINT)
        err = serve.communicate(timeout=60)[1]
    finally:
        serve.kill()
    assert serve.returncode == 0, err
    assert 'error' not in err.lower()


@pytest.mark.parametrize('name, message', [
    ('missing.wav', 'no such audio file: {path}'),
    ('a_folder', '{path} is a directory, not an audio file'),
])
def test_an_audio_file_that_is_not_there_is_no_session(tmp_path, capsys, name, message):
    """README: --once exits 2 when the file could not play (once: 1, and a folder was called
    missing); without --once it is an error like any refused start."""
    from dream_session import command
    path = tmp_path / name
    if name == 'a_folder':
        path.mkdir()
    message = message.format(path=path)
    assert command.main(['run', '--once', '--no-record', '--audio-file', str(path)]) == 2
    err = capsys.readouterr().err
    assert f'no session finished: {message}' in err and 'starting:' not in err
    assert command.main(['run', '--no-record', '--audio-file', str(path)]) == 1
    err = capsys.readouterr().err
    assert f'dream run: error: {message}' in err and 'starting:' not in err


def test_a_sim_time_run_without_a_clock_says_why_nothing_happened(tmp_path, silence):
    """Once it said only 'none within 8 s'; the cause was logged after, during shutdown."""
    proc = run_once(tmp_path, silence, '--use-sim-time', '--timeout', '8')
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert ('no session finished: none within 8 s (--use-sim-time, and no /clock came'
            in proc.stderr), proc.stderr[-2000:]


def test_a_file_that_is_not_audio_is_refused_before_serving(tmp_path, capsys):
    """Without --once it was logged by the capture node, and then the run served visitors
    forever with nothing to hear: refused like a missing file (exit 1), before any node."""
    from dream_session import command
    text = tmp_path / 'text.wav'
    text.write_text('hi\n')
    proc = subprocess.run([sys.executable, '-m', 'dream_session.command', 'run', '--no-record',
                           '--audio-file', str(text)], capture_output=True, text=True,
                          timeout=60)      # (it once served on, forever)
    err = proc.stderr
    assert proc.returncode == 1, err[-3000:]
    assert f'dream run: error: cannot play: cannot read {text} as audio' in err
    assert 'starting:' not in err and 'serving visitors' not in err
    assert 'DREAM_DEBUG' not in err         # the user's file, not a bug: no traceback hint
    assert command.main(['run', '--once', '--no-record', '--audio-file', str(text)]) == 2
    err = capsys.readouterr().err
    assert 'no session finished: cannot play: cannot read' in err and 'starting:' not in err


def test_a_file_that_stops_decoding_is_named_in_the_outcome(tmp_path):
    """Once: 'decoding failed after 0 samples' in the log, and then the final line blamed
    the file for having no speech."""
    dream = pathlib.Path(__file__).parents[3] / 'data' / 'dreams' / 'red_whale.flac'
    broken = tmp_path / 'broken.flac'
    broken.write_bytes(dream.read_bytes()[:1000])
    proc = run_once(tmp_path, broken)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('no session finished: ') and 'decoding failed after' in last, \
        proc.stderr[-3000:]


def test_a_very_quiet_file_says_so_in_the_outcome(tmp_path):
    dream = pathlib.Path(__file__).parents[3] / 'data' / 'dreams' / 'red_whale.flac'
    samples, rate = soundfile.read(str(dream), dtype='float32')
    quiet = tmp_path / 'quiet.wav'
    soundfile.write(str(quiet), samples * (0.0008 / np.max(np.abs(samples))), rate)
    proc = run_once(tmp_path, quiet)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert 'no speech was heard' in last and 'the recording is very quiet (peak -6' in last \
        and 'dBFS): raise the input gain' in last, proc.stderr[-3000:]


def test_serving_from_a_file_says_when_it_has_played_out(tmp_path, silence):
    """Without --once the run goes on after the file (sessions may still be drawn, another
    file may be set): it says so rather than waiting in silence."""
    import signal
    config = tmp_path / 'system.yaml'
    config.write_text(yaml.safe_dump(SYSTEM))
    serve = subprocess.Popen(
        [sys.executable, '-m', 'dream_session.command', 'run', '--fast', '--no-record',
         '--config', str(config), '--audio-file', str(silence)],
        stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(90, serve.kill)     # (it once said nothing: no line comes)
    watchdog.start()
    try:
        lines = []
        while not lines or 'has played out' not in lines[-1]:
            lines.append(serve.stderr.readline())
            assert lines[-1], 'dream run ended early: ' + ''.join(lines)[-3000:]
        assert 'the audio file has played out; sessions go on until Ctrl-C' in lines[-1]
        assert any('serving visitors' in line for line in lines)
        serve.send_signal(signal.SIGINT)
        err = serve.communicate(timeout=60)[1]
    finally:
        watchdog.cancel()
        serve.kill()
    assert serve.returncode == 0, err
