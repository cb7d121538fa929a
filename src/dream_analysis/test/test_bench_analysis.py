"""``dream bench analysis`` refuses options that would time no real analysis, in one line
and before torch loads or the synthetic archive is written."""
import pytest

command = pytest.importorskip('dream_session.command')


@pytest.mark.parametrize('argv, message', [
    (['--canvas', '0'], '--canvas must be in [8, 4096] pixels, got 0'),
    (['--canvas', '7'], '--canvas must be in [8, 4096] pixels, got 7'),
    (['--strokes', '0'], '--strokes must be in [1, 10000], got 0'),
    (['--workers', '-1'], '--workers must be >= 0 (0: one per core), got -1'),
    (['--sessions', '0'], '--sessions must be >= 1'),
    (['--importance-strokes', '-1'], '--importance-strokes must be >= 0'),
    (['--threads', '-1'], '--threads must be >= 0'),
])
def test_bad_options_are_one_line_errors(argv, message, capsys):
    assert command.main(['bench', 'analysis', '--sessions', '1', *argv]) == 1
    printed = capsys.readouterr()
    assert f'dream bench analysis: error: {message}' in printed.err
    assert 'archive of' not in printed.err and printed.out == ''
