"""ROS node: ``audio/chunks`` -> ``audio/utterance`` (dream_interfaces/Utterance).

Runs the UtteranceSegmenter (Silero VAD) on the chunk stream and publishes each finished
utterance, pre-roll included, stamped with the capture time of its first sample (taken from
the chunk stamps, so it is right under bag replay too). ``audio/speaking`` (std_msgs/Bool,
latched) says whether a visitor is speaking now. Push-to-talk: the ``audio/control`` service
(dream_interfaces/ControlSession: START, STOP -> END_MANUAL, CANCEL) and the
``audio/push_to_talk`` topic (True starts, False ends).

``audio/utterance_preview`` (Utterance) is published once per pause, as soon as the post-roll
after the last speech has been heard: the utterance as it will be if the pause lasts. The
speech node starts recognising it then, a second or more before the silence wait ends the
utterance; when the final utterance has the same start and length it reuses that work.

It is a node of its own (not part of audio_capture) so that a recorded ``audio/chunks`` can be
replayed through it with other VAD settings. The stream ends (END_STREAM) on an AudioChunk
with no data, or when no chunk has come for ``stream_timeout`` seconds.

Time: utterance stamps come from the chunk stamps only, never from the node's clock. The
``stream_timeout`` is counted on the node's clock, so under ``use_sim_time`` it is sim time: a
replay (``dream replay --clock``, any ``--rate``) ends utterances where the live session did,
and a paused simulation (/clock standing still) does not end them, however long it waits.
A clock that goes back (a replay restarted) restarts the count, and a count begun before the
first /clock (the clock read 0) starts at the first /clock.
"""
import sys

from dream_interfaces.msg import AudioChunk, SessionStatus, Utterance
from dream_interfaces.srv import ControlSession
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool

from dream_audio.audio_capture_node import CHUNK_QOS
from dream_audio.parameters import declare, refuse_other_words
from dream_audio.pcm import ENCODINGS
from dream_audio.ros_messages import chunk_from_msg, utterance_to_msg
from dream_audio.sample_clock import SampleClock
from dream_audio.segmenter import SegmenterConfig, UtteranceSegmenter
from dream_audio.speech_detector import SAMPLE_RATE, SileroSpeechDetector
from dream_runtime.node_process import run_node

UTTERANCE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                           reliability=ReliabilityPolicy.RELIABLE)
# Latched, so that a node started later still learns whether someone is speaking.
STATUS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
SPEAKING_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
CONTROL_NAMES = {ControlSession.Request.COMMAND_START: 'START',
                 ControlSession.Request.COMMAND_STOP: 'STOP',
                 ControlSession.Request.COMMAND_CANCEL: 'CANCEL'}
# The text parameters that take one of a few words (refused otherwise, listed by dream params).
CHOICES = {'encoding': ENCODINGS}


class NoSpeechDetector:
    """Hears no speech, loads nothing: the detector of a VAD node built only to read its
    parameters."""
    window = 512

    def reset(self):
        pass

    def __call__(self, window):
        return 0.0


class VadNode(Node):
    def __init__(self, detector=None, acquire_resources=True, **kwargs):
        """``detector``: a speech detector (default Silero, loaded here);
        ``acquire_resources=False``: load none (see NoSpeechDetector)."""
        if detector is None and not acquire_resources:
            detector = NoSpeechDetector()
        super().__init__('vad', **kwargs)
        # Before the declarations: an encoding not in its words fails the start.
        refuse_other_words(self, CHOICES)
        defaults = SegmenterConfig()
        config = SegmenterConfig(
            threshold=declare(self, 'threshold', defaults.threshold,
                              'speech probability (Silero) at which a window is speech',
                              0.05, 0.95),
            negative_threshold=declare(
                self, 'negative_threshold', -1.0, 'below this probability a window is '
                'silence; negative: threshold - 0.15', -1.0, 0.95),
            pre_roll=declare(self, 'pre_roll', defaults.pre_roll,
                             'seconds kept before the speech onset', 0.0, 2.0),
            post_roll=declare(self, 'post_roll', defaults.post_roll,
                              'seconds kept after the last speech', 0.0, 2.0),
            min_silence=declare(self, 'min_silence', defaults.min_silence,
                                'seconds of silence that end an utterance (pauses shorter '
                                'than this do not cut the dream)', 0.1, 10.0),
            min_speech=declare(self, 'min_speech', defaults.min_speech,
                               'utterances with less speech than this (s) are ignored as '
                               'blips', 0.0, 5.0),
            max_length=declare(self, 'max_length', defaults.max_length,
                               'seconds at which a long utterance is split', 2.0, 600.0),
            max_gap=declare(self, 'max_gap', defaults.max_gap,
                            'seconds of dropped audio filled with silence; a longer gap '
                            'ends the stream', 0.0, 10.0))
        if config.negative_threshold is not None and config.negative_threshold < 0:
            config.negative_threshold = None
        self._encoding = declare(self, 'encoding', 'pcm_s16le',
                                 f'encoding of the utterances: {", ".join(ENCODINGS)}',
                                 read_only=True)
        self._stream_timeout = declare(
            self, 'stream_timeout', 3.0, 'seconds without chunks (counted on the node clock, '
            'sim time under use_sim_time, from the last chunk or a manual start, whichever '
            'is later) after which an open utterance ends (END_STREAM); 0: never', 0.0, 60.0)
        self._frame_id = ''
        try:
            self._segmenter = UtteranceSegmenter(detector or SileroSpeechDetector(), config)
        except ValueError as exc:
            self.get_logger().error(f'invalid VAD parameters ({exc}): using the defaults')
            self._segmenter = UtteranceSegmenter(detector or SileroSpeechDetector())
        self._sample_clock = SampleClock(SAMPLE_RATE)
        self._session_id = ''        # from ControlSession, else session/status or the chunks
        self._controlled_session = ''
        self._speaking = None
        self._last_chunk = None      # node-clock time (s) of the last chunk or manual start
        self.streams_ended = 0       # end-of-stream chunks handled (a file played out)
        # Sample index at which a cancelled session's utterance was dropped, while the speech
        # that goes on is dropped too (until it ends, or min_silence passes without it).
        self._muted_since = None
        self._warned = set()
        self._utterances = self.create_publisher(Utterance, 'audio/utterance', UTTERANCE_QOS)
        self._previews = self.create_publisher(Utterance, 'audio/utterance_preview',
                                               UTTERANCE_QOS)
        self._speaking_pub = self.create_publisher(Bool, 'audio/speaking', SPEAKING_QOS)
        self.create_subscription(AudioChunk, 'audio/chunks', self._on_chunk, CHUNK_QOS)
        self.create_subscription(Bool, 'audio/push_to_talk', self._on_push_to_talk,
                                 UTTERANCE_QOS)
        self.create_service(ControlSession, 'audio/control', self._on_control)
        self.create_subscription(SessionStatus, 'session/status', self._on_status, STATUS_QOS)
        self.create_timer(0.25, self._check_stream)
        self._publish_speaking(False)
        c = self._segmenter.config
        self.get_logger().info(
            f'listening: speech at p >= {c.threshold:g}, utterances end after '
            f'{c.min_silence:g} s of silence or at {c.max_length:g} s')

    def _on_status(self, msg):
        """Stamp utterances with the session manager's listening session."""
        if self._controlled_session or not msg.session_id:
            return
        if msg.state in (SessionStatus.STATE_LISTENING, SessionStatus.STATE_TRANSCRIBING):
            self._set_session(msg.session_id)
        elif msg.session_id == self._session_id:
            if msg.state == SessionStatus.STATE_CANCELLED and self._segmenter.cancel():
                # cancelled while the visitor spoke: what was said so far, and the rest of
                # it, is no dream of the next session
                self.get_logger().info(f'session {msg.session_id} cancelled: its open '
                                       'utterance is dropped, and the speech that goes on')
                self._muted_since = self._segmenter.position or 0
                self._publish_speaking(False)
            self._set_session('')     # that session has moved on: the next speech is new

    # -- audio -------------------------------------------------------------------------
    def _now(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_chunk(self, msg):
        self._last_chunk = self._now()
        self._frame_id = msg.header.frame_id
        if msg.session_id and not self._controlled_session:
            self._set_session(msg.session_id)
        if not msg.data:
            self._publish_all(self._segmenter.flush())
            self._sample_clock.reset()
            self.streams_ended += 1
            return
        try:
            chunk = chunk_from_msg(msg)
        except ValueError as exc:
            self._warn_once('format', f'dropping a malformed audio chunk: {exc}')
            return
        if chunk.sample_rate != SAMPLE_RATE:
            self._warn_once('rate', f'dropping {chunk.sample_rate} Hz chunks: the VAD needs '
                            f'{SAMPLE_RATE} Hz (audio_capture resamples to it)')
            return
        self._sample_clock.add(chunk.sample_index, chunk.capture_time)
        self._publish_all(self._segmenter.feed(chunk.samples, chunk.sample_index))
        quiet = SAMPLE_RATE * self._segmenter.config.min_silence
        if (self._muted_since is not None and not self._segmenter.in_utterance
                and (self._segmenter.position or 0) - self._muted_since >= quiet):
            self._muted_since = None         # the visitor had stopped: listen again
        preview = self._segmenter.take_preview()
        if preview is not None:
            self._previews.publish(self._to_msg(preview))

    def _check_stream(self):
        if self._last_chunk is None:
            return
        now = self._now()
        if now < self._last_chunk or self._last_chunk == 0:
            self._last_chunk = now    # the clock went back, or /clock has only just come
        if (self._stream_timeout > 0 and self._segmenter.in_utterance
                and now - self._last_chunk > self._stream_timeout):
            self.get_logger().warning(
                f'no audio for {self._stream_timeout:g} s: ending the open utterance')
            self._publish_all(self._segmenter.flush())
            self._sample_clock.reset()
            self._last_chunk = None

    def _to_msg(self, utterance):
        try:
            start = self._sample_clock.time_of(utterance.start_index)
            end = self._sample_clock.time_of(utterance.end_index)
        except ValueError:
            start = end = 0.0
        return utterance_to_msg(utterance, start, end, self._encoding, self._session_id,
                                self._frame_id)

    def _publish_all(self, utterances):
        for utterance in utterances:
            if self._muted_since is not None:      # the rest of a cancelled session's speech
                self._muted_since = None
                self.get_logger().info(f'utterance {utterance.index} dropped: it went on '
                                       'from a cancelled session')
                continue
            self._utterances.publish(self._to_msg(utterance))
            self.get_logger().info(
                f'utterance {utterance.index}: {utterance.duration:.1f} s, ended by '
                f'{utterance.end_reason.name.lower()}, speech {utterance.speech_ratio:.0%}')
        self._publish_speaking(self._segmenter.speaking and self._muted_since is None)

    def _publish_speaking(self, speaking):
        if speaking != self._speaking:
            self._speaking = speaking
            self._speaking_pub.publish(Bool(data=speaking))

    def _warn_once(self, key, text):
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(text)

    def _set_session(self, session_id):
        if session_id != self._session_id:
            self._session_id = session_id
            self._segmenter.next_utterance_index = 0

    # -- push-to-talk ------------------------------------------------------------------
    def _manual_start(self):
        """Open an utterance; a quiet stream before it must not end it at once."""
        self._muted_since = None
        if self._last_chunk is not None:
            self._last_chunk = self._now()
        return self._segmenter.start()

    def _on_push_to_talk(self, msg):
        if msg.data:
            self._manual_start()
        else:
            self._publish_all([u for u in [self._segmenter.stop()] if u is not None])
        self._publish_speaking(self._segmenter.speaking)

    def _on_control(self, request, response):
        name = CONTROL_NAMES.get(request.command)
        if name is None:
            response.accepted = False
            response.message = (f'unknown command {request.command}: use COMMAND_START, '
                                'COMMAND_STOP or COMMAND_CANCEL')
        elif name == 'START':
            if request.session_id:
                self._controlled_session = request.session_id
                self._set_session(request.session_id)
            response.accepted = self._manual_start()
            response.message = ('listening' if response.accepted
                                else 'already listening (manual utterance open)')
        elif name == 'STOP':
            utterance = self._segmenter.stop()
            response.accepted = utterance is not None
            if utterance is not None:
                self._publish_all([utterance])
                response.message = (f'utterance {utterance.index} ended '
                                    f'({utterance.duration:.1f} s)')
            else:
                response.message = 'no utterance in progress'
        else:
            dropped = self._segmenter.cancel()
            response.accepted = True
            response.message = 'utterance dropped' if dropped else 'nothing to cancel'
            self._controlled_session = ''
        self._publish_speaking(self._segmenter.speaking)
        response.session_id = self._session_id
        self.get_logger().info(f'control {name or request.command}: {response.message}')
        return response


def main(args=None):
    return run_node(VadNode, args)


if __name__ == '__main__':
    sys.exit(main())
