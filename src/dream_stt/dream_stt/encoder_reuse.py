"""A faster-whisper model that runs Whisper's encoder once per 30 s window of an utterance.

faster-whisper encodes the same window several times for one utterance: once to detect the
language and again to decode it, and again for each pass when a non-English utterance is
transcribed and then translated. The encoder over its fixed 30 s window is the largest cost
on a CPU (base: 0.71 s of the ~1.5 s a 12 s dream takes on 2 cores), so each repeat is pure
latency. This subclass keeps the last few encoder outputs, keyed by their exact input
features, and hands them back for identical input.

Language detection gets the window exactly as decoding will see it (faster-whisper detects
on every feature frame but decodes all but the last, zero-padded): one 10 ms frame of
trailing silence, the difference between one encoder run and two.
"""
import threading
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
from faster_whisper import WhisperModel


class EncoderReusingWhisperModel(WhisperModel):

    def __init__(self, *args, encoder_cache_size=4, **kwargs):
        super().__init__(*args, **kwargs)
        if encoder_cache_size < 1:
            raise ValueError('encoder_cache_size must be at least 1')
        self._cache_size = encoder_cache_size
        self._cache = OrderedDict()    # (shape, hash of a sample) -> (features, encoder output)
        self._lock = threading.Lock()
        self._reuse = True
        self.encoder_runs = 0          # encoder calls that did run (for tests and benchmarks)
        self.encoder_reuses = 0

    def encode(self, features):
        key = None
        if self._reuse:
            features = np.ascontiguousarray(features, dtype=np.float32)
            key = (features.shape, hash(features[..., ::97].tobytes()))
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and np.array_equal(hit[0], features):
                    self._cache.move_to_end(key)
                    self.encoder_reuses += 1
                    return hit[1]
        output = super().encode(features)
        with self._lock:
            self.encoder_runs += 1
            if key is not None:
                self._cache[key] = (features.copy(), output)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return output

    def detect_language(self, audio=None, features=None, **kwargs):
        if self._reuse and audio is None and features is not None:
            window = self.feature_extractor.nb_max_frames
            content = features.shape[-1] - 1   # what generate_segments decodes
            if 0 < content < window:
                features = features[..., :content]
        return super().detect_language(audio=audio, features=features, **kwargs)

    def forget_encodings(self):
        with self._lock:
            self._cache.clear()

    @contextmanager
    def as_plain_model(self):
        """Behave exactly as faster-whisper's WhisperModel inside (for raw baselines)."""
        previous, self._reuse = self._reuse, False
        try:
            yield self
        finally:
            self._reuse = previous
