"""``dream bench stt`` refuses bad options in one line, before making speech or loading
Whisper (minutes of work)."""
import pytest

command = pytest.importorskip('dream_session.command')


@pytest.mark.parametrize('argv, message', [
    (['--repeats', '0'], '--repeats must be >= 1, got 0'),
    (['--repeats', '-1'], '--repeats must be >= 1, got -1'),
    (['--model', ''], '--model must not be empty'),
    (['--model', 'tiny.en', '--model', ' '], '--model must not be empty'),
    (['--model', '/nonexistent'], '--model: model directory not found: /nonexistent'),
    (['--model', 'no-such-model'], "--model: unknown Whisper model 'no-such-model'"),
    (['--min-silence', '0'], '--min-silence must be > 0 seconds'),
    (['--threads', '-1'], '--threads must be >= 0'),
])
def test_bad_options_are_one_line_errors(argv, message, capsys):
    assert command.main(['bench', 'stt', *argv]) == 1
    printed = capsys.readouterr()
    assert f'dream bench stt: error: {message}' in printed.err
    assert 'making test speech' not in printed.err and printed.out == ''
