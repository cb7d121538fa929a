"""A Recognition as a dream_interfaces/Transcript message (used by the node only)."""
from dream_interfaces.msg import Transcript, TranscriptSegment


def recognition_to_msg(result, session_id='', utterance_index=0, stamp=None, is_final=True,
                       processing_time=0.0, frame_id=''):
    msg = Transcript(
        session_id=session_id, utterance_index=int(utterance_index), is_final=is_final,
        status=int(result.status), status_message=result.status_message, text=result.text,
        original_text=result.original_text, language=result.language,
        language_probability=float(result.language_probability),
        task=Transcript.TASK_TRANSLATE if result.task == 'translate'
        else Transcript.TASK_TRANSCRIBE,
        avg_logprob=float(result.avg_logprob), no_speech_prob=float(result.no_speech_prob),
        compression_ratio=float(result.compression_ratio), model=result.model,
        audio_duration=float(result.audio_duration), processing_time=float(processing_time))
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.segments = [TranscriptSegment(start=s.start, end=s.end, text=s.text,
                                      avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob,
                                      compression_ratio=s.compression_ratio)
                    for s in result.segments]
    return msg
