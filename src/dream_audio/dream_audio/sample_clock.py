"""Capture time of any sample of a stream, from the stamps of the blocks it came in.

An utterance starts in an earlier chunk than the one that ends it (pre-roll) and a stream
may have gaps, so the time of a sample is taken from the latest stamped block at or before
it, never from the time the utterance is published.
"""
import bisect
from collections import deque


class SampleClock:
    def __init__(self, sample_rate, keep_seconds=120.0):
        self.sample_rate = float(sample_rate)
        self._keep = int(keep_seconds * sample_rate)
        self._indices = deque()
        self._times = deque()

    def reset(self):
        self._indices.clear()
        self._times.clear()

    def add(self, sample_index, capture_time):
        """Record that ``sample_index`` was captured at ``capture_time`` (seconds)."""
        if self._indices and sample_index <= self._indices[-1]:
            # The stream restarted (or repeats itself): older anchors no longer apply.
            self.reset()
        self._indices.append(int(sample_index))
        self._times.append(float(capture_time))
        while len(self._indices) > 1 and self._indices[1] < sample_index - self._keep:
            self._indices.popleft()
            self._times.popleft()

    def time_of(self, sample_index):
        if not self._indices:
            raise ValueError('no stamped audio yet: cannot tell when a sample was captured')
        i = max(bisect.bisect_right(self._indices, sample_index) - 1, 0)
        return self._times[i] + (sample_index - self._indices[i]) / self.sample_rate
