"""A live microphone through sounddevice (PortAudio), as 16 kHz mono chunks.

PortAudio's callback runs on its own thread and must not block: it only copies the block and
its capture time into a queue; ``read()`` does the down-mixing and resampling. The capture
time of a block is PortAudio's input ADC time, carried over to our clock by the distance
between the stream's current time and the ADC time (both on the stream's clock), so the
stamp does not include the buffering delay before the callback ran.
"""
import queue
import time

import numpy as np

from dream_audio.chunk import Chunk
from dream_audio.pcm import ENCODING_F32LE, to_mono
from dream_audio.resampling import TARGET_RATE, StreamingResampler
from dream_audio.sample_clock import SampleClock


class AudioDeviceError(RuntimeError):
    """No usable input device, or the device failed."""


def _sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise AudioDeviceError(
            f'PortAudio is not available ({exc}): install the Debian package libportaudio2'
        ) from exc
    return sounddevice


class MicrophoneSource:
    """Open with ``open()`` (or ``with``), then ``read()`` chunks until ``close()``.

    ``device``: a PortAudio device index or (part of a) name, None for the default input.
    ``device_sample_rate``: what to ask the device for; None takes its default rate.
    ``backend``: the sounddevice module, replaceable in tests.
    """

    def __init__(self, device=None, sample_rate=TARGET_RATE, device_sample_rate=None,
                 channels=1, block_duration=0.1, clock=time.time, backend=None):
        if block_duration <= 0:
            raise ValueError(f'block_duration must be positive, got {block_duration}')
        self.device = device
        self.sample_rate = int(sample_rate)
        self.device_sample_rate = device_sample_rate
        self.channels = int(channels)
        self.block_duration = float(block_duration)
        self._clock = clock
        self._backend = backend
        self._stream = None
        self._queue = queue.Queue()
        self.device_name = None
        self.overflows = 0

    # -- device side -------------------------------------------------------------------
    def open(self):
        sd = self._backend or _sounddevice()
        self._backend = sd
        try:
            info = sd.query_devices(self.device, 'input')
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioDeviceError(
                f'no audio input device {self._wanted()}found ({exc}); connect a microphone, '
                f'choose another device (inputs: {self._inputs(sd) or "none"}) or play a file '
                'instead (source:=file)') from exc
        if int(info.get('max_input_channels', 0)) < 1:
            raise AudioDeviceError(f'device {info.get("name")!r} has no input channels')
        self.device_name = info.get('name', str(self.device))
        rate = int(self.device_sample_rate or info.get('default_samplerate') or TARGET_RATE)
        channels = max(1, min(self.channels, int(info['max_input_channels'])))
        self.source_sample_rate, self.source_channels = rate, channels
        self._resampler = StreamingResampler(rate, self.sample_rate)
        self._input_clock = SampleClock(rate)
        self._input_index = 0        # device frames received or known dropped
        self._segment_input = 0      # input index where the current resampler run began
        self._segment_output = 0     # output index where it began
        self._expected_time = None
        try:
            self._stream = sd.InputStream(
                device=self.device, samplerate=rate, channels=channels, dtype='float32',
                blocksize=max(1, round(self.block_duration * rate)), callback=self._callback)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise AudioDeviceError(
                f'cannot open input device {self.device_name!r} at {rate} Hz, '
                f'{channels} channel(s): {exc}') from exc
        return self

    def _wanted(self):
        return '' if self.device is None else f'{self.device!r} '

    @staticmethod
    def _inputs(sd):
        try:
            return ', '.join(f'{i}: {d["name"]}' for i, d in enumerate(sd.query_devices())
                             if d.get('max_input_channels', 0) > 0)
        except Exception:  # listing is only a courtesy in an error message
            return ''

    def _callback(self, indata, frames, time_info, status):
        now = self._clock()
        adc, current = time_info.inputBufferAdcTime, time_info.currentTime
        if adc > 0 and 0 <= current - adc < 1.0:
            capture = now - (current - adc)
        else:  # some host APIs report no ADC time: assume the block just filled up
            capture = now - frames / self.source_sample_rate
        self._queue.put((np.array(indata, dtype=np.float32, copy=True), capture,
                         bool(getattr(status, 'input_overflow', False))))

    def close(self):
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    # -- consumer side -----------------------------------------------------------------
    def read(self, timeout=1.0):
        """The next chunk (possibly empty while the resampler fills), or None on timeout."""
        try:
            block, capture, overflowed = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if overflowed:
            self.overflows += 1
        if self._expected_time is not None:
            dropped = round((capture - self._expected_time) * self.source_sample_rate)
            if overflowed and dropped > 0:
                # Frames were lost: restart resampling after the gap, so the running index
                # jumps and downstream sees that audio is missing.
                self._input_index += dropped
                self._resampler.reset()
                self._segment_input = self._input_index
                self._segment_output = -(-self._input_index * self.sample_rate
                                         // self.source_sample_rate)
        frames = len(block)
        self._expected_time = capture + frames / self.source_sample_rate
        self._input_clock.add(self._input_index, capture)
        self._input_index += frames
        first = self._segment_output + self._resampler.output_count
        samples = self._resampler.push(to_mono(block))
        position = self._segment_input + self._resampler.input_position(
            first - self._segment_output)
        return Chunk(samples=samples, sample_rate=self.sample_rate, sample_index=first,
                     capture_time=self._input_clock.time_of(position),
                     source_sample_rate=self.source_sample_rate,
                     source_channels=self.source_channels, source_encoding=ENCODING_F32LE)
