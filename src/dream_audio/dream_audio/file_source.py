"""Audio files (WAV, FLAC, OGG... through libsndfile) as a stream of 16 kHz mono chunks.

Played in real time, a file stands in for the microphone (replays, demos, tests of the live
chain); played as fast as possible, it is simply read. Either way each chunk is stamped with
the capture time of its first sample: ``start_time + sample_index / rate``.

A file shorter than its header says (a WAV cut short: libsndfile quietly reads what is there)
plays what it has; ``FileSource.warning`` then says so, once the file has been read.
"""
import os
import struct
import threading
import time
from dataclasses import dataclass

import numpy as np
import soundfile

from dream_audio.chunk import Chunk
from dream_audio.pcm import to_mono
from dream_audio.resampling import TARGET_RATE, StreamingResampler


class AudioFileError(RuntimeError):
    """The file is missing, unreadable, corrupt or not audio."""

    usage_error = True      # the user's file, not a bug: ``dream`` prints one line, no hint


@dataclass
class DecodedAudio:
    samples: np.ndarray          # float32 mono at sample_rate
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    source_encoding: str
    warning: str = ''            # e.g. the file is shorter than its header says

    @property
    def duration(self):
        return len(self.samples) / self.sample_rate


def file_info(path):
    """soundfile's info for ``path``, or an AudioFileError that says what is wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioFileError(f'audio file not found: {path}')
    if os.path.isdir(path):
        raise AudioFileError(f'{path} is a directory, not an audio file')
    try:
        info = soundfile.info(path)
    except (soundfile.SoundFileError, RuntimeError) as exc:
        raise AudioFileError(
            f'cannot read {path} as audio: {_reason(exc)} (corrupt file, or a format '
            'libsndfile does not read; WAV, FLAC, OGG/Vorbis and MP3 are read)') from exc
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(f'{path}: invalid header ({info.samplerate} Hz, '
                             f'{info.channels} channels)')
    return info


def _reason(exc):
    text = str(exc)
    return text.split(': ', 1)[1] if text.startswith('Error opening') and ': ' in text else text


# WAV data sizes that mean "unknown length" (written to a pipe), not a promise of samples.
_UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)


def wav_header_frames(path):
    """The frames a RIFF/WAVE file's header promises (its data chunk's size / block align),
    or None: not a WAV, an unknown length, or a header this reader does not follow."""
    try:
        with open(path, 'rb') as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b'RIFF' or head[8:12] != b'WAVE':
                return None
            block_align = None
            for _ in range(64):                    # chunks before 'data': a few at most
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                name, size = chunk[:4], struct.unpack('<I', chunk[4:])[0]
                if name == b'fmt ':
                    fmt = f.read(size + (size & 1))
                    if len(fmt) < 14:
                        return None
                    block_align = struct.unpack('<H', fmt[12:14])[0]
                elif name == b'data':
                    if not block_align or size in _UNKNOWN_WAV_SIZES or size >= 0x7FFFF000:
                        return None
                    return size // block_align
                else:
                    f.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None
    return None


def short_file_warning(path, declared_frames, read_frames, rate):
    """A warning when fewer frames were read than the header declared, else ''."""
    if declared_frames is None or read_frames >= declared_frames:
        return ''
    return (f'{path} is shorter than its header says: {read_frames / rate:.1f} s read of the '
            f'{declared_frames / rate:.1f} s declared (a truncated file? the rest is missing)')


def source_encoding(info):
    """e.g. 'wav/pcm_16', 'flac/pcm_24', 'ogg/vorbis'."""
    return f'{info.format}/{info.subtype}'.lower()


class FileSource:
    """Iterate over a file's audio as Chunks; ``stop()`` (from any thread) ends the iteration.

    ``realtime``: hand each chunk over only once its last sample would have been captured
    (like a microphone, paced on the monotonic clock); otherwise as fast as it decodes.
    ``clock`` gives the stamps; ``start_time`` defaults to its value when iteration begins.
    """

    def __init__(self, path, sample_rate=TARGET_RATE, chunk_duration=0.1, realtime=False,
                 start_time=None, clock=time.time):
        if chunk_duration <= 0:
            raise ValueError(f'chunk_duration must be positive, got {chunk_duration}')
        self.path = os.fspath(path)
        self.info = file_info(self.path)
        self.sample_rate = int(sample_rate)
        self.chunk_duration = float(chunk_duration)
        self.realtime = realtime
        self.start_time = start_time
        self._clock = clock
        self._stopped = threading.Event()
        # What the header promises: libsndfile's count (a FLAC's STREAMINFO), or a WAV's data
        # chunk size where libsndfile quietly shortened its count to what the file holds.
        self.declared_frames = max(self.info.frames, wav_header_frames(self.path) or 0)
        self.frames_read = 0      # source frames decoded so far
        self.warning = ''         # set once the whole file is read: e.g. shorter than declared

    @property
    def source_encoding(self):
        return source_encoding(self.info)

    def stop(self):
        self._stopped.set()

    def __iter__(self):
        start = self._clock() if self.start_time is None else self.start_time
        self._paced_from = time.monotonic()
        resampler = StreamingResampler(self.info.samplerate, self.sample_rate)
        blocksize = max(1, round(self.chunk_duration * self.info.samplerate))
        index = 0
        self.frames_read = 0
        self.warning = ''
        try:
            with soundfile.SoundFile(self.path) as audio:
                for block in audio.blocks(blocksize=blocksize, dtype='float32', always_2d=True):
                    self.frames_read += len(block)
                    samples = resampler.push(to_mono(block))
                    if samples.size:
                        if not self._deliver(index, samples.size):
                            return
                        yield self._chunk(samples, index, start)
                        index += samples.size
        except (soundfile.SoundFileError, RuntimeError) as exc:
            raise AudioFileError(f'{self.path}: decoding failed after {index} samples: '
                                 f'{exc}') from exc
        self.warning = short_file_warning(self.path, self.declared_frames, self.frames_read,
                                          self.info.samplerate)
        tail = resampler.flush()
        if tail.size and self._deliver(index, tail.size):
            yield self._chunk(tail, index, start)

    def _deliver(self, index, count):
        """Wait (real time) until the chunk's last sample is due; False once stopped."""
        if self.realtime:
            due = self._paced_from + (index + count) / self.sample_rate
            delay = due - time.monotonic()
            if delay > 0:
                self._stopped.wait(delay)
        return not self._stopped.is_set()

    def _chunk(self, samples, index, start):
        return Chunk(samples=samples, sample_rate=self.sample_rate, sample_index=index,
                     capture_time=start + index / self.sample_rate,
                     source_sample_rate=self.info.samplerate,
                     source_channels=self.info.channels,
                     source_encoding=self.source_encoding)


def read_audio_file(path, sample_rate=TARGET_RATE):
    """A whole file as 16 kHz mono float32 (any format, rate and channel count)."""
    source = FileSource(path, sample_rate=sample_rate, chunk_duration=1.0, start_time=0.0)
    parts = [chunk.samples for chunk in source]
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return DecodedAudio(samples=samples, sample_rate=source.sample_rate,
                        source_sample_rate=source.info.samplerate,
                        source_channels=source.info.channels,
                        source_encoding=source.source_encoding, warning=source.warning)
