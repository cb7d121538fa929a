"""``dream transcribe`` in-process (the command turns exceptions into one error line)."""
import argparse
import json
import re

import numpy as np
import pytest
import soundfile

from dream_audio.file_source import AudioFileError
from dream_stt.transcribe_verb import REJECTED_EXIT, TranscribeVerb


@pytest.fixture(autouse=True)
def reuse_tiny(monkeypatch, tiny):
    """The verb loads its model each run; the tests reuse the session's tiny.en."""
    from dream_stt import model_store
    load = model_store.load
    monkeypatch.setattr(model_store, 'load', lambda name, **kw: tiny if name == 'tiny.en'
                        else load(name, **kw))


def run(*argv):
    verb = TranscribeVerb()
    parser = argparse.ArgumentParser()
    verb.add_arguments(parser)
    return verb.main(parser.parse_args(list(argv)))


def test_prints_the_text(dream_wav, capsys, key_words):
    assert run(str(dream_wav), '--model', 'tiny.en') == 0
    out = capsys.readouterr().out
    assert key_words(out) >= 3 and len(out.strip().splitlines()) == 1


def test_json_has_signals_segments_and_timings(dream_wav, capsys):
    assert run(str(dream_wav), '--model', 'tiny.en', '--json') == 0
    report = json.loads(capsys.readouterr().out)
    assert report['status'] == 'OK' and report['language'] == ''   # tiny.en: none detected
    assert report['segments'] and {'avg_logprob', 'no_speech_prob', 'compression_ratio'} <= \
        set(report['segments'][0])
    assert report['source']['sample_rate'] == 22050
    assert report['speech_span']['utterances'] == 1
    assert report['timings']['decode_s'] > 0 and report['timings']['model_load_s'] > 0


def test_silence_is_rejected_with_exit_status_3(tmp_path, capsys):
    path = tmp_path / 'silence.flac'
    soundfile.write(str(path), np.zeros(48000, dtype=np.float32), 48000)
    assert run(str(path), '--model', 'tiny.en') == REJECTED_EXIT
    captured = capsys.readouterr()
    assert captured.out == '' and 'rejected_no_speech' in captured.err


def test_zero_length_file(tmp_path, capsys):
    path = tmp_path / 'zero.wav'
    soundfile.write(str(path), np.zeros(0, dtype=np.float32), 16000)
    assert run(str(path), '--model', 'tiny.en') == REJECTED_EXIT
    assert 'rejected_empty' in capsys.readouterr().err


def test_a_very_quiet_recording_names_its_level(dream_wav, tmp_path, capsys):
    """Speech at -62 dBFS peak: the voice detector finds none, and the message says why."""
    quiet = tmp_path / 'quiet.wav'
    samples, rate = soundfile.read(str(dream_wav), dtype='float32')
    soundfile.write(str(quiet), samples * (0.0008 / np.max(np.abs(samples))), rate)
    assert run(str(quiet), '--model', 'tiny.en') == REJECTED_EXIT
    err = capsys.readouterr().err
    assert 'rejected_no_speech' in err
    assert re.search(r'the recording is very quiet \(peak -6[123] dBFS\): raise the input '
                     'gain', err), err


def test_a_truncated_wav_is_transcribed_with_a_warning(dream_wav, tmp_path, capsys):
    cut = tmp_path / 'cut.wav'
    data = dream_wav.read_bytes()
    cut.write_bytes(data[:len(data) // 2])          # the header still declares it all
    run(str(cut), '--model', 'tiny.en')
    err = capsys.readouterr().err
    assert 'warning: ' in err and 'is shorter than its header says' in err
    run(str(dream_wav), '--model', 'tiny.en')
    assert 'shorter than its header' not in capsys.readouterr().err


def test_it_decodes_the_audio_the_speech_node_gets(dream_wav, monkeypatch, capsys):
    """What the capture node sends (16-bit chunks), not the file's float samples: where
    Whisper hesitates, half a 16-bit step turned a translation accepted in dream run into
    one rejected here."""
    from dream_audio.file_source import FileSource
    from dream_audio.ros_messages import chunk_from_msg, chunk_to_msg
    from dream_stt import file_transcription
    seen = []
    real = file_transcription.transcribe_recording

    def spy(samples, *args, **kwargs):
        seen.append(samples)
        return real(samples, *args, **kwargs)
    monkeypatch.setattr(file_transcription, 'transcribe_recording', spy)
    assert run(str(dream_wav), '--model', 'tiny.en') == 0
    sent = np.concatenate([
        chunk_from_msg(chunk_to_msg(chunk, 'pcm_s16le', 's', 'mic')).samples
        for chunk in FileSource(dream_wav, chunk_duration=0.1, start_time=0.0)])
    assert np.array_equal(seen[0], sent)
    assert run(str(dream_wav), '--model', 'tiny.en', '--encoding', 'f32le') == 0
    assert not np.array_equal(seen[1], sent)
    capsys.readouterr()


def test_missing_and_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(AudioFileError, match='not found'):
        run(str(tmp_path / 'none.wav'))
    corrupt = tmp_path / 'corrupt.wav'
    corrupt.write_bytes(b'RIFF' + b'\x00' * 64)
    with pytest.raises(AudioFileError, match='cannot read'):
        run(str(corrupt))


def test_unknown_model_is_a_clear_error(dream_wav):
    from dream_stt.model_store import ModelUnavailableError
    with pytest.raises(ModelUnavailableError, match='unknown Whisper model'):
        run(str(dream_wav), '--model', 'enormous-v9')


class _Multilingual:
    """A stand-in multilingual model that knows two languages and must never decode."""
    is_multilingual = True
    supported_languages = ('en', 'fr')

    @property
    def model(self):
        return self

    def transcribe(self, *args, **kwargs):
        raise AssertionError('decoded despite a bad option')


def test_bad_language_is_a_usage_error_not_a_rejection(dream_wav, monkeypatch):
    from dream_stt import model_store
    with pytest.raises(ValueError, match='English-only'):
        run(str(dream_wav), '--model', 'tiny.en', '--language', 'fr')
    stub = model_store.LoadedModel(_Multilingual(), 'stub', 'stub', 'cpu', 'int8', 0.0)
    monkeypatch.setattr(model_store, 'load', lambda name, **kw: stub)
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        run(str(dream_wav), '--model', 'stub', '--language', 'xx')


def test_translate_with_an_english_only_model_says_it_transcribed(dream_wav, capsys):
    """tiny.en cannot translate; English speech transcribed is what translate would give,
    and the demo's task translate must work with it: said, not hidden."""
    assert run(str(dream_wav), '--model', 'tiny.en', '--task', 'translate', '--json') == 0
    report = json.loads(capsys.readouterr().out)
    assert report['task'] == 'transcribe' and report['passes'] == 1
    assert 'task: transcribe (the model is English-only)' in report['status_message']
    assert run(str(dream_wav), '--model', 'tiny.en', '--task', 'translate') == 0
    captured = capsys.readouterr()
    assert 'task: transcribe (the model is English-only)' in captured.err
    assert run(str(dream_wav), '--model', 'tiny.en', '--task', 'transcribe') == 0
    assert captured.out == capsys.readouterr().out


def test_progress_goes_to_stderr_and_json_stays_clean(dream_wav, capsys):
    assert run(str(dream_wav), '--model', 'tiny.en', '--json') == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert 'decoding' in captured.err


def test_the_bar_is_relabelled_only_when_a_second_pass_starts(capsys):
    """Once, the end of a 15-minute decode (896.596 s after the bar's rounded 896.6) was
    taken for the start of a translation pass: 'translating 0%' after a transcribe."""
    from dream_stt.transcribe_verb import _DecodeProgress
    progress = _DecodeProgress()
    with progress as update:
        for done in (10.0, 500.25, 896.596, 896.596):
            update(done, 896.596)
        assert progress.bar.desc.startswith('decoding') and progress.bar.n == 896.6
        update(12.0, 896.596)                  # a translation's second pass begins
        assert progress.bar.desc.startswith('translating') and progress.bar.n == 12.0
    capsys.readouterr()
