"""Raw PCM bytes <-> float32 samples, for the byte arrays of AudioChunk and Utterance.

Downstream code works on float32 in [-1, 1]; messages carry little-endian PCM so that a bag
is readable by any tool. Bad byte counts or unknown encodings raise ValueError with the reason.
"""
import numpy as np

ENCODING_PCM_S16LE = 'pcm_s16le'
ENCODING_F32LE = 'f32le'
_DTYPES = {ENCODING_PCM_S16LE: np.dtype('<i2'), ENCODING_F32LE: np.dtype('<f4')}
ENCODINGS = tuple(_DTYPES)


def check_encoding(encoding):
    if encoding not in _DTYPES:
        raise ValueError(f'unknown audio encoding {encoding!r}: use one of {", ".join(ENCODINGS)}')
    return encoding


def encode(samples, encoding):
    """float samples (frames, or frames x channels) -> little-endian bytes."""
    dtype = _DTYPES[check_encoding(encoding)]
    samples = np.asarray(samples, dtype=np.float32)
    if dtype.kind == 'i':
        # Round and saturate rather than wrap: a clipped sample must stay at full scale.
        samples = np.clip(np.rint(samples * 32768.0), -32768, 32767)
    return samples.astype(dtype).tobytes()


def decode(data, encoding, channels=1):
    """Little-endian bytes -> float32 mono samples (channels are averaged)."""
    dtype = _DTYPES[check_encoding(encoding)]
    if channels < 1:
        raise ValueError(f'channels must be at least 1, got {channels}')
    data = bytes(data)
    frame = dtype.itemsize * channels
    if len(data) % frame:
        raise ValueError(
            f'{len(data)} bytes is not a whole number of {encoding} frames of '
            f'{channels} channel(s) ({frame} bytes each)')
    samples = np.frombuffer(data, dtype=dtype).astype(np.float32)
    if dtype.kind == 'i':
        samples /= 32768.0
    if channels > 1:
        samples = to_mono(samples.reshape(-1, channels))
    return samples


def to_mono(frames):
    """(frames,) or (frames, channels) -> (frames,) float32, by averaging the channels."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim == 1:
        return frames
    if frames.ndim != 2:
        raise ValueError(f'audio must be 1-D or (frames, channels), got shape {frames.shape}')
    return frames.mean(axis=1, dtype=np.float32)
