"""Sample-rate conversion to the 16 kHz that Silero VAD and Whisper expect.

scipy's polyphase ``resample_poly`` does the filtering. It works on whole arrays, so for live
audio ``StreamingResampler`` runs it on overlapping windows: each window carries enough input
either side of the outputs it emits for the filter to see exactly what it would see in one
pass over the whole stream. The concatenated output equals the one-pass output (to float32
rounding), with no clicks at block boundaries.
"""
from math import gcd

import numpy as np
from scipy.signal import resample_poly

TARGET_RATE = 16000


def _ratio(from_rate, to_rate):
    from_rate, to_rate = int(from_rate), int(to_rate)
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f'sample rates must be positive, got {from_rate} -> {to_rate}')
    g = gcd(from_rate, to_rate)
    return to_rate // g, from_rate // g


def resample(samples, from_rate, to_rate=TARGET_RATE):
    """Resample a whole 1-D signal (float32 out)."""
    samples = np.asarray(samples, dtype=np.float32)
    up, down = _ratio(from_rate, to_rate)
    if up == down or samples.size == 0:
        return samples.copy()
    return resample_poly(samples, up, down).astype(np.float32)


class StreamingResampler:
    """Resample a 1-D stream block by block; ``push`` returns what is final so far."""

    def __init__(self, from_rate, to_rate=TARGET_RATE):
        self.from_rate, self.to_rate = int(from_rate), int(to_rate)
        self._up, self._down = _ratio(from_rate, to_rate)
        # resample_poly's filter spans +-10*max(up, down) samples at the upsampled rate.
        self._context = -(-10 * max(self._up, self._down) // self._up) + 2
        self.reset()

    def reset(self):
        """Forget the stream (after a gap): the next sample is treated as a stream start."""
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0   # input index of _buffer[0]; always a multiple of _down
        self._input_count = 0
        self._emitted = 0        # outputs returned so far

    @property
    def passthrough(self):
        return self._up == self._down

    @property
    def output_count(self):
        return self._emitted

    def input_position(self, output_index):
        """Input sample position (fractional) of an output sample."""
        return output_index * self._down / self._up

    def push(self, samples):
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._input_count += samples.size
        if self.passthrough:
            self._emitted += samples.size
            return samples.copy()
        self._buffer = np.concatenate([self._buffer, samples])
        end = self._buffer_start + self._buffer.size
        # Outputs whose filter support lies wholly inside the input received so far.
        last = ((end - self._context) * self._up) // self._down
        return self._emit(last)

    def flush(self):
        """Return the outputs that wait for input that will now never come (zero padding)."""
        if self.passthrough:
            return np.zeros(0, dtype=np.float32)
        last = -(-self._input_count * self._up // self._down)
        return self._emit(last)

    def _emit(self, stop):
        if stop <= self._emitted or self._buffer.size == 0:
            return np.zeros(0, dtype=np.float32)
        out = resample_poly(self._buffer, self._up, self._down).astype(np.float32)
        first_output = self._buffer_start * self._up // self._down
        block = out[self._emitted - first_output:stop - first_output]
        self._emitted += block.size
        # Keep the input that the next outputs' filter will need, aligned to the grid.
        keep_from = int(self.input_position(self._emitted)) - self._context
        keep_from = max(self._buffer_start, keep_from - keep_from % self._down)
        self._buffer = self._buffer[keep_from - self._buffer_start:]
        self._buffer_start = keep_from
        return block
