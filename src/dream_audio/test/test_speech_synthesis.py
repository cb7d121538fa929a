import pytest
import soundfile

from dream_audio.speech_synthesis import SynthesisError, synthesize


def test_speech_is_padded_with_silence(tts, tmp_path):
    short = soundfile.info(str(synthesize('a red balloon', tmp_path / 'a.wav',
                                          pad_before=0, pad_after=0))).duration
    padded = soundfile.info(str(synthesize('a red balloon', tmp_path / 'b.flac',
                                           pad_before=1.0, pad_after=1.5))).duration
    assert padded == pytest.approx(short + 2.5, abs=0.01)


def test_format_conversion(tts, tmp_path):
    info = soundfile.info(str(synthesize('hello', tmp_path / 'x.wav', sample_rate=48000,
                                         channels=2)))
    assert (info.samplerate, info.channels) == (48000, 2)


def test_faster_speech_is_shorter(tts, tmp_path):
    text = 'the moon was made of paper and it was raining ink'
    slow = soundfile.info(str(synthesize(text, tmp_path / 's.wav', wpm=110))).duration
    fast = soundfile.info(str(synthesize(text, tmp_path / 'f.wav', wpm=200))).duration
    assert fast < slow


def test_empty_text(tmp_path):
    with pytest.raises(SynthesisError, match='empty'):
        synthesize('  ', tmp_path / 'x.wav')


def test_unknown_voice(tts, tmp_path):
    with pytest.raises(SynthesisError, match='no voice'):
        synthesize('hello', tmp_path / 'x.wav', voice='xx')
    with pytest.raises(SynthesisError, match='no voice'):
        synthesize('hello', tmp_path / 'x.wav', voice='en-us+nobody')
    assert synthesize('hello', tmp_path / 'y.wav', voice='en-us+f3').exists()
