"""A whole recording -> one Transcript-worth of recognition, through the live chain's VAD.

A file (``dream transcribe``, the benchmark) goes through the same UtteranceSegmenter as the
microphone; Whisper then decodes the stretch from the first utterance's start to the last
one's end, pre- and post-roll included, so leading and trailing silence (where Whisper
hallucinates) is cut while pauses inside the dream are kept. A recording in which the voice
detector found no speech and whose peak is very low is rejected with a hint to raise the gain.
"""
from dataclasses import dataclass, replace

import numpy as np

from dream_audio.levels import peak_dbfs, quiet_hint
from dream_audio.segmenter import SegmenterConfig, UtteranceSegmenter
from dream_stt.recognizer import SAMPLE_RATE, Recognition
from dream_stt.rejection import Status


@dataclass
class SpeechSpan:
    start: int            # sample index in the recording
    end: int
    speech_ratio: float   # fraction of the span the VAD judged speech
    utterances: int       # how many utterances the segmenter found in it


def find_speech(samples, detector, config=None):
    """The span holding all the speech of a recording, or None if there is none."""
    segmenter = UtteranceSegmenter(detector, config or SegmenterConfig())
    found = []
    step = SAMPLE_RATE
    for i in range(0, len(samples), step):
        found += segmenter.feed(samples[i:i + step], i)
    found += segmenter.flush()
    if not found:
        return None
    start, end = found[0].start_index, found[-1].end_index
    speech = sum(u.speech_ratio * (u.end_index - u.start_index) for u in found)
    return SpeechSpan(start=start, end=end, speech_ratio=speech / max(end - start, 1),
                      utterances=len(found))


def transcribe_recording(samples, recognizer, detector, task='transcribe', language=None,
                         config=None, progress=None):
    """(Recognition, SpeechSpan or None); segment times are seconds from the recording start.
    ``progress(seconds, total)``: seconds of the speech span decoded, as segments come."""
    samples = np.asarray(samples, dtype=np.float32)
    span = find_speech(samples, detector, config) if samples.size else None
    if span is None:
        if samples.size == 0:
            result = Recognition(Status.REJECTED_EMPTY, 'no audio (zero samples)', task=task)
        else:
            hint = quiet_hint(peak_dbfs(samples))
            result = Recognition(Status.REJECTED_NO_SPEECH,
                                 'the voice detector found no speech in the recording'
                                 + (f'; {hint}' if hint else ''),
                                 task=task, audio_duration=samples.size / SAMPLE_RATE)
        result.model = recognizer.loaded.name
        return result, None
    result = recognizer.recognize(samples[span.start:span.end], task=task, language=language,
                                  speech_ratio=span.speech_ratio, progress=progress)
    offset = span.start / SAMPLE_RATE
    result.segments = [replace(s, start=s.start + offset, end=s.end + offset)
                       for s in result.segments]
    result.original_segments = [replace(s, start=s.start + offset, end=s.end + offset)
                                for s in result.original_segments]
    return result, span
