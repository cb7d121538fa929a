"""Between our plain audio objects and dream_interfaces messages (used by the nodes only)."""
import numpy as np
from builtin_interfaces.msg import Time
from dream_interfaces.msg import AudioChunk, Utterance

from dream_audio.chunk import Chunk
from dream_audio.pcm import decode, encode


def to_stamp(seconds):
    nanoseconds = max(0, int(round(seconds * 1e9)))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def to_seconds(stamp):
    return stamp.sec + stamp.nanosec * 1e-9


def chunk_to_msg(chunk, encoding, session_id='', frame_id=''):
    msg = AudioChunk(session_id=session_id, sample_rate=chunk.sample_rate, channels=1,
                     encoding=encoding, sample_index=chunk.sample_index,
                     source_sample_rate=chunk.source_sample_rate,
                     source_channels=chunk.source_channels,
                     source_encoding=chunk.source_encoding)
    msg.header.stamp = to_stamp(chunk.capture_time)
    msg.header.frame_id = frame_id
    msg.data = encode(chunk.samples, encoding)
    return msg


def end_of_stream_msg(sample_index, sample_rate, capture_time, encoding, session_id='',
                      frame_id=''):
    """An AudioChunk with no data: the source ended (file played out, device closed)."""
    msg = AudioChunk(session_id=session_id, sample_rate=sample_rate, channels=1,
                     encoding=encoding, sample_index=sample_index)
    msg.header.stamp = to_stamp(capture_time)
    msg.header.frame_id = frame_id
    return msg


def _check_format(what, sample_rate, channels):
    if sample_rate <= 0:
        raise ValueError(f'{what} has sample_rate {sample_rate}')
    if channels <= 0:
        raise ValueError(f'{what} has {channels} channels')


def chunk_from_msg(msg):
    """An AudioChunk as a mono float32 Chunk; ValueError if its format is inconsistent."""
    _check_format('audio chunk', msg.sample_rate, msg.channels)
    samples = decode(msg.data, msg.encoding, msg.channels)
    return Chunk(samples=samples, sample_rate=msg.sample_rate, sample_index=msg.sample_index,
                 capture_time=to_seconds(msg.header.stamp),
                 source_sample_rate=msg.source_sample_rate or msg.sample_rate,
                 source_channels=msg.source_channels or msg.channels,
                 source_encoding=msg.source_encoding or msg.encoding)


def utterance_to_msg(utterance, start_time, end_time, encoding, session_id='', frame_id=''):
    msg = Utterance(session_id=session_id, utterance_index=utterance.index,
                    start_sample_index=utterance.start_index,
                    end_reason=int(utterance.end_reason),
                    speech_ratio=float(utterance.speech_ratio),
                    sample_rate=utterance.sample_rate, channels=1, encoding=encoding)
    msg.header.stamp = to_stamp(start_time)
    msg.header.frame_id = frame_id
    msg.start = to_stamp(start_time)
    msg.end = to_stamp(end_time)
    msg.data = encode(utterance.samples, encoding)
    return msg


def utterance_samples(msg):
    """An Utterance's audio as mono float32 at msg.sample_rate; ValueError if inconsistent."""
    _check_format('utterance', msg.sample_rate, msg.channels)
    samples = decode(msg.data, msg.encoding, msg.channels)
    return np.asarray(samples, dtype=np.float32)
