"""ROS node: ``audio/utterance`` -> ``speech/transcript`` (dream_interfaces/Transcript).

The Whisper model loads once, at start. Every utterance gets exactly one final Transcript
(is_final=true), stamped with the capture time of its first sample: text and confidence, or
a rejection status the session can act on ("please tell me again"), or STATUS_ERROR when
the model is unavailable or the audio is malformed; the node never dies on bad input.
``processing_time`` runs from the utterance's arrival to the transcript being ready.

Every decode runs in one worker thread (RecognitionWorker), in arrival order, so the
node's single-threaded executor stays free. Early recognition (``early_recognition``, on by
default): the VAD's ``audio/utterance_preview`` (the utterance as it will be if the current
pause lasts) is decoded at once; when the final utterance has the same audio the transcript
is that result, out about when the VAD's silence wait ends instead of one decode later.

Partial results (``partial_interval`` > 0): while ``audio/speaking`` is true the node
collects ``audio/chunks`` and, every ``partial_interval`` seconds, decodes the audio so far
(beam 1, no fallback) into an is_final=false Transcript, when the worker is idle. They cost
CPU beside the VAD, so they are off by default on a CPU.
"""
import sys
import threading
import time
from collections import deque

import numpy as np
from dream_interfaces.msg import AudioChunk, Transcript, Utterance
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool

from dream_audio.audio_capture_node import CHUNK_QOS
from dream_audio.parameters import choice_error, declare
from dream_audio.resampling import resample
from dream_audio.ros_messages import chunk_from_msg, to_stamp, utterance_samples
from dream_audio.vad_node import SPEAKING_QOS, UTTERANCE_QOS
from dream_stt import model_store
from dream_stt.recognizer import (COMPUTE_TYPES, DEVICES, SAMPLE_RATE, TASKS, DecodingOptions,
                                  Recognition, SpeechRecognizer)
from dream_stt.recognition_worker import audio_key, RecognitionWorker
from dream_stt.rejection import RejectionThresholds, Status
from dream_stt.transcript_message import recognition_to_msg
from dream_runtime.node_process import run_node

TRANSCRIPT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                            reliability=ReliabilityPolicy.RELIABLE)
PARTIAL_WINDOW = 30.0  # seconds: partials decode at most the last Whisper window
# The text parameters that take one of a few words (refused otherwise, listed by dream params).
CHOICES = {'task': TASKS, 'device': DEVICES, 'compute_type': COMPUTE_TYPES}


class _AnyWhisper:
    """A multilingual Whisper as SpeechRecognizer.option_error sees one: task and language
    are checked with it before the model has loaded (or when it could not load)."""
    name = 'whisper'
    multilingual = True

    @property
    def languages(self):
        from faster_whisper.tokenizer import _LANGUAGE_CODES   # a multilingual model's
        return _LANGUAGE_CODES


_BEFORE_LOADING = SpeechRecognizer(_AnyWhisper())


class UnloadedWhisper(_AnyWhisper):
    """The model of a speech node built only to read its parameters: nothing loaded, task
    and language still checked (as with a multilingual model)."""
    name = 'whisper (not loaded)'
    device = 'none'
    compute_type = 'none'
    load_time = 0.0


class SttNode(Node):
    def __init__(self, loaded_model=None, acquire_resources=True, **kwargs):
        """``loaded_model``: a loaded Whisper (default: the ``model`` parameter's, loaded
        here); ``acquire_resources=False``: load none (see UnloadedWhisper)."""
        if loaded_model is None and not acquire_resources:
            loaded_model = UnloadedWhisper()
        # Before the Node: destroy_node needs them, also on a node whose start failed.
        self._recognizer = self._partial_recognizer = self._worker = None
        super().__init__('stt', **kwargs)
        # Before the declarations: a bad task, language, device or compute type fails the
        # node's start at once (rather than a node up without speech recognition).
        self.add_on_set_parameters_callback(self._validate)
        model = declare(self, 'model', model_store.DEFAULT_MODEL,
                        'Whisper model: base (multilingual) or tiny.en (bundled), another '
                        'faster-whisper name (downloads when online) or a model directory',
                        read_only=True)
        device = declare(self, 'device', 'auto', ', '.join(DEVICES), read_only=True)
        compute_type = declare(self, 'compute_type', 'auto', 'CTranslate2 compute type: '
                               f'{", ".join(COMPUTE_TYPES)}; auto: int8 on CPU, float16 on '
                               'GPU', read_only=True)
        threads = declare(self, 'cpu_threads', 0, 'CPU threads for Whisper; 0: all', 0, 256,
                          read_only=True)
        self._task = declare(self, 'task', 'transcribe', 'transcribe (keep the language) or '
                             'translate (to English, the original text is kept too)')
        self._language = declare(self, 'language', '', 'spoken language (ISO 639-1, e.g. '
                                 'en, es); empty: detect it')
        d, t = DecodingOptions(), RejectionThresholds()
        options = DecodingOptions(
            beam_size=declare(self, 'beam_size', d.beam_size, 'beam search width', 1, 20),
            initial_prompt=declare(self, 'initial_prompt', '', 'text Whisper sees as '
                                   'preceding the utterance (style, vocabulary); empty: none')
            or None,
            max_tokens_per_second=declare(
                self, 'max_tokens_per_second', d.max_tokens_per_second,
                'bound on decoded tokens per second of audio (stops loops on noise)', 1.0,
                50.0))
        thresholds = RejectionThresholds(
            no_speech_prob=declare(self, 'no_speech_threshold', t.no_speech_prob,
                                   'no-speech probability that, with a log-probability '
                                   'below logprob_threshold, rejects as no speech', 0.0, 1.0),
            logprob_silence=declare(self, 'logprob_threshold', t.logprob_silence,
                                    'see no_speech_threshold', -10.0, 0.0),
            no_speech_prob_alone=declare(self, 'no_speech_threshold_alone',
                                         t.no_speech_prob_alone, 'no-speech probability '
                                         'that rejects on its own', 0.0, 1.0),
            min_avg_logprob=declare(self, 'min_avg_logprob', t.min_avg_logprob,
                                    'average log-probability below which a transcript is '
                                    'rejected as low confidence', -10.0, 0.0),
            max_compression_ratio=declare(self, 'max_compression_ratio',
                                          t.max_compression_ratio, 'gzip compression ratio '
                                          'above which text is a repetition loop', 1.0, 10.0),
            max_repeats=declare(self, 'max_repeats', t.max_repeats, 'an n-gram repeated '
                                'back to back this often is a loop', 2, 50),
            min_speech_ratio=declare(self, 'min_speech_ratio', t.min_speech_ratio,
                                     'VAD speech fraction below which an utterance is '
                                     'rejected without decoding', 0.0, 1.0))
        self._partial_interval = declare(self, 'partial_interval', 0.0, 'seconds between '
                                         'partial transcripts while speaking; 0: none',
                                         0.0, 30.0, read_only=True)
        early = declare(self, 'early_recognition', True, 'decode the VAD\'s utterance '
                        'previews during the silence wait (a pause the speaker ends costs '
                        'one wasted decode)', read_only=True)
        self._load_error = ''
        try:
            loaded = loaded_model or model_store.load(model, device, compute_type, threads)
            self._recognizer = SpeechRecognizer(loaded, options, thresholds)
            self._partial_recognizer = SpeechRecognizer(
                loaded, DecodingOptions(beam_size=1, temperatures=(0.0,)), thresholds)
            self.get_logger().info(
                f'Whisper {loaded.name} on {loaded.device} ({loaded.compute_type}), loaded in '
                f'{loaded.load_time:.1f} s')
        except (model_store.ModelUnavailableError, ValueError) as exc:
            self._load_error = str(exc)
            self.get_logger().error(f'no speech recognition: {exc}')
        refused = self._option_error(self._task, self._language)
        if refused:  # a language this model cannot take (an English-only one)
            raise InvalidParameterValueException('language', self._language, refused)
        if self._recognizer is not None:
            self._worker = RecognitionWorker(
                self._recognize, self._recognize_partial,
                log_error=lambda text: self.get_logger().error(text))
        self._publisher = self.create_publisher(Transcript, 'speech/transcript', TRANSCRIPT_QOS)
        self.create_subscription(Utterance, 'audio/utterance', self._on_utterance,
                                 UTTERANCE_QOS)
        if early:
            self.create_subscription(Utterance, 'audio/utterance_preview', self._on_preview,
                                     UTTERANCE_QOS)
        self._partial_lock = threading.Lock()
        self._speaking = False
        self._recent = deque()       # the last half second of chunks, for the onset
        self._spoken = []            # chunks since speaking began
        self._spoken_session = ''
        self._next_index = {}        # session id -> index of the utterance being spoken
        self._decoded_samples = 0
        if self._partial_interval > 0:
            self.create_subscription(AudioChunk, 'audio/chunks', self._on_chunk, CHUNK_QOS)
            self.create_subscription(Bool, 'audio/speaking', self._on_speaking, SPEAKING_QOS)
            self.create_timer(self._partial_interval, self._on_partial_timer)

    def _option_error(self, task, language):
        return (self._recognizer or _BEFORE_LOADING).option_error(task, language)

    def _validate(self, parameters):
        for p in parameters:
            refused = p.name != 'task' and choice_error(CHOICES, p.name, p.value)
            if refused:     # (a task is refused below, with the language)
                return SetParametersResult(successful=False, reason=refused)
        values = {p.name: p.value for p in parameters if p.name in ('task', 'language')}
        if not values:
            return SetParametersResult(successful=True)
        current = {name: self.get_parameter(name).value if self.has_parameter(name) else ''
                   for name in ('task', 'language')}
        current.update(values)
        refused = self._option_error(current['task'], current['language'])
        return SetParametersResult(successful=not refused, reason=refused)

    def _settings(self):
        task = self.get_parameter('task').value
        language = self.get_parameter('language').value.strip() or None
        return task, language

    # -- finals ------------------------------------------------------------------------
    def _on_utterance(self, msg):
        received = time.perf_counter()
        task, language = self._settings()
        samples, problem = self._samples(msg, task)
        if problem is not None or self._worker is None:
            self._publish_final(msg, problem or Recognition(
                Status.ERROR, f'speech recognition unavailable: {self._load_error}',
                task=task), received)
            return
        key = audio_key(msg.session_id, msg.start_sample_index, samples, task, language)
        self._worker.final(key, samples, task, language, msg.speech_ratio,
                           lambda outcome: self._publish_final(msg, outcome.recognition,
                                                               received, outcome.reused))

    def _on_preview(self, msg):
        task, language = self._settings()
        samples, problem = self._samples(msg, task)
        if problem is None and self._worker is not None:
            key = audio_key(msg.session_id, msg.start_sample_index, samples, task, language)
            self._worker.speculate(key, samples, task, language, msg.speech_ratio)

    def _publish_final(self, msg, result, received, early=False):
        out = recognition_to_msg(result, msg.session_id, msg.utterance_index, msg.header.stamp,
                                 is_final=True, processing_time=time.perf_counter() - received,
                                 frame_id=msg.header.frame_id)
        self._publisher.publish(out)
        with self._partial_lock:
            self._next_index[msg.session_id] = msg.utterance_index + 1
        self.get_logger().info(
            f'utterance {msg.utterance_index} ({out.audio_duration:.1f} s) -> '
            f'{Status(result.status).name} in {out.processing_time:.2f} s'
            f'{" (recognised early)" if early else ""}: '
            f'{result.text or result.status_message!r}')

    def _samples(self, msg, task):
        """(16 kHz samples, None), or (None, an error Recognition) for unusable input."""
        if task not in TASKS:
            return None, Recognition(Status.ERROR, f'parameter task is {task!r}: use '
                                     'transcribe or translate')
        try:
            samples = utterance_samples(msg)
            if msg.sample_rate != SAMPLE_RATE:
                samples = resample(samples, msg.sample_rate, SAMPLE_RATE)
        except ValueError as exc:
            return None, Recognition(Status.ERROR, f'malformed utterance: {exc}', task=task)
        return samples, None

    def _recognize(self, samples, task, language, speech_ratio):
        """In the worker thread: never raises (the node must serve the next utterance)."""
        try:
            return self._recognizer.recognize(samples, task, language,
                                              speech_ratio=speech_ratio)
        except Exception as exc:
            self.get_logger().error(f'recognition failed: {exc!r}')
            return Recognition(Status.ERROR, f'recognition failed: {exc}', task=task)

    def _recognize_partial(self, samples, task, language, speech_ratio):
        return self._partial_recognizer.recognize(samples, task, language)

    # -- partials ----------------------------------------------------------------------
    def _on_speaking(self, msg):
        with self._partial_lock:
            if msg.data and not self._speaking:
                self._spoken = list(self._recent)
                self._decoded_samples = 0
            elif not msg.data:
                self._spoken = []
            self._speaking = msg.data

    def _on_chunk(self, msg):
        try:
            chunk = chunk_from_msg(msg)
        except ValueError:
            return  # the VAD node reports malformed chunks
        if chunk.sample_rate != SAMPLE_RATE or not chunk.samples.size:
            return
        with self._partial_lock:
            self._spoken_session = msg.session_id
            self._recent.append(chunk)
            while sum(c.samples.size for c in self._recent) > SAMPLE_RATE // 2:
                self._recent.popleft()
            if self._speaking:
                self._spoken.append(chunk)
                while (len(self._spoken) > 1 and
                       self._spoken[-1].end_index - self._spoken[1].sample_index
                       > PARTIAL_WINDOW * SAMPLE_RATE):
                    self._spoken.pop(0)

    def _on_partial_timer(self):
        with self._partial_lock:
            if not (self._speaking and self._spoken) or self._partial_recognizer is None:
                return
            chunks = list(self._spoken)
            session = self._spoken_session
            index = self._next_index.get(session, 0)
        samples = np.concatenate([c.samples for c in chunks])
        if samples.size < SAMPLE_RATE or samples.size - self._decoded_samples < SAMPLE_RATE:
            return
        received = time.perf_counter()
        task, language = self._settings()

        def done(outcome):
            with self._partial_lock:
                if not self._speaking:
                    return  # the final is coming; this partial is stale
            self._publisher.publish(recognition_to_msg(
                outcome.recognition, session, index, to_stamp(chunks[0].capture_time),
                is_final=False, processing_time=time.perf_counter() - received))
        if self._worker.partial(samples, task, language, done):
            self._decoded_samples = samples.size

    def destroy_node(self):
        if self._worker is not None:
            self._worker.close()
        super().destroy_node()


def main(args=None):
    return run_node(SttNode, args)


if __name__ == '__main__':
    sys.exit(main())
