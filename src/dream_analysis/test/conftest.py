"""Shared fixtures: a tiny CLIP written to disk (loaded through the real loader) and OCR."""
import pytest


@pytest.fixture(scope='session')
def tiny_files(tmp_path_factory):
    from dream_clipdraw.tiny_clip import write_tiny_clip
    return write_tiny_clip(tmp_path_factory.mktemp('tiny-clip'))


@pytest.fixture(scope='session')
def tiny_clip(tiny_files):
    from dream_clipdraw.clip_model import load_clip
    return load_clip(**tiny_files.load_kwargs())


@pytest.fixture(scope='session')
def ocr_reader():
    from dream_analysis.ocr_reading import OcrReader
    return OcrReader()


@pytest.fixture(scope='session')
def cache_dir(tmp_path_factory):
    """One embedding cache for the whole run: decoys and phrase lists are embedded once."""
    return str(tmp_path_factory.mktemp('embedding-cache'))
