"""``dream bench soak``: explicit CLIP options are used, bad options are refused in one line
before any speech is made or node started."""
import argparse

import pytest

from dream_session import command
from dream_session.bench_soak import SoakBenchmark, _check_options


def parse(*argv):
    parser = argparse.ArgumentParser()
    SoakBenchmark().add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize('argv, message', [
    (['--clip-model-config', '/nonexistent.json'],
     '--clip-model-config: file not found: /nonexistent.json'),
    (['--session-timeout', '-1'], '--session-timeout must be > 0, got -1'),
    (['--session-timeout', '0'], '--session-timeout must be > 0, got 0'),
    (['--sessions', '0'], '--sessions must be >= 1, got 0'),
    (['--iterations', '-1'], '--iterations must be >= 1, got -1'),
    (['--stt-model', '/nonexistent'], '--stt-model: model directory not found'),
])
def test_bad_options_are_one_line_errors(argv, message, capsys):
    assert command.main(['bench', 'soak', '--sessions', '1', *argv]) == 1
    printed = capsys.readouterr()
    assert f'dream bench soak: error: {message}' in printed.err
    assert 'session 1/' not in printed.err and printed.out == ''


def test_explicit_clip_options_replace_the_tiny_clip(tmp_path):
    assert _check_options(parse()) == {}          # nothing asked: the tiny random CLIP
    config = tmp_path / 'my-clip.json'
    config.write_text('{}')
    assert _check_options(parse('--clip-model-config', str(config))) == {
        'clip_model_config': str(config)}
    assert _check_options(parse('--clip-model', 'ViT-B-32')) == {'clip_model': 'ViT-B-32'}
