"""One utterance in, text with honest confidence out (faster-whisper, ROS-free).

Decoding choices: the audio is the VAD-cut utterance (0.5 s kept either side of the
speech); beam search (5) with temperature fallback; ``condition_on_previous_text`` off, so one
bad window cannot poison the next; faster-whisper drops no segment by itself
(``no_speech_threshold`` off) so that every signal reaches ``rejection.judge``. Measured by
``dream bench stt`` (ten espeak-ng dreams, 161 words; WER raw -> ours): base 0.087 -> 0.037,
tiny.en 0.137 -> 0.106. Beam 1 costs accuracy (base 0.062, tiny.en 0.149) and saves little,
since the encoder's fixed 30 s window dominates; the prompt "A dream:" changes nothing on
base and hurts tiny.en a little (0.112); conditioning on previous text changes nothing (a
dream mostly fits one window); faster-whisper's own vad_filter on the whole file does not
help (0.087 / 0.149). Audio that is digitally silent, or in
which the voice detector found (almost) no speech, is rejected without decoding: Whisper
spends the longest on exactly that audio (every fallback temperature) and then hallucinates.

The model comes from model_store as an EncoderReusingWhisperModel: language detection,
decoding and a translation pass share one encoder run per 30 s window.

Translation keeps both texts: the utterance is transcribed first (which detects the
language); only if it is not English is it decoded a second time with task=translate. The
cost is one extra decode, for non-English speech only. An English-only model hears only
English, so translate with it is transcribe, and the result says so (task transcribe). It
detects no language either: the result's language is empty, with probability 0 (unless the
caller named one). Its rejections of what it decoded (low confidence, repetition: what
foreign speech gives) tell the visitor, in plain words, that the machine understands
English only; the technical reason stays in the message too.

Repetition is judged per 30 s window, as Whisper does (the largest of the windows'
compression ratios): a long recording's whole text compresses well however honest it is.
"""
import time
from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from dream_stt.rejection import (HALLUCINATIONS_ALWAYS, RejectionThresholds, Status,
                                 compression_ratio, is_stock_phrase, judge)

SAMPLE_RATE = 16000
TASKS = ('transcribe', 'translate')
# Where and how CTranslate2 may run Whisper: its devices, and its compute types (as its
# str_to_compute_type reads them; auto here means int8 on a CPU, float16 on a GPU). Whether
# this machine has the device or supports the type is found when the model loads.
DEVICES = ('auto', 'cpu', 'cuda')
COMPUTE_TYPES = ('auto', 'default', 'int8', 'int8_float32', 'int8_float16', 'int8_bfloat16',
                 'int16', 'float16', 'bfloat16', 'float32', 'float')
# translate with an English-only model: what was done instead
ENGLISH_ONLY_NOTE = 'task: transcribe (the model is English-only)'
# for the visitor, when an English-only model rejects what it heard (foreign speech, often)
ENGLISH_ONLY_HINT = 'this machine understands English only'
SILENT_RMS = 1e-4      # about -80 dBFS: nothing a microphone in a room produces
CLIPPED_LEVEL = 0.999


@dataclass
class DecodingOptions:
    beam_size: int = 5
    temperatures: Tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    condition_on_previous_text: bool = False
    initial_prompt: Optional[str] = None
    vad_filter: bool = False          # faster-whisper's own Silero pass (ours cut already)
    compression_ratio_threshold: float = 2.4  # these two trigger the temperature fallback
    log_prob_threshold: float = -1.0
    # Tokens allowed per second of audio (per 30 s window): real speech needs about 4; noise
    # decoded without a bound loops up to 448 tokens at every fallback temperature (a minute
    # of CPU). None: no bound.
    max_tokens_per_second: Optional[float] = 6.0

    def validate(self):
        if not 1 <= self.beam_size <= 20:
            raise ValueError(f'beam_size must be in 1..20, got {self.beam_size}')
        if not self.temperatures or any(not 0 <= t <= 1.5 for t in self.temperatures):
            raise ValueError(f'temperatures must be in [0, 1.5], got {self.temperatures}')
        if self.max_tokens_per_second is not None and self.max_tokens_per_second <= 0:
            raise ValueError('max_tokens_per_second must be positive (or None)')
        return self

    def max_new_tokens(self, duration):
        if self.max_tokens_per_second is None:
            return None
        return int(min(224, 16 + self.max_tokens_per_second * min(duration, 30.0)))


@dataclass
class SegmentResult:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass
class Recognition:
    status: Status
    status_message: str
    text: str = ''                    # English when translated: what CLIP is given
    original_text: str = ''           # in the spoken language
    language: str = ''
    language_probability: float = 0.0
    task: str = 'transcribe'
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    segments: List[SegmentResult] = field(default_factory=list)
    original_segments: List[SegmentResult] = field(default_factory=list)
    model: str = ''
    audio_duration: float = 0.0
    decode_time: float = 0.0          # seconds spent in Whisper (both passes)
    passes: int = 0                   # Whisper decodes run
    clipped_fraction: float = 0.0

    @property
    def ok(self):
        return self.status == Status.OK

    def to_dict(self):
        out = asdict(self)
        out['status'] = self.status.name
        return out


class SpeechRecognizer:
    """Holds a loaded model (model_store.load) and the decoding and rejection settings."""

    def __init__(self, loaded, options=None, thresholds=None):
        self.loaded = loaded
        self.options = (options or DecodingOptions()).validate()
        self.thresholds = thresholds or RejectionThresholds()

    def recognize(self, samples, task='transcribe', language=None, speech_ratio=None,
                  progress=None):
        """Recognise 16 kHz mono float audio; never raises for bad audio (status ERROR).
        ``progress(seconds, total)``: called as each segment is decoded (seconds of audio
        done)."""
        started = time.perf_counter()
        english_only = task == 'translate' and not self.loaded.multilingual
        result = self._recognize(samples, task, (language or '').strip().lower() or None,
                                 speech_ratio, progress)
        result.model = self.loaded.name
        result.task = task if task in TASKS else result.task
        if (not self.loaded.multilingual and result.status in (
                Status.REJECTED_LOW_CONFIDENCE, Status.REJECTED_REPETITION)):
            result.status_message = _join([result.status_message, ENGLISH_ONLY_HINT])
        if english_only and result.status != Status.ERROR:
            result.task = 'transcribe'
            result.status_message = _join([result.status_message, ENGLISH_ONLY_NOTE])
        result.decode_time = result.decode_time or time.perf_counter() - started
        return result

    def option_error(self, task='transcribe', language=None):
        """Why this model cannot do ``task`` in ``language`` (a usage error), or ''."""
        language = (language or '').strip().lower() or None
        if task not in TASKS:
            return f'unknown task {task!r}: use transcribe or translate'
        if not self.loaded.multilingual and language not in (None, 'en'):
            return (f'model {self.loaded.name!r} is English-only: it cannot {task} '
                    f'{language!r} speech; use a multilingual model (base)')
        if language and language not in self.loaded.languages:
            return (f'unknown language {language!r}: use an ISO 639-1 code Whisper knows '
                    '(en, es, fr, de...) or none to detect it')
        return ''

    def _recognize(self, samples, task, language, speech_ratio, progress):
        refused = self.option_error(task, language)
        if refused:
            return Recognition(Status.ERROR, refused)
        try:
            audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError) as exc:
            return Recognition(Status.ERROR, f'not audio: {exc}')
        notes = []
        if not np.all(np.isfinite(audio)):
            audio = np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0)
            notes.append('non-finite samples replaced by silence')
        duration = audio.size / SAMPLE_RATE
        if audio.size == 0:
            return Recognition(Status.REJECTED_EMPTY, 'no audio (zero samples)')
        clipped = float(np.mean(np.abs(audio) >= CLIPPED_LEVEL))
        if clipped > 0.001:
            notes.append(f'{clipped:.1%} of the samples are clipped')
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        base = dict(audio_duration=duration, clipped_fraction=clipped, task=task)
        if rms < SILENT_RMS:
            return Recognition(Status.REJECTED_NO_SPEECH, _join(['the audio is silent'] + notes),
                               **base)
        if speech_ratio is not None and speech_ratio < self.thresholds.min_speech_ratio:
            return Recognition(Status.REJECTED_NO_SPEECH, _join(
                [f'the voice detector found no speech ({speech_ratio:.0%})'] + notes), **base)
        try:
            original, info, seconds = self._decode(audio, 'transcribe', language, progress)
            passes, decode_time = 1, seconds
            english = original
            # An English-only model detects nothing: its language is the one named, or unknown.
            detected = info.language if self.loaded.multilingual else (language or '')
            if task == 'translate' and self.loaded.multilingual and detected != 'en':
                english, _, seconds = self._decode(audio, 'translate', detected, progress)
                passes, decode_time = 2, decode_time + seconds
        except Exception as exc:  # ctranslate2 errors are not one type; a node must go on
            return Recognition(Status.ERROR, f'decoding failed: {type(exc).__name__}: {exc}',
                               **base)
        original, dropped = _drop_stock_endings(original)
        english, dropped_en = _drop_stock_endings(english)
        if dropped or dropped_en:
            notes.append(f'dropped {", ".join(repr(d) for d in dropped + dropped_en)}')
        original_text, text = _text(original), _text(english)
        signals = _signals(english)
        status, message = judge(original_text, *_signals(original), self.thresholds)
        if status == Status.OK and passes == 2:
            status, message = judge(text, *signals, self.thresholds)
        return Recognition(
            status, _join([message] + notes), text=text, original_text=original_text,
            language=detected,
            language_probability=(float(info.language_probability)
                                  if self.loaded.multilingual and not language
                                  else 1.0 if language else 0.0),
            avg_logprob=signals[0], no_speech_prob=signals[1], compression_ratio=signals[2],
            segments=english, original_segments=original, decode_time=decode_time,
            passes=passes, **base)

    def _decode(self, audio, task, language, progress=None):
        o = self.options
        started = time.perf_counter()
        segments, info = self.loaded.model.transcribe(
            audio, task=task, language=language, beam_size=o.beam_size,
            temperature=list(o.temperatures),
            compression_ratio_threshold=o.compression_ratio_threshold,
            log_prob_threshold=o.log_prob_threshold, no_speech_threshold=None,
            condition_on_previous_text=o.condition_on_previous_text,
            initial_prompt=o.initial_prompt or None, vad_filter=o.vad_filter,
            max_new_tokens=o.max_new_tokens(audio.size / SAMPLE_RATE))
        results = []
        duration = audio.size / SAMPLE_RATE
        for s in segments:      # the generator decodes as it is consumed
            results.append(SegmentResult(
                start=float(s.start), end=float(s.end), text=s.text.strip(),
                avg_logprob=float(s.avg_logprob), no_speech_prob=float(s.no_speech_prob),
                compression_ratio=float(s.compression_ratio)))
            if progress is not None:
                progress(min(float(s.end), duration), duration)
        if progress is not None:
            progress(duration, duration)
        return results, info, time.perf_counter() - started


def _text(segments):
    return ' '.join(s.text for s in segments if s.text).strip()


def _signals(segments):
    """Utterance-level (avg_logprob, no_speech_prob, compression_ratio): the first two
    weighted by length, the ratio the largest of the segments' (each is that of its 30 s
    window, the span Whisper's 2.4 threshold is meant for; the whole text of a long
    recording compresses far better than any window of it)."""
    if not segments:
        return 0.0, 1.0, 0.0
    weights = np.array([max(len(s.text), 1) for s in segments], dtype=np.float64)
    logprob = float(np.average([s.avg_logprob for s in segments], weights=weights))
    no_speech = float(np.average([s.no_speech_prob for s in segments], weights=weights))
    return logprob, no_speech, max(s.compression_ratio or compression_ratio(s.text)
                                   for s in segments)


def _drop_stock_endings(segments):
    """Cut trailing segments that are only a stock phrase ('Thanks for watching!')."""
    kept = list(segments)
    dropped = []
    while len(kept) > 1 and is_stock_phrase(kept[-1].text, HALLUCINATIONS_ALWAYS):
        dropped.append(kept.pop().text)
    return kept, dropped


def _join(parts):
    return '; '.join(p for p in parts if p)
