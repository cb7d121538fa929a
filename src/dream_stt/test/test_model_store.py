import os
import threading

import pytest

from dream_stt import model_store
from dream_stt.model_store import ModelUnavailableError


def test_bundled_base_is_joined_once_and_atomically(tmp_path):
    target = tmp_path / 'whisper-base'
    results = []
    threads = [threading.Thread(target=lambda: results.append(model_store.bundled_base(target)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [target, target]
    parts, _ = model_store._base_sources()
    assert (target / 'model.bin').stat().st_size == sum(p.stat().st_size for p in parts)
    assert {p.name for p in target.iterdir()} == {'model.bin', 'config.json', 'tokenizer.json',
                                                  'vocabulary.json'}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.whisper-base.')
            and p.is_dir()] == []  # no half-built directory left behind
    stamp = (target / 'model.bin').stat().st_mtime_ns
    assert model_store.bundled_base(target) == target
    assert (target / 'model.bin').stat().st_mtime_ns == stamp  # not rebuilt


def test_a_truncated_copy_is_rebuilt(tmp_path):
    target = tmp_path / 'whisper-base'
    model_store.bundled_base(target)
    with open(target / 'model.bin', 'r+b') as f:
        f.truncate(1000)
    model_store.bundled_base(target)
    parts, _ = model_store._base_sources()
    assert (target / 'model.bin').stat().st_size == sum(p.stat().st_size for p in parts)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv('DREAM_CACHE_DIR', str(tmp_path / 'c'))
    assert model_store.cache_dir() == tmp_path / 'c'
    monkeypatch.delenv('DREAM_CACHE_DIR')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'x'))
    assert model_store.cache_dir() == tmp_path / 'x' / 'dream'


def test_names_and_directories_resolve():
    assert os.path.isfile(os.path.join(model_store.resolve('tiny.en'), 'model.bin'))
    assert model_store.resolve('small') == 'small'  # downloaded by faster-whisper if online
    assert model_store.resolve('Systran/faster-whisper-small') == \
        'Systran/faster-whisper-small'


@pytest.mark.parametrize('name,message', [('no-such-model', 'unknown Whisper model'),
                                          ('./models/none', 'not found'),
                                          ('~/none/here', 'not found')])
def test_unavailable_models_are_clear_errors(name, message):
    with pytest.raises(ModelUnavailableError, match=message):
        model_store.resolve(name)


def test_a_directory_without_a_model(tmp_path):
    with pytest.raises(ModelUnavailableError, match='model.bin'):
        model_store.resolve(str(tmp_path))


def test_a_corrupt_model_fails_to_load_clearly(tmp_path):
    (tmp_path / 'model.bin').write_bytes(b'not a model' * 100)
    (tmp_path / 'config.json').write_text('{}')
    with pytest.raises(ModelUnavailableError, match='cannot load Whisper model'):
        model_store.load(str(tmp_path), device='cpu')


def test_bad_device():
    with pytest.raises(ModelUnavailableError, match='device'):
        model_store.pick_device('tpu')
