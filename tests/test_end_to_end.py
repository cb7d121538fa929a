"""The whole chain, each node in its own process as ``ros2 launch`` would start them.

A spoken dream (espeak-ng) goes through the file source, VAD, Whisper tiny.en, CLIPDraw with
a tiny random CLIP and a few iterations (its drawing means nothing: this checks the plumbing),
the simulated plotter and the recorder. Then we replay the bag's utterance into a fresh speech
recogniser and expect the same transcript.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
import yaml

rclpy = pytest.importorskip('rclpy')
from rclpy.action import ActionClient  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402

from dream_interfaces.action import DrawStrokes, GenerateDrawing  # noqa: E402
from dream_interfaces.msg import PlotResult, SessionStatus, Transcript  # noqa: E402
from dream_session.system_config import load_system  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
S = SessionStatus
DREAM = 'I dreamed of a red whale flying over the city.'

pytestmark = pytest.mark.skipif(shutil.which('espeak-ng') is None,
                                reason='espeak-ng makes the spoken dream')


def launch(specs, workdir):
    """Start every node in its own process with a ROS parameters file, like ros2 launch."""
    procs = []
    for spec in specs:
        params = workdir / f'{spec.name}.yaml'
        params.write_text(yaml.safe_dump({spec.name: {'ros__parameters': spec.parameters}}))
        module = spec.class_path.split(':')[0]
        log = open(workdir / f'{spec.name}.log', 'w')
        procs.append((spec.name, log, subprocess.Popen(
            [sys.executable, '-c', f'import sys; from {module} import main; sys.exit(main())',
             '--ros-args', '-r', f'__node:={spec.name}', '--params-file', str(params)],
            stdout=log, stderr=subprocess.STDOUT)))
    return procs


def stop(procs):
    for _, _, proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for _, log, proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def logs(workdir):
    return '\n'.join(f'--- {p.name}\n' + p.read_text()[-3000:]
                     for p in sorted(workdir.glob('*.log')))


@pytest.fixture(scope='module')
def observer():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('e2e_observer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    node.destroy_node()
    rclpy.try_shutdown(context=context)


@pytest.fixture(scope='module')
def session(tmp_path_factory, observer):
    from dream_audio.speech_synthesis import synthesize
    from dream_clipdraw.tiny_clip import write_tiny_clip

    node, executor = observer
    work = tmp_path_factory.mktemp('e2e')
    audio = synthesize(DREAM, work / 'dream.wav', wpm=140, pad_before=1.0, pad_after=2.5)
    tiny = write_tiny_clip(work / 'clip')
    overrides = {
        'audio_capture': {'source': 'file', 'file_path': str(audio), 'realtime': True},
        'stt': {'model': 'tiny.en', 'task': 'transcribe', 'language': 'en'},
        'clipdraw': {'clip_model': tiny.model_name, 'clip_pretrained': tiny.weights,
                     'clip_model_config': tiny.config, 'preset': 'cpu', 'iterations': 3,
                     'num_strokes': 8, 'canvas_size': 64, 'preview_every': 1},
        'session_manager': {'once': True, 'generating_timeout': 300.0},
        'sim': {'time_scale': 0.0, 'output_dir': str(work / 'plots')},
        'recorder': {'output_dir': str(work / 'sessions'), 'close_grace': 1.0},
    }
    specs = load_system(ROOT / 'launch' / 'dreaming_machine.yaml', driver='sim',
                        overrides=overrides)
    statuses = []
    latched = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(SessionStatus, 'session/status', statuses.append, latched)
    # The visitor speaks once the machine is up: start the audio source last.
    procs = launch([s for s in specs if s.name != 'audio_capture'], work)
    try:
        deadline = time.monotonic() + 600
        generate = ActionClient(node, GenerateDrawing, 'generate_drawing')
        plot = ActionClient(node, DrawStrokes, 'draw_strokes')
        while not (node.count_subscribers('audio/chunks') >= 1
                   and node.count_subscribers('audio/utterance') >= 3
                   and node.count_subscribers('speech/transcript') >= 2
                   and generate.server_is_ready() and plot.server_is_ready()):
            dead = [name for name, _, proc in procs if proc.poll() is not None]
            assert not dead, f'nodes exited: {dead}\n' + logs(work)
            assert time.monotonic() < deadline, 'the graph never came up\n' + logs(work)
            executor.spin_once(timeout_sec=0.2)
        procs += launch([s for s in specs if s.name == 'audio_capture'], work)
        while not any(s.state in (S.STATE_DONE, S.STATE_FAILED, S.STATE_CANCELLED)
                      for s in statuses):
            dead = [name for name, _, proc in procs if proc.poll() is not None]
            assert not dead, f'nodes exited: {dead}\n' + logs(work)
            assert time.monotonic() < deadline, 'no session finished\n' + logs(work)
            executor.spin_once(timeout_sec=0.1)
        time.sleep(2.0)      # the recorder's grace period for trailing messages
    finally:
        stop(procs)
    bags = sorted(p for p in (work / 'sessions').iterdir() if p.is_dir())
    return {'work': work, 'statuses': statuses, 'bags': bags, 'logs': logs(work)}


def bag_messages(bag):
    with AnyReader([bag]) as reader:
        return [(c.topic, reader.deserialize(raw, c.msgtype)) for c, _, raw in reader.messages()]


def test_state_sequence(session):
    states = [s.state for s in session['statuses'] if s.session_id]
    assert states == [S.STATE_LISTENING, S.STATE_TRANSCRIBING, S.STATE_GENERATING,
                      S.STATE_PLOTTING, S.STATE_DONE], session['logs']


def test_bag_holds_the_whole_session(session):
    assert len(session['bags']) == 1
    messages = bag_messages(session['bags'][0])
    by_topic = {}
    for topic, msg in messages:
        by_topic.setdefault(topic, []).append(msg)
    transcript = by_topic['speech/transcript'][-1]
    assert transcript.status == Transcript.STATUS_OK
    assert 'whale' in transcript.text.lower()
    assert by_topic['audio/utterance'][0].sample_rate == 16000
    drawing = by_topic['drawing'][-1]
    assert drawing.prompt == transcript.text and len(drawing.strokes) == 8
    assert by_topic['generate_drawing/result_mirror'][-1].error_code == 0
    assert by_topic['draw_strokes/result_mirror'][-1].error_code == PlotResult.ERROR_NONE
    assert by_topic['draw_strokes/result_mirror'][-1].strokes_done == 8
    assert by_topic['drawing/preview']
    sids = {m.session_id for t, m in messages if hasattr(m, 'session_id')}
    assert sids == {transcript.session_id} and transcript.session_id, sids


def test_plotted_result_is_written(session):
    pngs = list((session['work'] / 'plots').glob('*.png'))
    svgs = list((session['work'] / 'plots').glob('*.svg'))
    assert pngs and svgs
    from PIL import Image
    import numpy as np
    ink = np.asarray(Image.open(pngs[0]).convert('L')) < 128
    assert ink.any(), 'the simulated pen drew nothing'


def test_replay_from_stt_gives_the_same_transcript(session):
    bag = session['bags'][0]
    recorded = [m for t, m in bag_messages(bag) if t == 'speech/transcript'][-1]
    env = dict(os.environ)
    out = session['work'] / 'replayed'
    proc = subprocess.run(
        [sys.executable, '-m', 'dream_session.command', 'replay', str(bag),
         '--from-stage', 'stt', '--sessions-dir', str(out), '--timeout', '300',
         '--set', 'stt.model=tiny.en', '--set', 'stt.task=transcribe',
         '--set', 'stt.language=en',
         '--set', f'clipdraw.clip_model={_tiny(session)["model"]}',
         '--set', f'clipdraw.clip_pretrained={_tiny(session)["weights"]}',
         '--set', f'clipdraw.clip_model_config={_tiny(session)["config"]}',
         '--set', 'clipdraw.iterations=2', '--set', 'clipdraw.num_strokes=4',
         '--set', 'clipdraw.canvas_size=64', '--set', 'sim.time_scale=0.0',
         '--set', f'sim.output_dir={out / "plots"}'],
        capture_output=True, text=True, env=env, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    bags = [p for p in out.iterdir() if p.is_dir() and p.name != 'plots']
    assert len(bags) == 1
    messages = bag_messages(bags[0])
    replayed = [m for t, m in messages if t == 'speech/transcript'][-1]
    assert replayed.text == recorded.text
    # The re-run's bag holds the utterance it started from (it opens the session first).
    assert [m.sample_rate for t, m in messages if t == 'audio/utterance'] == [16000]
    assert replayed.session_id != recorded.session_id


def _tiny(session):
    folder = session['work'] / 'clip'
    config = next(folder.glob('*.json'))
    return {'model': config.stem, 'config': str(config),
            'weights': str(next(folder.glob('*.pt')))}
