"""The recorder files a message under the session it names, never under another one."""
import threading
import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader

from dream_interfaces.msg import PlotFeedback, PlotResult, SessionStatus, Transcript
from dream_session.recorder_node import RecorderNode

GRACE = 0.2
RESULT_WAIT = 3.0


@pytest.fixture
def system(tmp_path):
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    recorder = RecorderNode(context=context, parameter_overrides=[
        Parameter('output_dir', value=str(tmp_path)), Parameter('close_grace', value=GRACE),
        Parameter('result_wait', value=RESULT_WAIT)])
    node = rclpy.create_node('routing_test', context=context)
    executor.add_node(recorder)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    yield recorder, node
    executor.shutdown()
    recorder.destroy_node()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def _until(condition, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_late_message_of_a_closed_session_goes_into_no_other_bag(system):
    recorder, node = system
    status = node.create_publisher(SessionStatus, 'session/status', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    speech = node.create_publisher(Transcript, 'speech/transcript', QoSProfile(
        depth=100, reliability=ReliabilityPolicy.RELIABLE))
    _until(lambda: speech.get_subscription_count() > 0, 'recorder never subscribed')
    status.publish(SessionStatus(session_id='old', state=SessionStatus.STATE_LISTENING))
    status.publish(SessionStatus(session_id='old', state=SessionStatus.STATE_DONE))
    _until(lambda: len(recorder.closed_bags) == 1, 'the old session never closed')
    status.publish(SessionStatus(session_id='new', state=SessionStatus.STATE_LISTENING))
    _until(lambda: 'new' in recorder._bags, 'the new session never opened')
    for sid, text in [('old', 'late'), ('never-opened', 'stray'), ('new', 'mine'),
                      ('', 'unnamed'), ('old', 'later')]:
        speech.publish(Transcript(session_id=sid, text=text))
    time.sleep(0.3)
    status.publish(SessionStatus(session_id='new', state=SessionStatus.STATE_DONE))
    _until(lambda: len(recorder.closed_bags) == 2, 'the new session never closed')
    with AnyReader([recorder.closed_bags[1]]) as reader:
        texts = [reader.deserialize(raw, c.msgtype).text for c, _, raw in reader.messages()
                 if c.topic == 'speech/transcript']
    # Its own message, and the one that names no session (filed under the latest live one).
    assert texts == ['mine', 'unnamed']
    assert recorder._dropped == {('old', 'speech/transcript'),
                                 ('never-opened', 'speech/transcript')}


def _plot_publishers(node):
    """Publishers of session/status and the plot action's mirrors, once the recorder hears."""
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    status = node.create_publisher(SessionStatus, 'session/status', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    feedback = node.create_publisher(PlotFeedback, 'draw_strokes/feedback_mirror', qos)
    result = node.create_publisher(PlotResult, 'draw_strokes/result_mirror', qos)
    _until(lambda: result.get_subscription_count() and feedback.get_subscription_count(),
           'recorder never subscribed')
    return status, feedback, result


def test_a_session_stays_open_for_the_result_of_an_action_still_stopping(system):
    """A cancelled plot answers once its pen is up and parked, often after close_grace: its
    result was once dropped (or, before that, filed in the next session's bag)."""
    recorder, node = system
    status, feedback, result = _plot_publishers(node)
    for sid in ('slow', 'lost'):
        status.publish(SessionStatus(session_id=sid, state=SessionStatus.STATE_PLOTTING))
        _until(lambda: sid in recorder._bags, 'the session never opened')
        feedback.publish(PlotFeedback(session_id=sid, strokes_done=3))
        time.sleep(0.2)
        status.publish(SessionStatus(session_id=sid, state=SessionStatus.STATE_CANCELLED))
    time.sleep(GRACE + 1.0)
    assert recorder.closed_bags == []            # both still stopping their plot
    result.publish(PlotResult(session_id='slow', error_code=PlotResult.ERROR_CANCELLED))
    _until(lambda: len(recorder.closed_bags) == 1, 'the answered session never closed')
    with AnyReader([recorder.closed_bags[0]]) as reader:
        topics = [c.topic for c, _, _ in reader.messages()]
    assert 'draw_strokes/result_mirror' in topics
    started = time.monotonic()                   # the other never answers: closed anyway
    _until(lambda: len(recorder.closed_bags) == 2, 'the unanswered session never closed')
    assert time.monotonic() - started < RESULT_WAIT + 1


def test_feedback_handled_after_its_result_holds_no_bag_open(system):
    """Two topics keep no order: a result handled before the last feedback once held every
    finished session open for result_wait."""
    recorder, node = system
    status, feedback, result = _plot_publishers(node)
    status.publish(SessionStatus(session_id='quick', state=SessionStatus.STATE_PLOTTING))
    _until(lambda: 'quick' in recorder._bags, 'the session never opened')
    result.publish(PlotResult(session_id='quick'))
    time.sleep(0.2)
    feedback.publish(PlotFeedback(session_id='quick', strokes_done=3))
    time.sleep(0.2)
    status.publish(SessionStatus(session_id='quick', state=SessionStatus.STATE_DONE))
    started = time.monotonic()
    _until(lambda: len(recorder.closed_bags) == 1, 'the session never closed')
    assert time.monotonic() - started < RESULT_WAIT - 1


def test_previews_go_to_the_session_being_drawn_not_the_newest(system):
    """A visitor waiting for the drawing node is the newest session: the previews of the
    drawing being made once went into their bag."""
    from sensor_msgs.msg import Image

    from dream_interfaces.msg import GenerationFeedback, GenerationResult
    recorder, node = system
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    status = node.create_publisher(SessionStatus, 'session/status', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    feedback = node.create_publisher(GenerationFeedback, 'generate_drawing/feedback_mirror',
                                     qos)
    result = node.create_publisher(GenerationResult, 'generate_drawing/result_mirror', qos)
    preview = node.create_publisher(Image, 'drawing/preview', qos)
    _until(lambda: all(p.get_subscription_count() for p in (feedback, result, preview)),
           'recorder never subscribed')
    status.publish(SessionStatus(session_id='drawn', state=SessionStatus.STATE_GENERATING))
    _until(lambda: 'drawn' in recorder._bags, 'the drawn session never opened')
    feedback.publish(GenerationFeedback(session_id='drawn', iteration=1))
    time.sleep(0.2)
    status.publish(SessionStatus(session_id='waiting', state=SessionStatus.STATE_GENERATING))
    _until(lambda: 'waiting' in recorder._bags, 'the waiting session never opened')
    preview.publish(Image(height=1, width=1, encoding='rgb8', step=3, data=[0, 0, 0]))
    time.sleep(0.2)
    result.publish(GenerationResult(session_id='drawn'))
    time.sleep(0.2)
    preview.publish(Image(height=2, width=2, encoding='rgb8', step=6, data=[0] * 12))
    time.sleep(0.2)
    for sid in ('drawn', 'waiting'):
        status.publish(SessionStatus(session_id=sid, state=SessionStatus.STATE_DONE))
    _until(lambda: len(recorder.closed_bags) == 2, 'the sessions never closed')
    heights = {}
    for path in recorder.closed_bags:
        with AnyReader([path]) as reader:
            heights[path.name.split('_')[-1]] = [
                reader.deserialize(raw, c.msgtype).height for c, _, raw in reader.messages()
                if c.topic == 'drawing/preview']
    # during the drawing: the drawn session; after its result: the newest live one
    assert heights == {'drawn': [1], 'waiting': [2]}, heights


def test_a_restarted_recorder_opens_bags_only_for_sessions_still_live(tmp_path):
    """The status topic is latched: a recorder started late hears the last statuses of
    sessions already over. Once, it wrote a second, near-empty bag for each of them."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    node = rclpy.create_node('manager_before', context=context)
    status = node.create_publisher(SessionStatus, 'session/status', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    S = SessionStatus
    for sid, state in [('over', S.STATE_GENERATING), ('over', S.STATE_PLOTTING),
                       ('over', S.STATE_DONE), ('live', S.STATE_LISTENING),
                       ('live', S.STATE_GENERATING)]:
        status.publish(SessionStatus(session_id=sid, state=state))
    time.sleep(0.2)                      # published before the recorder starts
    recorder = RecorderNode(context=context, parameter_overrides=[
        Parameter('output_dir', value=str(tmp_path)), Parameter('close_grace', value=GRACE)])
    executor.add_node(recorder)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        _until(lambda: 'live' in recorder._bags, 'the live session got no bag')
        status.publish(SessionStatus(session_id='live', state=S.STATE_DONE))
        _until(lambda: len(recorder.closed_bags) == 1, 'the live session never closed')
        time.sleep(0.5)
        assert [p.name.endswith('_live') for p in tmp_path.iterdir()] == [True]
        with AnyReader(recorder.closed_bags) as reader:
            states = [reader.deserialize(raw, c.msgtype).state for c, _, raw in
                      reader.messages() if c.topic == 'session/status']
        # its history first, then what came after the recorder started
        assert states == [S.STATE_LISTENING, S.STATE_GENERATING, S.STATE_DONE]
    finally:
        executor.shutdown()
        recorder.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_a_session_whose_manager_left_the_graph_has_its_bag_closed(system):
    """Once, a session manager killed mid-session left its session's bag open (a RECORDING
    marker) until the recorder itself stopped."""
    recorder, node = system
    manager = rclpy.create_node('doomed_manager', context=node.context)
    status = manager.create_publisher(SessionStatus, 'session/status', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    status.publish(SessionStatus(session_id='orphan', state=SessionStatus.STATE_PLOTTING))
    _until(lambda: 'orphan' in recorder._bags, 'the session got no bag')
    time.sleep(1.5)
    assert not recorder.closed_bags            # its manager is there: it stays open
    manager.destroy_node()                     # killed
    _until(lambda: len(recorder.closed_bags) == 1, 'the bag was never closed', timeout=15)
    assert not (recorder.closed_bags[0] / 'RECORDING').exists()


def test_a_recorder_stopped_alone_winds_down_once_nothing_comes(system):
    """The QA's recorder waited its whole grace (4 s) for a last status nobody was sending."""
    recorder, node = system
    status = node.create_publisher(SessionStatus, 'session/status', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    status.publish(SessionStatus(session_id='going', state=SessionStatus.STATE_PLOTTING))
    _until(lambda: 'going' in recorder._bags, 'the session got no bag')
    done = recorder.wind_down()
    assert not done()                         # a last status may still be on its way
    status.publish(SessionStatus(session_id='going', state=SessionStatus.STATE_PLOTTING))
    time.sleep(0.6)
    assert not done()                         # something came 0.6 s ago
    _until(done, 'the wind-down never ended', timeout=3)
