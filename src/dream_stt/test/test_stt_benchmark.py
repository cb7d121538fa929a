"""The latency part of ``dream bench stt``: real-time streaming with early recognition."""
import numpy as np

from dream_stt.stt_benchmark import SttBenchmark


def test_latency_streams_in_real_time_and_recognises_early(recognizer, silero, dream_audio):
    audio = np.concatenate([np.zeros(8000, np.float32), dream_audio,
                            np.zeros(32000, np.float32)])
    figures = SttBenchmark()._latency(recognizer, audio, silero, repeats=1)
    assert figures['status'] == 'OK'
    assert figures['early_recognition_used'] == 1        # the preview answered the final
    # The silence wait (1.5 s) is counted: streaming was real time, not as fast as possible.
    assert 1.4 <= figures['vad_silence_wait_s'] <= 1.7
    assert figures['speech_end_to_transcript_s'] >= figures['vad_silence_wait_s'] - 0.05
    assert figures['utterance_end_to_transcript_s'] >= 0 and figures['decode_after_cut_s'] > 0
    assert figures['min_silence_s'] == 1.5


def test_latency_with_a_shorter_silence_wait(recognizer, silero, dream_audio):
    audio = np.concatenate([np.zeros(8000, np.float32), dream_audio,
                            np.zeros(32000, np.float32)])
    figures = SttBenchmark()._latency(recognizer, audio, silero, repeats=1, min_silence=0.8)
    assert figures['min_silence_s'] == 0.8 and figures['status'] == 'OK'
    assert 0.7 <= figures['vad_silence_wait_s'] <= 1.0
