"""``dream bench hearing``: bad options refused before the speech is made; runs that
failed are not counted as measured, and a bench where all failed says why."""
import json

import pytest

from dream_session import command
from dream_session.bench_hearing import HearingBenchmark


@pytest.mark.parametrize('argv, message', [
    (['--repeats', '0'], '--repeats must be >= 1, got 0'),
    (['--min-silence', '0'], '--min-silence must be > 0 seconds'),
    (['--stt-model', '/nonexistent'], '--stt-model: model directory not found: /nonexistent'),
    (['--text', ''], '--text is empty: give words to say'),
    (['--text', ' \t'], '--text is empty: give words to say'),
])
def test_bad_options_are_one_line_errors(argv, message, capsys):
    assert command.main(['bench', 'hearing', *argv]) == 1
    printed = capsys.readouterr()
    assert f'dream bench hearing: error: {message}' in printed.err
    assert 'run 1/' not in printed.err and printed.out == ''


@pytest.fixture
def fake_runs(monkeypatch, tmp_path):
    """Plays nothing: each run returns the next of the given results."""
    def use(*runs):
        results = iter(runs)
        monkeypatch.setattr('dream_audio.speech_synthesis.synthesize',
                            lambda *a, **k: tmp_path / 'dream.wav')
        monkeypatch.setattr(HearingBenchmark, '_play_once', lambda self, args, wav:
                            next(results))
    return use


def test_when_every_run_failed_the_bench_says_why(fake_runs, capsys):
    fake_runs({'error': 'error transcript: no model', 'min_silence_s': 1.5})
    assert command.main(['bench', 'hearing', '--repeats', '1']) == 1
    printed = capsys.readouterr()
    assert 'dream bench hearing: error: every run failed: error transcript: no model' \
        in printed.err and printed.out == ''


def test_a_failed_run_is_not_counted_ok(fake_runs, capsys):
    good = {'model': 'tiny.en', 'min_silence_s': 1.5, 'utterance_s': 3.0,
            'speech_end_to_transcript_s': 2.0, 'utterance_end_to_transcript_s': 0.5}
    fake_runs(good, {'error': 'error transcript: boom', 'min_silence_s': 1.5})
    assert command.main(['bench', 'hearing', '--repeats', '2']) == 1
    figures = json.loads(capsys.readouterr().out)
    assert figures['ok'] == 1 and figures['errors'] == ['error transcript: boom']
    assert figures['speech_end_to_transcript_s'] == 2.0
