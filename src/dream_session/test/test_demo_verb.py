"""``dream demo``: what it refuses before the session starts (the main job's own errors)."""
import pytest

from dream_clipdraw.tiny_clip import shared_tiny_clip
from dream_session.command import main as dream


@pytest.fixture(autouse=True)
def no_default_weights(monkeypatch):
    monkeypatch.delenv('CLIP_WEIGHTS', raising=False)


def test_a_missing_audio_file_is_an_error(tmp_path, capsys):
    assert dream(['demo', '--audio-file', str(tmp_path / 'none.flac'),
                  '--out', str(tmp_path / 'out')]) == 1
    assert 'dream demo: error: no such audio file' in capsys.readouterr().err


def test_named_weights_that_are_missing_are_an_error_not_a_fresh_machine(tmp_path, capsys):
    assert dream(['demo', '--clip-weights', str(tmp_path / 'ViT-B-32.pt'),
                  '--out', str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err
    assert 'dream demo: error:' in err and 'stops before drawing' not in err


def test_weights_of_another_model_fail_before_the_session(tmp_path, capsys):
    assert dream(['demo', '--clip-weights', shared_tiny_clip().weights,
                  '--out', str(tmp_path / 'out')]) == 1
    assert 'dream demo: error:' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()      # no session was run


def test_an_unknown_preset_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        dream(['demo', '--preset', 'bogus', '--out', str(tmp_path / 'out')])
