"""RecognitionWorker: one decode at a time, in order; previews reused by their finals."""
import threading
import time

import numpy as np

from dream_stt.recognition_worker import RecognitionWorker, audio_key


class FakeRecognizer:
    def __init__(self, seconds=0.05):
        self.seconds = seconds
        self.calls = []
        self.running = 0
        self.overlap = False

    def __call__(self, samples, task, language, speech_ratio):
        self.running += 1
        self.overlap = self.overlap or self.running > 1
        self.calls.append(int(samples.size))
        time.sleep(self.seconds)
        self.running -= 1
        return f'text of {samples.size} samples'


def collect():
    outcomes, done = [], threading.Event()

    def on_done(outcome):
        outcomes.append(outcome)
        done.set()
    return outcomes, done, on_done


def job(size, session='s'):
    samples = np.zeros(size, np.float32)
    return audio_key(session, 100, samples, 'transcribe', None), samples


def test_a_final_reuses_its_preview_and_a_different_one_decodes():
    fake = FakeRecognizer()
    worker = RecognitionWorker(fake)
    try:
        key, samples = job(16000)
        worker.speculate(key, samples, 'transcribe', None, 0.9)
        outcomes, done, on_done = collect()
        worker.final(key, samples, 'transcribe', None, 0.9, on_done)
        assert done.wait(5)
        [outcome] = outcomes
        assert outcome.reused and outcome.decode_s == 0.0
        assert outcome.recognition == 'text of 16000 samples' and fake.calls == [16000]
        # The speaker went on: the stale preview does not answer the longer final.
        stale_key, stale = job(16000, 't')
        worker.speculate(stale_key, stale, 'transcribe', None, 0.9)
        key, samples = job(24000, 't')
        outcomes, done, on_done = collect()
        worker.final(key, samples, 'transcribe', None, 0.9, on_done)
        assert done.wait(5)
        assert not outcomes[0].reused and outcomes[0].recognition == 'text of 24000 samples'
    finally:
        worker.close()


def test_another_task_or_language_is_another_decode():
    samples = np.zeros(8000, np.float32)
    assert audio_key('s', 0, samples, 'transcribe', None) != \
        audio_key('s', 0, samples, 'translate', None)
    assert audio_key('s', 0, samples, 'transcribe', 'es') != \
        audio_key('s', 0, samples, 'transcribe', None)


def test_jobs_run_one_at_a_time_in_order_and_partials_only_when_idle():
    fake = FakeRecognizer(seconds=0.1)
    worker = RecognitionWorker(fake)
    try:
        outcomes, done, on_done = collect()
        for size in (1000, 2000, 3000):
            key, samples = job(size)
            worker.final(key, samples, 'transcribe', None, 1.0, on_done)
        assert not worker.partial(np.zeros(500, np.float32), 'transcribe', None, on_done)
        deadline = time.monotonic() + 10
        while len(outcomes) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake.calls == [1000, 2000, 3000] and not fake.overlap
        assert [o.recognition for o in outcomes] == [f'text of {n} samples'
                                                     for n in (1000, 2000, 3000)]
        while not worker.idle() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.partial(np.zeros(500, np.float32), 'transcribe', None, on_done)
    finally:
        worker.close()


def test_a_failing_callback_does_not_stop_the_worker():
    errors = []
    worker = RecognitionWorker(FakeRecognizer(0.0), log_error=errors.append)
    try:
        key, samples = job(100)
        worker.final(key, samples, 'transcribe', None, 1.0, lambda outcome: 1 / 0)
        outcomes, done, on_done = collect()
        worker.final(key, samples, 'transcribe', None, 1.0, on_done)
        assert done.wait(5) and errors and 'ZeroDivisionError' in errors[0]
    finally:
        worker.close()
