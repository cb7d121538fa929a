"""Spoken test audio, made with espeak-ng and sox (no binary files in the repository)."""
import shutil

import numpy as np
import pytest

from dream_audio.speech_synthesis import synthesize

DREAM = ('I was walking through a forest of glass trees, and every leaf was ringing '
         'like a small bell.')


@pytest.fixture(scope='session')
def tts():
    """Skips the test where espeak-ng or sox is missing."""
    if not (shutil.which('espeak-ng') and shutil.which('sox')):
        pytest.skip('espeak-ng and sox are needed to make test speech')


@pytest.fixture(scope='session')
def dream_text():
    return DREAM


class EnergyDetector:
    """A stand-in for Silero: 'speech' wherever the window is louder than -40 dBFS."""

    window = 512

    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1

    def __call__(self, window):
        return 0.9 if np.sqrt(np.mean(np.square(window))) > 0.01 else 0.0


@pytest.fixture
def energy_detector():
    return EnergyDetector()


@pytest.fixture(scope='session')
def speech_dir(tmp_path_factory, tts):
    return tmp_path_factory.mktemp('speech')


@pytest.fixture(scope='session')
def dream_wav(speech_dir):
    """About 7 s: 1 s of silence, the dream, 1.5 s of silence; 22050 Hz mono 16-bit."""
    return synthesize(DREAM, speech_dir / 'dream.wav')


@pytest.fixture(scope='session')
def silero():
    from dream_audio.speech_detector import SileroSpeechDetector
    return SileroSpeechDetector()
