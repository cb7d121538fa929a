"""One encoder run per utterance, and the same text as faster-whisper's own model."""
import numpy as np
import pytest
from faster_whisper import WhisperModel

from dream_stt import model_store
from dream_stt.recognizer import SpeechRecognizer


@pytest.fixture(scope='module')
def base():
    return model_store.load('base', device='cpu')


def _plain(loaded):
    model = WhisperModel(loaded.path, device='cpu', compute_type=loaded.compute_type)
    return model_store.LoadedModel(model, loaded.name, loaded.path, 'cpu',
                                   loaded.compute_type, 0.0)


def test_detection_and_decoding_share_one_encoder_run(base, dream_audio, key_words):
    base.model.forget_encodings()
    runs = base.model.encoder_runs
    result = SpeechRecognizer(base).recognize(dream_audio, task='translate')
    assert result.ok and result.language == 'en' and key_words(result.text) >= 3
    assert base.model.encoder_runs - runs == 1   # faster-whisper alone: detect + decode = 2
    plain = SpeechRecognizer(_plain(base)).recognize(dream_audio, task='translate')
    assert plain.text == result.text and plain.language == result.language
    assert result.language_probability == pytest.approx(plain.language_probability, abs=0.05)


def test_a_second_pass_on_the_same_audio_reuses_the_encoding(base, dream_audio):
    base.model.forget_encodings()
    recognizer = SpeechRecognizer(base)
    first = recognizer.recognize(dream_audio)
    runs, reuses = base.model.encoder_runs, base.model.encoder_reuses
    second = recognizer.recognize(dream_audio)
    assert base.model.encoder_runs == runs and base.model.encoder_reuses > reuses
    assert second.text == first.text


def test_different_audio_is_encoded_again(base, dream_audio):
    base.model.forget_encodings()
    recognizer = SpeechRecognizer(base)
    recognizer.recognize(dream_audio)
    runs = base.model.encoder_runs
    louder = np.clip(dream_audio * 0.5, -1, 1)   # same words, different features
    recognizer.recognize(louder)
    assert base.model.encoder_runs == runs + 1


def test_the_cache_is_bounded(base):
    features = [np.full((80, 3000), v, np.float32) for v in range(6)]
    base.model.forget_encodings()
    for f in features:
        base.model.encode(f)
    assert len(base.model._cache) == 4
    runs = base.model.encoder_runs
    base.model.encode(features[0])    # evicted: runs again
    base.model.encode(features[5])    # kept: reused
    assert base.model.encoder_runs == runs + 1


def test_as_a_plain_model_it_encodes_as_faster_whisper_does(base, dream_audio):
    base.model.forget_encodings()
    runs = base.model.encoder_runs
    with base.model.as_plain_model() as plain:
        segments, info = plain.transcribe(dream_audio)   # detects the language
        list(segments)
    assert info.language == 'en'
    assert base.model.encoder_runs == runs + 2           # detection and decoding
    runs = base.model.encoder_runs
    segments, _ = base.model.transcribe(dream_audio)
    list(segments)
    assert base.model.encoder_runs == runs + 1
