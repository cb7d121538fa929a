"""One thread that runs every Whisper decode, in order, and starts on utterance previews.

Whisper is slow next to the audio stream: decoding in ROS callbacks would stall the node's
executor. Jobs run one at a time (the model is not shared between threads) in the order
they came. A *speculative* job decodes an utterance preview (the VAD's "this is the utterance
if the pause lasts"); when the final utterance comes with the same audio, its job reuses that
result instead of decoding again, so the transcript is out about when the silence wait ends
rather than one decode later. A stale speculation (the speaker went on) is simply dropped.
Partial decodes run only when nothing else waits.
"""
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

KEEP_SPECULATIONS = 4   # recent preview results kept; older ones can no longer match


def audio_key(session_id, start_index, samples, task, language):
    """What makes two decodes the same: the audio (by its running index and length) and the
    task; a preview and its final utterance share it."""
    return (session_id, int(start_index), int(samples.size), task, language or '')


@dataclass
class Outcome:
    recognition: object          # a Recognition
    reused: bool                 # came from a speculation made on the preview
    queued_s: float              # waited behind other jobs
    decode_s: float              # decoding of this job (0 when reused)


class RecognitionWorker:
    def __init__(self, recognize, recognize_partial=None, *, log_error=None):
        """``recognize(samples, task, language, speech_ratio)`` -> Recognition; it must turn
        its own failures into a Recognition (an error status), as SttNode does: a final job
        always calls ``done``."""
        self._recognize = recognize
        self._recognize_partial = recognize_partial or recognize
        self._log_error = log_error or (lambda text: None)
        self._jobs = queue.Queue()
        self._speculations = {}          # key -> Recognition, most recent last
        self._busy = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name='whisper', daemon=True)
        self._thread.start()

    # -- submitting ----------------------------------------------------------------------
    def speculate(self, key, samples, task, language, speech_ratio):
        """Decode a preview now; a final with the same key will use the result."""
        self._put('speculate', key, samples, task, language, speech_ratio, None)

    def final(self, key, samples, task, language, speech_ratio,
              done: Callable[[Outcome], None]):
        """Recognise an utterance (reusing a matching speculation); ``done(outcome)`` is called
        from the worker thread."""
        self._put('final', key, samples, task, language, speech_ratio, done)

    def partial(self, samples, task, language, done):
        """Decode a partial result only if the worker is idle; False if skipped."""
        if self._busy.is_set() or not self._jobs.empty():
            return False
        self._put('partial', None, samples, task, language, 1.0, done)
        return True

    def idle(self):
        return not self._busy.is_set() and self._jobs.empty()

    def close(self, timeout=5.0):
        self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout)

    def _put(self, kind, key, samples, task, language, ratio, done):
        if not self._closed:
            self._jobs.put((kind, key, samples, task, language, ratio, done,
                            time.perf_counter()))

    # -- the thread ----------------------------------------------------------------------
    def _run(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._busy.set()
            try:
                self._do(*job)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one job
                self._log_error(f'recognition job failed: {exc!r}')
            finally:
                self._busy.clear()

    def _do(self, kind, key, samples, task, language, ratio, done, queued_at):
        started = time.perf_counter()
        if kind == 'final':
            reused = self._speculations.pop(key, None)
            if reused is not None:
                done(Outcome(reused, True, started - queued_at, 0.0))
                return
        recognize = self._recognize_partial if kind == 'partial' else self._recognize
        result = recognize(samples, task, language, ratio)
        decode_s = time.perf_counter() - started
        if kind == 'speculate':
            self._speculations[key] = result
            while len(self._speculations) > KEEP_SPECULATIONS:
                self._speculations.pop(next(iter(self._speculations)))
        elif done is not None:
            done(Outcome(result, False, started - queued_at, decode_s))
