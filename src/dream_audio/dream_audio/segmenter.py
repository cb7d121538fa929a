"""Cut a stream of 16 kHz audio into utterances, tuned for a narrated dream.

A dream is told with pauses, so unlike command-and-control VAD settings the segmenter waits
for a long silence (1.5 s by default) before it ends an utterance, keeps a pre-roll so that a
soft first syllable is not cut, ignores blips shorter than ``min_speech`` and splits a
monologue at ``max_length``. It is streaming and ROS-free: ``feed()`` chunks with their
running sample index, get finished utterances back; ``start()``/``stop()``/``cancel()`` are
the push-to-talk path; ``flush()`` ends the stream.

The speech decision per 512-sample window comes from a detector (Silero VAD in use; any
callable returning a probability, with ``reset()``, in tests), with hysteresis: a window is
speech at ``threshold`` or above, silence below ``negative_threshold``; windows in between
neither start an utterance nor start the silence timer.
"""
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import Optional

import numpy as np


class EndReason(IntEnum):
    """Why an utterance ended; the values of dream_interfaces/Utterance END_*."""

    SILENCE = 0
    LENGTH_CAP = 1
    MANUAL = 2
    STREAM = 3


@dataclass
class SegmenterConfig:
    threshold: float = 0.5          # speech probability that starts/continues speech
    negative_threshold: Optional[float] = None  # below it a window is silence (thr - 0.15)
    # Whisper does better with some silence around the speech: on the benchmark's dreams
    # 0.5 s either side gave base a WER of 0.037 against 0.087 with 0.4 s / 0.3 s.
    pre_roll: float = 0.5           # seconds kept before the speech onset
    post_roll: float = 0.5          # seconds kept after the last speech
    min_silence: float = 1.5        # seconds of silence that end an utterance
    min_speech: float = 0.3         # seconds of speech below which an utterance is a blip
    max_length: float = 60.0        # seconds: longer speech is split
    max_gap: float = 1.0            # seconds of missing audio filled with silence
    sample_rate: int = 16000

    def validate(self):
        problems = []
        if not 0.0 < self.threshold < 1.0:
            problems.append(f'threshold must be in (0, 1), got {self.threshold}')
        negative = self.resolved_negative_threshold
        if not 0.0 <= negative <= self.threshold:
            problems.append(f'negative_threshold must be in [0, threshold], got {negative}')
        for name in ('pre_roll', 'post_roll', 'min_speech', 'max_gap'):
            if getattr(self, name) < 0:
                problems.append(f'{name} must not be negative, got {getattr(self, name)}')
        if self.min_silence <= 0:
            problems.append(f'min_silence must be positive, got {self.min_silence}')
        if self.max_length < 1.0 or self.max_length <= self.pre_roll + self.min_speech:
            problems.append(f'max_length must be at least 1 s and longer than pre_roll + '
                            f'min_speech, got {self.max_length}')
        if self.sample_rate != 16000:
            problems.append(f'sample_rate must be 16000 (the speech detector\'s), got '
                            f'{self.sample_rate}')
        if problems:
            raise ValueError('; '.join(problems))
        return self

    @property
    def resolved_negative_threshold(self):
        if self.negative_threshold is None:
            return max(self.threshold - 0.15, 0.0)
        return self.negative_threshold


@dataclass
class SegmentedUtterance:
    index: int
    start_index: int             # running sample index of the first sample
    end_index: int               # running sample index just after the last sample
    samples: np.ndarray          # float32 mono, end_index - start_index samples
    end_reason: EndReason
    speech_ratio: float          # fraction of the analysed windows judged speech
    manual: bool                 # started by start() rather than by the detector
    sample_rate: int = 16000

    @property
    def duration(self):
        return (self.end_index - self.start_index) / self.sample_rate


@dataclass
class _Open:
    start: int
    manual: bool
    confirmed: bool
    speech_samples: int = 0
    last_speech_end: Optional[int] = None
    silence_start: Optional[int] = None
    previewed_end: Optional[int] = None   # end of the last preview handed out


class UtteranceSegmenter:
    def __init__(self, detector, config=None):
        self.config = (config or SegmenterConfig()).validate()
        self.detector = detector
        self.window = int(getattr(detector, 'window', 512))
        rate = self.config.sample_rate
        self._pre_roll = round(self.config.pre_roll * rate)
        self._post_roll = round(self.config.post_roll * rate)
        self._min_silence = round(self.config.min_silence * rate)
        self._min_speech = round(self.config.min_speech * rate)
        self._max_length = round(self.config.max_length * rate)
        self._max_gap = round(self.config.max_gap * rate)
        self._negative = self.config.resolved_negative_threshold
        self.next_utterance_index = 0
        self.last_probability = 0.0
        self._preview = None
        self._reset_stream()

    # -- state -------------------------------------------------------------------------
    def _reset_stream(self):
        self.detector.reset()
        self._next = None            # running index expected next
        self._blocks = deque()       # retained audio, as (start index, samples)
        self._pending = np.zeros(0, dtype=np.float32)  # not yet analysed
        self._analysed = None        # index of _pending[0]
        self._speech_windows = deque()  # start indices of windows judged speech
        self._floor = None           # no utterance may start before this (the last end)
        self._open = None

    @property
    def in_utterance(self):
        return self._open is not None

    @property
    def speaking(self):
        """True while a confirmed utterance (not a blip candidate) is open."""
        return self._open is not None and (self._open.confirmed or self._open.manual)

    @property
    def position(self):
        """Running index just after the last sample fed (None before any)."""
        return self._next

    # -- input -------------------------------------------------------------------------
    def feed(self, samples, sample_index):
        """Add audio that starts at running index ``sample_index``; return finished utterances.

        A gap of up to ``max_gap`` is filled with silence; a longer gap, or an index that goes
        back, means the source restarted: the open utterance ends (END_STREAM).
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(samples)):
            samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        sample_index = int(sample_index)
        finished = []
        if self._next is None:
            self._sync(sample_index)
            if self._open is not None and self._open.start is None:
                self._open.start = sample_index  # start() came before any audio
        elif sample_index != self._next:
            gap = sample_index - self._next
            if 0 < gap <= self._max_gap:
                finished += self._append(np.zeros(gap, dtype=np.float32))
            else:
                finished += self.flush()
                self._sync(sample_index)
        finished += self._append(samples)
        return finished

    def _sync(self, index):
        self._next = index
        self._analysed = index

    def _append(self, samples):
        if samples.size == 0:
            return []
        self._blocks.append((self._next, samples))
        self._next += samples.size
        self._pending = np.concatenate([self._pending, samples])
        finished = []
        while self._pending.size >= self.window:
            window, self._pending = self._pending[:self.window], self._pending[self.window:]
            start = self._analysed
            self._analysed += self.window
            finished += self._on_window(start, window)
        self._trim()
        return finished

    def _on_window(self, start, window):
        probability = float(self.detector(window))
        self.last_probability = probability
        end = start + self.window
        speech = probability >= self.config.threshold
        if speech:
            self._speech_windows.append(start)
        u = self._open
        if u is None:
            if speech:
                self._open = _Open(start=self._earliest(start - self._pre_roll), manual=False,
                                   confirmed=self.window >= self._min_speech,
                                   speech_samples=self.window, last_speech_end=end)
            return []
        if speech:
            u.speech_samples += self.window
            u.last_speech_end = end
            u.silence_start = None
            u.confirmed = u.confirmed or u.speech_samples >= self._min_speech
        elif probability < self._negative and u.silence_start is None:
            u.silence_start = start
        if (not u.manual and u.silence_start is not None
                and end - u.silence_start >= self._min_silence):
            return self._finish(self._trailing_end(end), EndReason.SILENCE)
        if (not u.manual and u.confirmed and u.silence_start is not None
                and end >= u.last_speech_end + self._post_roll
                and u.previewed_end != u.last_speech_end + self._post_roll):
            self._make_preview(u)
        if end - u.start >= self._max_length:
            return self._split_at_cap()
        return []

    def take_preview(self):
        """The utterance as it will end if the current pause lasts, once per pause, or None.

        Handed out as soon as the post-roll after the last speech has been heard (long before
        the silence wait ends it), so that recognition can start early: if the speaker does
        not go on, the final utterance has exactly these samples (same start and end index).
        """
        preview, self._preview = self._preview, None
        return preview

    def _make_preview(self, u):
        end = u.last_speech_end + self._post_roll
        u.previewed_end = end
        length = max(end - u.start, 1)
        self._preview = SegmentedUtterance(
            index=self.next_utterance_index, start_index=u.start, end_index=end,
            samples=self._slice(u.start, end), end_reason=EndReason.SILENCE,
            speech_ratio=min(1.0, self._speech_in(u.start, end) / length), manual=False,
            sample_rate=self.config.sample_rate)

    def _earliest(self, index):
        floor = self._blocks[0][0] if self._blocks else self._analysed
        if self._floor is not None:
            floor = max(floor, self._floor)
        return max(index, floor)

    def _trailing_end(self, limit):
        u = self._open
        if u.manual or u.last_speech_end is None:
            return limit
        return min(u.last_speech_end + self._post_roll, limit)

    def _split_at_cap(self):
        u = self._open
        cap = u.start + self._max_length
        finished = self._finish(cap, EndReason.LENGTH_CAP)
        if u.manual or u.silence_start is None:
            # The speaker goes on: the next piece starts exactly where this one stopped.
            self._open = _Open(start=cap, manual=u.manual, confirmed=True,
                               speech_samples=self._speech_in(cap, self._analysed),
                               last_speech_end=u.last_speech_end,
                               silence_start=u.silence_start)
        return finished

    def _finish(self, end, reason):
        """Close the open utterance at ``end``; a blip (unconfirmed) is dropped silently."""
        u, self._open = self._open, None
        self._preview = None
        end = max(end, u.start)
        if not (u.confirmed or u.manual or reason == EndReason.MANUAL):
            return []
        self._floor = end
        samples = self._slice(u.start, end)
        length = max(end - u.start, 1)
        ratio = min(1.0, self._speech_in(u.start, end) / length)
        utterance = SegmentedUtterance(
            index=self.next_utterance_index, start_index=u.start, end_index=end,
            samples=samples, end_reason=EndReason(reason), speech_ratio=ratio,
            manual=u.manual, sample_rate=self.config.sample_rate)
        self.next_utterance_index += 1
        return [utterance]

    def _speech_in(self, start, end):
        return sum(self.window for s in self._speech_windows if start <= s < end)

    def _slice(self, start, end):
        parts = []
        for block_start, block in self._blocks:
            block_end = block_start + block.size
            if block_end <= start or block_start >= end:
                continue
            parts.append(block[max(start - block_start, 0):min(end, block_end) - block_start])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _trim(self):
        """Drop audio no utterance can need any more."""
        if self._analysed is None:
            return
        if self._open is not None:
            keep = self._open.start
        else:
            keep = self._analysed - self._pre_roll
            if self._floor is not None:
                keep = max(keep, min(self._floor, self._analysed))
        while self._blocks and self._blocks[0][0] + self._blocks[0][1].size <= keep:
            self._blocks.popleft()
        while self._speech_windows and self._speech_windows[0] < keep - self.window:
            self._speech_windows.popleft()

    # -- push-to-talk and stream end ---------------------------------------------------
    def start(self):
        """Begin an utterance now (with pre-roll) that only stop(), the cap or flush() end.

        Returns False if a manual utterance is already open; an utterance the detector
        opened becomes manual.
        """
        if self._open is not None:
            if self._open.manual:
                return False
            self._open.manual = True
            self._open.confirmed = True
            return True
        start = None if self._next is None else self._earliest(self._next - self._pre_roll)
        self._open = _Open(start=start, manual=True, confirmed=True)
        return True

    def stop(self):
        """End the open utterance now (END_MANUAL); None if there is none."""
        if self._open is None:
            return None
        if self._open.start is None:  # started and stopped before any audio came
            self._open = None
            return None
        finished = self._finish(self._next, EndReason.MANUAL)
        self._trim()
        return finished[0] if finished else None

    def cancel(self):
        """Drop the open utterance; True if there was one."""
        dropped, self._open = self._open is not None, None
        self._preview = None
        self._trim()
        return dropped

    def flush(self):
        """The stream ended: finish an open utterance (END_STREAM) and forget the stream."""
        finished = []
        if self._open is not None and self._open.start is not None:
            finished = self._finish(self._trailing_end(self._next), EndReason.STREAM)
        self._reset_stream()
        return finished
