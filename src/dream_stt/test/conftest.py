"""A loaded tiny.en (fast) and spoken test audio made with espeak-ng and sox."""
import shutil

import numpy as np
import pytest

from dream_audio.file_source import read_audio_file
from dream_audio.speech_synthesis import synthesize

DREAM = 'A giant whale was flying over the city at night.'


@pytest.fixture(scope='session')
def tiny():
    from dream_stt import model_store
    return model_store.load('tiny.en', device='cpu')


@pytest.fixture(scope='session')
def recognizer(tiny):
    from dream_stt.recognizer import SpeechRecognizer
    return SpeechRecognizer(tiny)


@pytest.fixture(scope='session')
def silero():
    from dream_audio.speech_detector import SileroSpeechDetector
    return SileroSpeechDetector()


@pytest.fixture(scope='session')
def speech_dir(tmp_path_factory):
    if not (shutil.which('espeak-ng') and shutil.which('sox')):
        pytest.skip('espeak-ng and sox are needed to make test speech')
    return tmp_path_factory.mktemp('stt-speech')


@pytest.fixture(scope='session')
def dream_text():
    return DREAM


@pytest.fixture(scope='session')
def dream_wav(speech_dir):
    return synthesize(DREAM, speech_dir / 'whale.wav', pad_before=0.5, pad_after=0.5)


@pytest.fixture(scope='session')
def dream_audio(dream_wav):
    return read_audio_file(dream_wav).samples


@pytest.fixture(scope='session')
def key_words():
    def check(text):
        words = text.lower()
        return sum(w in words for w in ('whale', 'city', 'night', 'flying'))
    return check


@pytest.fixture(scope='session')
def signals():
    """Non-speech test signals at 16 kHz."""
    rng = np.random.default_rng(7)
    t = np.arange(3 * 16000) / 16000
    notes = np.repeat([262.0, 330.0, 392.0, 523.0, 392.0, 330.0], 8000)
    return {
        'silence': np.zeros(3 * 16000, dtype=np.float32),
        'white_noise': rng.normal(0, 0.2, 3 * 16000).astype(np.float32),
        'music': (0.25 * np.sin(2 * np.pi * np.cumsum(notes) / 16000)
                  + 0.1 * np.sin(2 * np.pi * 2 * np.cumsum(notes) / 16000)
                  + 0.05 * np.sin(2 * np.pi * 110 * t)).astype(np.float32),
    }
