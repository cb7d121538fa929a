import numpy as np
import pytest

from dream_audio.pcm import decode, encode, to_mono


@pytest.mark.parametrize('encoding,tolerance', [('pcm_s16le', 1 / 32768), ('f32le', 0.0)])
def test_round_trip(encoding, tolerance):
    samples = np.linspace(-0.9, 0.9, 101, dtype=np.float32)
    back = decode(encode(samples, encoding), encoding)
    assert back.dtype == np.float32
    assert np.max(np.abs(back - samples)) <= tolerance


def test_s16_saturates_instead_of_wrapping():
    back = decode(encode(np.array([1.5, -1.5, 1.0], dtype=np.float32), 'pcm_s16le'),
                  'pcm_s16le')
    assert back[0] > 0.999 and back[1] == -1.0 and back[2] > 0.999


def test_stereo_bytes_are_down_mixed():
    frames = np.array([[0.5, -0.5], [0.25, 0.75]], dtype=np.float32)
    assert np.allclose(decode(encode(frames, 'f32le'), 'f32le', channels=2), [0.0, 0.5])
    assert np.allclose(to_mono(frames), [0.0, 0.5])


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match='whole number'):
        decode(b'\x00\x01\x02', 'pcm_s16le')
    with pytest.raises(ValueError, match='unknown audio encoding'):
        decode(b'', 'mp3')
    with pytest.raises(ValueError, match='channels'):
        decode(b'', 'f32le', channels=0)
