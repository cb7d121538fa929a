import numpy as np
import pytest

from dream_audio.resampling import StreamingResampler, resample


@pytest.mark.parametrize('rate', [8000, 11025, 22050, 44100, 48000, 16000])
def test_streaming_equals_one_pass(rate):
    rng = np.random.default_rng(rate)
    signal = rng.normal(0, 0.3, rate * 2 + 7).astype(np.float32)
    streaming = StreamingResampler(rate)
    parts, i = [], 0
    while i < signal.size:
        n = int(rng.integers(1, 2500))
        parts.append(streaming.push(signal[i:i + n]))
        i += n
    parts.append(streaming.flush())
    out = np.concatenate(parts)
    reference = resample(signal, rate)
    assert out.shape == reference.shape
    assert np.max(np.abs(out - reference)) < 1e-5
    assert streaming.output_count == out.size


def test_tone_keeps_its_pitch_and_level():
    t = np.arange(48000) / 48000
    out = resample(0.5 * np.sin(2 * np.pi * 1000 * t), 48000, 16000)
    assert out.size == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) == 1000  # 1 Hz per bin over one second
    assert abs(np.sqrt(np.mean(out[100:-100] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


def test_energy_above_the_new_nyquist_is_removed():
    t = np.arange(48000) / 48000
    out = resample(np.sin(2 * np.pi * 12000 * t), 48000, 16000)  # would alias to 4 kHz
    assert np.sqrt(np.mean(out[200:-200] ** 2)) < 0.01


def test_reset_starts_a_new_stream():
    streaming = StreamingResampler(48000)
    streaming.push(np.ones(4800, dtype=np.float32))
    streaming.reset()
    assert streaming.output_count == 0


def test_bad_rates():
    with pytest.raises(ValueError, match='positive'):
        StreamingResampler(0)
