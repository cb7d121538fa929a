"""MicrophoneSource against a fake sounddevice: there is no microphone in CI."""
from types import SimpleNamespace

import numpy as np
import pytest

from dream_audio.microphone_source import AudioDeviceError, MicrophoneSource
from dream_audio.resampling import resample


class FakeSoundDevice:
    """The parts of the sounddevice module that MicrophoneSource uses."""

    class PortAudioError(Exception):
        pass

    def __init__(self, devices):
        self.devices = devices
        self.streams = []

    def query_devices(self, device=None, kind=None):
        if kind is None:
            return self.devices
        inputs = [d for d in self.devices if d['max_input_channels'] > 0]
        if device is None:
            if not inputs:
                raise self.PortAudioError('Error querying device -1')
            return inputs[0]
        matching = [d for d in inputs if str(device) in d['name']]
        if not matching:
            raise ValueError(f'No input device matching {device!r}')
        return matching[0]

    def InputStream(self, **kwargs):  # noqa: N802 (sounddevice's name)
        stream = SimpleNamespace(started=False, closed=False, **kwargs)
        stream.start = lambda: setattr(stream, 'started', True)
        stream.stop = lambda: setattr(stream, 'started', False)
        stream.close = lambda: setattr(stream, 'closed', True)
        self.streams.append(stream)
        return stream


USB_MIC = {'name': 'USB microphone', 'max_input_channels': 2, 'default_samplerate': 48000.0}
SPEAKERS = {'name': 'HDMI output', 'max_input_channels': 0, 'default_samplerate': 48000.0}


def deliver(stream, block, adc_time, current_time, overflow=False):
    stream.callback(block, len(block), SimpleNamespace(inputBufferAdcTime=adc_time,
                                                       currentTime=current_time),
                    SimpleNamespace(input_overflow=overflow))


def test_no_input_device_is_a_clear_error():
    backend = FakeSoundDevice([SPEAKERS])
    with pytest.raises(AudioDeviceError, match='no audio input device .*source:=file'):
        MicrophoneSource(backend=backend).open()


def test_unknown_device_name():
    backend = FakeSoundDevice([USB_MIC])
    with pytest.raises(AudioDeviceError, match="'Blue Yeti'.*USB microphone"):
        MicrophoneSource(device='Blue Yeti', backend=backend).open()


def test_device_that_refuses_to_open():
    backend = FakeSoundDevice([USB_MIC])

    def refuse(**kwargs):
        raise backend.PortAudioError('Invalid sample rate')
    backend.InputStream = refuse
    with pytest.raises(AudioDeviceError, match='cannot open input device .*Invalid sample'):
        MicrophoneSource(backend=backend).open()


def test_stereo_48k_blocks_become_16k_mono_chunks_stamped_at_the_adc_time():
    backend = FakeSoundDevice([USB_MIC])
    wall = {'now': 500.0}
    microphone = MicrophoneSource(backend=backend, channels=2, clock=lambda: wall['now'])
    with microphone:
        [stream] = backend.streams
        assert stream.started and stream.samplerate == 48000 and stream.channels == 2
        t = np.arange(48000) / 48000
        left = 0.5 * np.sin(2 * np.pi * 300 * t)
        signal = np.stack([left, left], axis=1).astype(np.float32)
        chunks = []
        for k in range(10):  # ten 0.1 s blocks; the callback runs 30 ms after the ADC time
            wall['now'] = 500.0 + (k + 1) * 0.1 + 0.03
            deliver(stream, signal[k * 4800:(k + 1) * 4800], adc_time=20.0 + k * 0.1,
                    current_time=20.0 + k * 0.1 + 0.03)
            chunks.append(microphone.read(timeout=0.1))
        assert microphone.read(timeout=0.01) is None
    assert stream.closed
    index = 0
    for chunk in chunks:
        assert chunk.sample_index == index and chunk.sample_rate == 16000
        # ADC time of sample 0 is 20.0 on the stream clock = 500.1 on ours.
        assert chunk.capture_time == pytest.approx(500.1 + index / 16000, abs=1e-6)
        assert chunk.source_sample_rate == 48000 and chunk.source_channels == 2
        index = chunk.end_index
    out = np.concatenate([c.samples for c in chunks])
    reference = resample(left.astype(np.float32), 48000)[:out.size]
    assert np.max(np.abs(out - reference)) < 1e-5


def test_overflow_shows_as_a_gap_in_the_running_index():
    backend = FakeSoundDevice([USB_MIC])
    wall = {'now': 0.0}
    microphone = MicrophoneSource(backend=backend, clock=lambda: wall['now'])
    with microphone:
        [stream] = backend.streams
        block = np.zeros((4800, 1), dtype=np.float32)
        for adc, overflow in [(1.0, False), (1.1, False), (1.5, True)]:  # 0.3 s lost
            wall['now'] = 100.0 + adc + 0.1
            deliver(stream, block, adc, adc + 0.1, overflow=overflow)
        chunks = [microphone.read(timeout=0.1) for _ in range(3)]
    assert microphone.overflows == 1
    assert chunks[2].sample_index >= chunks[1].end_index + int(0.3 * 16000) - 32
    assert chunks[2].sample_index == pytest.approx(0.5 * 16000, abs=1)
    assert chunks[2].capture_time == pytest.approx(101.5, abs=1e-6)
