"""Session manager, stand-in stage servers and the recorder running as one ROS graph."""
import time

import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from std_msgs.msg import Bool

from dream_interfaces.msg import SessionStatus, Transcript, Utterance
from dream_session.runner import SingleProcessRunner
from dream_session.system_config import NodeSpec

S = SessionStatus


def specs(output_dir, **manager):
    return [
        NodeSpec('session_manager', 'dream_session.session_manager_node:SessionManagerNode',
                 'session_manager_node', dict({'server_wait': 5.0}, **manager)),
        NodeSpec('clipdraw', 'dream_session.stand_in_drawing_server:StandInDrawingServer', '', {}),
        NodeSpec('plotter', 'dream_session.stand_in_plotter:StandInPlotter', '', {}),
        NodeSpec('recorder', 'dream_session.recorder_node:RecorderNode', 'recorder_node',
                 {'output_dir': str(output_dir), 'flush_interval': 0.2, 'close_grace': 0.3}),
    ]


class Visitor:
    """Plays the audio and speech nodes' part: speaking flag, utterance, transcript."""

    def __init__(self, runner):
        self.node = rclpy.create_node('visitor', context=runner.context)
        runner.add_node(self.node)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.speaking = self.node.create_publisher(Bool, 'audio/speaking', qos)
        self.utterance = self.node.create_publisher(Utterance, 'audio/utterance', qos)
        self.transcript = self.node.create_publisher(Transcript, 'speech/transcript', qos)
        self.statuses = []
        self.node.create_subscription(SessionStatus, 'session/status', self.statuses.append,
                                      latched)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() for p in (self.speaking, self.utterance,
                                                     self.transcript)):
            time.sleep(0.05)

    def tell(self, text, status=Transcript.STATUS_OK):
        self.speaking.publish(Bool(data=True))
        time.sleep(0.2)
        self.speaking.publish(Bool(data=False))
        self.utterance.publish(Utterance(end_reason=Utterance.END_SILENCE))
        time.sleep(0.2)
        self.transcript.publish(Transcript(text=text, status=status, is_final=True,
                                           status_message='' if status == 0 else 'no speech'))

    def states(self, sid):
        return [s.state for s in self.statuses if s.session_id == sid]


@pytest.fixture
def graph(tmp_path):
    runners = []

    def start(**manager):
        runner = SingleProcessRunner(specs(tmp_path, **manager)).start()
        runners.append(runner)
        return runner, Visitor(runner)
    yield start
    for runner in runners:
        runner.stop(grace=0.5)


def wait_finished(runner, count=1, timeout=20):
    manager = runner.nodes['session_manager']
    assert runner.wait(lambda: len(manager.finished) >= count, timeout=timeout,
                       install_signals=False), 'session did not finish'
    return manager.finished[count - 1]


def read_bag(path):
    with AnyReader([path]) as reader:
        return [(c.topic, reader.deserialize(raw, c.msgtype)) for c, _, raw in reader.messages()]


def test_one_session_runs_through_every_state_and_is_recorded(graph, tmp_path):
    runner, visitor = graph()
    visitor.tell('a red whale flying over a city at night')
    session = wait_finished(runner)
    assert session.state == S.STATE_DONE
    sid = session.session_id
    # the manager counts the session finished as it publishes: the status is still on its way
    runner.wait(lambda: S.STATE_DONE in visitor.states(sid), timeout=5, install_signals=False)
    assert visitor.states(sid) == [S.STATE_LISTENING, S.STATE_TRANSCRIBING, S.STATE_GENERATING,
                                   S.STATE_PLOTTING, S.STATE_DONE]
    recorder = runner.nodes['recorder']
    assert runner.wait(lambda: recorder.closed_bags, timeout=10, install_signals=False)
    messages = read_bag(recorder.closed_bags[0])
    topics = {topic for topic, _ in messages}
    assert {'session/status', 'speech/transcript', 'drawing', 'draw_strokes/result_mirror',
            'generate_drawing/result_mirror', 'draw_strokes/feedback_mirror'} <= topics
    drawings = [m for t, m in messages if t == 'drawing']
    assert drawings[0].session_id == sid and len(drawings[0].strokes) == 3
    states = [m.state for t, m in messages if t == 'session/status']
    assert states[-1] == S.STATE_DONE


def test_rejected_speech_is_asked_again_then_a_failed_stage_fails_only_its_session(graph):
    runner, visitor = graph()
    visitor.tell('', status=Transcript.STATUS_REJECTED_NO_SPEECH)
    time.sleep(0.5)
    visitor.tell('please fail this drawing')
    first = wait_finished(runner)
    assert first.state == S.STATE_FAILED and first.error_code == S.ERROR_GENERATION
    assert first.repeats_asked == 1
    visitor.tell('a quiet lake')
    second = wait_finished(runner, count=2)
    assert second.state == S.STATE_DONE and second.session_id != first.session_id


def test_generation_timeout_cancels_the_goal(graph):
    runner, visitor = graph(generating_timeout=1.0)
    visitor.tell('a slow dream')
    session = wait_finished(runner)
    assert session.state == S.STATE_FAILED and session.error_code == S.ERROR_TIMEOUT


def test_blocked_prompt_is_refused_before_drawing(graph):
    runner, visitor = graph(prompt_blocklist=['forbidden'], max_repeats=0)
    visitor.tell('a Forbidden garden')
    session = wait_finished(runner)
    assert session.state == S.STATE_FAILED and session.error_code == S.ERROR_SPEECH_REJECTED
    assert 'forbidden' in session.message.lower()


def test_a_missing_server_fails_its_session_after_server_wait_and_a_late_one_is_used(tmp_path):
    """The manager never blocks waiting for a server (one thread spins it): it retries."""
    import uuid

    from dream_session.stand_in_drawing_server import StandInDrawingServer
    # a namespace of its own: the graph may still list servers that other tests (or processes
    # killed before their leases ran out) left on this domain
    runner = SingleProcessRunner([s for s in specs(tmp_path, server_wait=1.5)
                                  if s.name != 'clipdraw'],
                                 ros_args=['-r', f'__ns:=/lonely_{uuid.uuid4().hex[:8]}']).start()
    try:
        visitor = Visitor(runner)
        visitor.tell('a dream with no painter')
        first = wait_finished(runner)
        assert first.state == S.STATE_FAILED and first.error_code == S.ERROR_GENERATION
        assert 'no generate_drawing action server' in first.message
        visitor.tell('a dream whose painter comes late')
        time.sleep(0.3)
        runner.add_node(StandInDrawingServer(context=runner.context))
        second = wait_finished(runner, count=2)
        assert second.state == S.STATE_DONE, second.message
    finally:
        runner.stop(grace=0.5)


def test_a_server_that_never_answers_the_goal_fails_its_session_not_the_next(tmp_path):
    """A hung server (or one gone with its lease not yet run out) must not hold a session
    for the whole generating timeout."""
    import threading
    import uuid

    from rclpy.action import ActionServer

    from dream_interfaces.action import GenerateDrawing
    from dream_session.stand_in_drawing_server import StandInDrawingServer

    release = threading.Event()
    runner = SingleProcessRunner([s for s in specs(tmp_path, goal_reply_timeout=2.0)
                                  if s.name != 'clipdraw'],
                                 ros_args=['-r', f'__ns:=/hung_{uuid.uuid4().hex[:8]}']).start()
    try:
        hung = rclpy.create_node('clipdraw', context=runner.context)
        ActionServer(hung, GenerateDrawing, 'generate_drawing', lambda handle: None,
                     goal_callback=lambda goal: release.wait(30) and None)
        runner.add_node(hung)
        visitor = Visitor(runner)
        assert runner.wait(lambda: runner.nodes['session_manager']._generate.server_is_ready(),
                           timeout=10, install_signals=False)
        started = time.monotonic()
        visitor.tell('a dream for a painter who never answers')
        first = wait_finished(runner)
        assert first.state == S.STATE_FAILED and first.error_code == S.ERROR_GENERATION
        assert 'did not answer' in first.message and time.monotonic() - started < 10
        assert runner.nodes['session_manager'].goals_in_flight() == 0
        release.set()                 # its late answer (a refusal) is ignored
        time.sleep(0.3)
        runner.remove_node(hung)
        runner.add_node(StandInDrawingServer(context=runner.context))
        time.sleep(0.5)
        visitor.tell('a dream for a painter who answers')
        second = wait_finished(runner, count=2)
        assert second.state == S.STATE_DONE, second.message
    finally:
        release.set()
        runner.stop(grace=0.5)


def test_a_server_gone_mid_drawing_fails_its_session_even_if_another_replaces_it(tmp_path):
    """Once, a drawing node killed mid-drawing (then restarted) left its session generating,
    and every visitor after it waiting, until the 15-minute generating timeout."""
    import uuid

    from dream_session.stand_in_drawing_server import StandInDrawingServer
    runner = SingleProcessRunner([s for s in specs(tmp_path) if s.name != 'clipdraw'],
                                 ros_args=['-r', f'__ns:=/gone_{uuid.uuid4().hex[:8]}']).start()
    try:
        painter = StandInDrawingServer(context=runner.context, parameter_overrides=[
            rclpy.parameter.Parameter('slow_seconds', value=60.0)])
        runner.add_node(painter)
        visitor = Visitor(runner)
        manager = runner.nodes['session_manager']
        assert runner.wait(lambda: manager._generate.server_is_ready(), timeout=10,
                           install_signals=False)
        visitor.tell('a slow dream whose painter dies')
        assert runner.wait(lambda: manager.goals_in_flight() == 1, timeout=10,
                           install_signals=False)
        runner.remove_node(painter)             # killed mid-drawing ...
        runner.add_node(StandInDrawingServer(context=runner.context))   # ... and restarted
        started = time.monotonic()
        first = wait_finished(runner)
        assert first.state == S.STATE_FAILED and first.error_code == S.ERROR_GENERATION
        assert 'the drawing node left the graph during the drawing' in first.message
        assert time.monotonic() - started < 10
        visitor.tell('a dream for the new painter')
        second = wait_finished(runner, count=2)
        assert second.state == S.STATE_DONE, second.message
    finally:
        runner.stop(grace=0.5)


def test_a_speech_node_gone_while_transcribing_fails_its_session_soon(graph):
    """Once, a speech node killed mid-transcription left its session transcribing for the
    whole transcribing timeout (60 s), with a message that did not say why."""
    runner, visitor = graph(transcribing_timeout=120.0)
    speech = rclpy.create_node('speech', context=runner.context)
    speech.create_publisher(Transcript, 'speech/transcript', 10)
    runner.add_node(speech)
    time.sleep(0.5)
    visitor.speaking.publish(Bool(data=True))
    time.sleep(0.2)
    visitor.speaking.publish(Bool(data=False))
    visitor.node.destroy_publisher(visitor.transcript)   # only the speech node transcribes
    visitor.utterance.publish(Utterance(end_reason=Utterance.END_SILENCE))
    time.sleep(1.0)
    started = time.monotonic()
    runner.remove_node(speech)                           # killed mid-transcription
    session = wait_finished(runner)
    assert session.state == S.STATE_FAILED and session.error_code == S.ERROR_STT
    assert 'the speech node left the graph while transcribing' in session.message
    assert time.monotonic() - started < 10


MY_ARM = '''
from rclpy.node import Node

from dream_session.stand_in_plotter import StandInPlotter


class MyArm(StandInPlotter):
    """A user's driver: keyword arguments passed on to Node, as README says."""


class Plain(Node):
    def __init__(self):
        super().__init__('plain')
'''


def test_your_own_driver_is_named_by_its_key_and_a_wrong_one_is_explained(
        tmp_path, monkeypatch):
    from dream_session.system_config import ConfigError
    (tmp_path / 'my_arm.py').write_text(MY_ARM)
    monkeypatch.syspath_prepend(str(tmp_path))
    arm = NodeSpec('myarm', 'my_arm:MyArm', 'my_arm', {})
    runner = SingleProcessRunner(specs(tmp_path)[:2] + [arm]).start()
    try:
        assert runner.nodes['myarm'].get_name() == 'myarm'     # as ros2 launch names it
        Visitor(runner).tell('a red whale')
        assert wait_finished(runner).state == S.STATE_DONE
    finally:
        runner.stop(grace=0.5)
    for spec, message in (
            (NodeSpec('myarm', 'my_arm:Plain', 'my_arm', {}),
             "myarm: my_arm:Plain must take keyword arguments and pass them on to rclpy Node"),
            (NodeSpec('myarm', 'no_arm_here:Arm', 'x', {}),
             "myarm: cannot import no_arm_here (No module named 'no_arm_here'): install its "
             "package, or put its folder on PYTHONPATH"),
            (NodeSpec('myarm', 'my_arm:Arm', 'x', {}), 'myarm: my_arm has no Arm')):
        with pytest.raises(ConfigError) as err:
            SingleProcessRunner([spec]).start()
        assert message in str(err.value)


def test_an_old_drawing_is_plotted_again_from_its_bag(graph, tmp_path):
    """``dream replay --from-stage plot``: the recorded drawing through a live plotter."""
    import subprocess
    import sys
    runner, visitor = graph()
    visitor.tell('a lighthouse')
    assert wait_finished(runner).state == S.STATE_DONE
    recorder = runner.nodes['recorder']
    assert runner.wait(lambda: recorder.closed_bags, timeout=10, install_signals=False)
    runner.stop(grace=0.5)
    proc = subprocess.run(
        [sys.executable, '-m', 'dream_session.command', 'replay', str(recorder.closed_bags[0]),
         '--from-stage', 'plot', '--sessions-dir', str(tmp_path / 'again'), '--timeout', '60',
         '--set', 'sim.time_scale=0.0'], cwd=tmp_path, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = next((tmp_path / 'again').iterdir())
    drawings = [m for t, m in read_bag(again) if t == 'drawing']
    assert [len(d.strokes) for d in drawings] == [3]
    results = [m for t, m in read_bag(again) if t == 'draw_strokes/result_mirror']
    assert results[-1].strokes_done == 3 and results[-1].error_code == 0


def test_a_visitor_who_ends_while_a_drawing_is_made_is_drawn_after_it(graph):
    """Once the drawing node refused the second goal as busy and that visitor's session
    failed ('another drawing is being generated')."""
    runner, visitor = graph(max_queued_plots=2)
    runner.nodes['clipdraw'].set_parameters([rclpy.parameter.Parameter('slow_seconds',
                                                                       value=1.5)])
    visitor.tell('a slow whale')
    time.sleep(0.5)
    visitor.tell('a quiet lake')
    first, second = wait_finished(runner), wait_finished(runner, count=2)
    assert (first.state, second.state) == (S.STATE_DONE, S.STATE_DONE), (first.message,
                                                                         second.message)
    waited = [s.message for s in visitor.statuses if s.session_id == second.session_id]
    assert any(m.startswith('waiting for the drawing node') for m in waited), waited


def test_a_cancel_names_the_session_it_cancelled(graph):
    from dream_interfaces.srv import ControlSession
    runner, visitor = graph()
    runner.nodes['clipdraw'].set_parameters([rclpy.parameter.Parameter('slow_seconds',
                                                                       value=30.0)])
    client = visitor.node.create_client(ControlSession, 'session/control')
    assert client.wait_for_service(timeout_sec=10)

    def call(command, sid=''):
        future = client.call_async(ControlSession.Request(command=command, session_id=sid))
        assert runner.wait(future.done, timeout=10, install_signals=False)
        return future.result()
    visitor.tell('a slow whale')
    assert runner.wait(lambda: S.STATE_GENERATING in [s.state for s in visitor.statuses],
                       timeout=10, install_signals=False)
    reply = call(ControlSession.Request.COMMAND_CANCEL)
    sid = runner.nodes['session_manager'].finished[0].session_id
    assert reply.accepted and reply.session_id == sid
    assert reply.message == f'cancelled session {sid} (it was generating)'
    reply = call(ControlSession.Request.COMMAND_CANCEL, 'nope')
    assert not reply.accepted and reply.message == "no live session 'nope'"
    started = call(ControlSession.Request.COMMAND_START)
    again = call(ControlSession.Request.COMMAND_START, 'mine')
    assert again.session_id == started.session_id
    assert again.message == (f"session {started.session_id} is already listening (the id "
                             "'mine' is not used)")
