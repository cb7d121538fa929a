"""CLIP through open_clip, offline, and never silently with random weights.

No model hub is reachable where this runs, so weights come from what is on disk: a file, a
folder holding one, or open_clip's own caches (``~/.cache/clip`` for OpenAI's URL downloads,
the Hugging Face cache for hub tags), looked up without any network access. If nothing is
found the loader raises :class:`ClipWeightsMissing` with the ways to provide the file; a
randomly initialised model is only built when a caller asks for one by name
(``random_weights=True``: benchmarks, whose figures are timings only).

The default is OpenAI's ViT-B/32, which was trained with QuickGELU: its architecture is
``ViT-B-32-quickgelu``; asking for ``ViT-B-32`` with OpenAI's weights (the ``openai`` tag or
OpenAI's TorchScript file) switches QuickGELU on too, since the plain GELU variant would load
the same tensors and silently compute something else.
"""
import difflib
import functools
import json
import logging
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from dream_clipdraw.clip_acceleration import COMPILE_MODES, PRECISIONS, records_graphs
from dream_clipdraw.clip_fastpaths import use_fast_paths
from dream_clipdraw.errors import (
    ClipModelError, ClipModelUnknown, ClipWeightsCorrupt, ClipWeightsMissing, InvalidOptions)

DEFAULT_MODEL = 'ViT-B-32-quickgelu'
DEFAULT_PRETRAINED = 'openai'
WEIGHTS_ENV = 'CLIP_WEIGHTS'
OPENAI_CACHE = Path('~/.cache/clip')
CHECKPOINT_SUFFIXES = ('.pt', '.pth', '.bin', '.safetensors', '.ckpt', '.npz')
# Names open_clip writes (and the Hugging Face hub serves), most specific first.
PREFERRED_CHECKPOINTS = (
    'open_clip_model.safetensors', 'open_clip_pytorch_model.safetensors',
    'open_clip_pytorch_model.bin', 'open_clip_pytorch_model.pth',
    'model.safetensors', 'pytorch_model.bin', 'model.pth')
_LOG = logging.getLogger(__name__)
_LIST_MODELS_HINT = ('run `python -c "import open_clip; print(open_clip.list_models())"` for '
                     'the names open_clip knows, or describe the architecture in a JSON file '
                     'and pass it with --clip-model-config FILE (ROS: clip_model_config)')


def default_pretrained():
    """The weights to use when none are named: $CLIP_WEIGHTS if set, else the 'openai' tag."""
    return os.environ.get(WEIGHTS_ENV, '').strip() or DEFAULT_PRETRAINED


@dataclass
class ClipModel:
    """A frozen CLIP and what the optimiser needs to feed it."""

    model: torch.nn.Module
    tokenizer: object
    name: str                 # open_clip architecture name
    pretrained: str           # what was asked for (tag, file or folder); '' for random weights
    weights_file: str         # the file actually loaded; '' for random weights
    random_weights: bool      # True only when asked for: never present its drawings as results
    device: torch.device
    image_size: int
    context_length: int
    mean: tuple
    std: tuple
    # The image tower's arithmetic (see ``accelerate``): 'float32', or 'bfloat16' autocast.
    precision: str = 'float32'

    def count_tokens(self, text):
        """Tokens ``text`` takes in CLIP's context, start and end tokens included."""
        return count_tokens(self.tokenizer, text)

    @torch.no_grad()
    def encode_text(self, texts):
        """Unit-norm text embeddings (n, D); texts must fit the context (see prompt_embedding)."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float()

    def encode_image(self, images, *, normalize_input=True):
        """Unit-norm embeddings (n, D) of images (n, 3, H, W) in [0, 1], differentiable.

        Images of another size are resized to CLIP's input; ``normalize_input`` applies the
        model's mean and std (CLIPDraw's notebook forgot it; its hosted version has it).
        """
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = torch.nn.functional.interpolate(
                images, size=(self.image_size, self.image_size), mode='bilinear',
                align_corners=False, antialias=True)
        if normalize_input:
            mean, std = _normalisation(self.mean, self.std, images.device, images.dtype)
            images = (images - mean) / std
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.precision == 'bfloat16'):
            features = self.model.encode_image(images, normalize=True)
        return features.float()

    def accelerate(self, precision='float32', compile='auto'):
        """Choose how the image tower runs for CLIPDraw; returns (precision, compiled).

        On a GPU a CLIPDraw iteration is launch-bound: hundreds of small kernels. There
        compile='auto' means torch.compile with CUDA graphs ('reduce-overhead': CLIP's
        forward and backward replayed as graphs; on an H100 a faithful drawing took 21-28 s
        instead of 37-39 s); on the CPU it means eager, which measured faster there.
        compile: 'auto', 'off' or a torch.compile mode ('default', 'reduce-overhead',
        'max-autotune'); ``compiled`` is None when not compiled. precision: 'float32' or
        'bfloat16' (autocast, GPUs only; for ViT-B/32 on an H100 no faster with graphs and
        slower without, hence not the default).
        """
        gpu = self.device.type == 'cuda'
        if precision not in PRECISIONS:
            raise InvalidOptions(f'CLIP precision must be one of {", ".join(PRECISIONS)}, '
                                 f'got {precision!r}')
        if compile not in COMPILE_MODES:
            raise InvalidOptions(f'CLIP compile mode must be one of {", ".join(COMPILE_MODES)}'
                                 f', got {compile!r}')
        if precision == 'bfloat16' and not (gpu and torch.cuda.is_bf16_supported()):
            raise InvalidOptions('bfloat16 CLIP needs a CUDA device that supports it '
                                 f'(this one runs on {self.device})')
        self.precision = precision
        if compile == 'auto':
            compile = 'reduce-overhead' if gpu else 'off'
        compiled = None
        if compile != 'off':
            compiled = self.compile_image_encoder(None if compile == 'default' else compile)
        return precision, compiled

    @property
    def compiled(self):
        """How the image tower is compiled ('backend:mode'), or None when it runs eagerly."""
        return getattr(self.model.visual, 'compiled_with', None)

    @property
    def records_graphs(self):
        """Whether the compiled tower replays CUDA graphs of its own (torch.compile's
        reduce-overhead and max-autotune modes), which no other graph can record."""
        return records_graphs(self.compiled or 'off')

    def warm_up(self, batch_size):
        """Compile now, not in a drawing's first steps: one forward+backward of a batch
        (CLIPDraw's augmented copies) and one forward of a single image (its score).
        Does nothing unless the image tower is compiled."""
        if self.compiled is None:
            return
        size = (3, self.image_size, self.image_size)
        images = torch.ones((batch_size,) + size, device=self.device, requires_grad=True)
        self.encode_image(images).sum().backward()
        with torch.no_grad():
            self.encode_image(torch.ones((1,) + size, device=self.device))

    def compile_image_encoder(self, mode=None, backend='inductor'):
        """Run the image tower through torch.compile from now on (see ``accelerate``).

        The first call of each input shape compiles (tens of seconds). Where compiling fails
        (no C compiler, no Triton for this GPU), the tower falls back to eager with a warning
        instead of failing the drawing.
        """
        visual = self.model.visual
        if self.compiled is None:
            eager = visual.forward
            compiled = torch.compile(eager, mode=mode, backend=backend)

            def forward(*args, **kwargs):
                try:
                    return compiled(*args, **kwargs)
                except Exception as exc:
                    if not _is_compiler_error(exc):
                        raise
                    # torch's message starts with where it failed, then why.
                    lines = [line for line in str(exc).splitlines() if line.strip()]
                    _LOG.warning('compiling CLIP\'s image tower failed, running it eagerly: '
                                 '%s: %s', type(exc).__name__, ' '.join(lines[:2]))
                    visual.forward = eager
                    visual.compiled_with = None
                    return eager(*args, **kwargs)

            visual.forward = forward
            visual.compiled_with = f'{backend}:{mode or "default"}'
        return self.compiled

    def describe(self):
        """A short label for logs and drawing records."""
        source = 'random weights' if self.random_weights else (self.weights_file or '?')
        return f'{self.name} ({source})'


def _is_compiler_error(exc):
    """An error of torch.compile's machinery (dynamo, inductor), not of the computation."""
    return type(exc).__module__.startswith(('torch._dynamo', 'torch._inductor'))


@functools.lru_cache(maxsize=8)
def _normalisation(mean, std, device, dtype):
    """CLIP's input mean and std as (1, 3, 1, 1) tensors, made once per device: a tensor
    built from a list every iteration is a host-to-device copy that waits for a GPU."""
    def column(values):
        return torch.tensor(values, device=device, dtype=dtype).view(1, 3, 1, 1)
    return column(mean), column(std)


def count_tokens(tokenizer, text):
    """Tokens of ``text`` with start/end tokens, counted by the model's own tokenizer."""
    if hasattr(tokenizer, 'encode') and hasattr(tokenizer, 'sot_token_id'):
        return len(tokenizer.encode(text)) + 2
    inner = getattr(tokenizer, 'tokenizer', None)   # open_clip's HFTokenizer
    if inner is not None:
        clean = getattr(tokenizer, 'clean_fn', None)
        return len(inner(clean(text) if clean else text)['input_ids'])
    raise ClipModelError(f'cannot count tokens with a {type(tokenizer).__name__}')


def load_clip(model_name=None, pretrained=None, *, config_file=None, cache_dir=None,
              device='cpu', random_weights=False):
    """Build a frozen, eval-mode CLIP from offline weights.

    model_name: open_clip architecture (default ViT-B-32-quickgelu); with ``config_file`` (a
    JSON architecture such as open_clip's model_configs) the name is the file's stem.
    pretrained: a tag resolved in the local caches only (default $CLIP_WEIGHTS or 'openai'),
    a weights file, or a folder holding one. cache_dir: one more folder searched for tags.
    random_weights: build the architecture without weights (benchmarks only).
    """
    import open_clip

    device = resolve_device(device)
    name = _register_model_name(model_name, config_file)
    tag_cfg = {}
    weights = ''
    asked = ''
    if not random_weights:
        asked = str(pretrained).strip() if pretrained else default_pretrained()
        weights, tag_cfg = resolve_weights(name, asked, cache_dir=cache_dir)
    jit_archive = bool(weights) and _is_torchscript_archive(weights)
    quick_gelu = bool(tag_cfg.get('quick_gelu')) or (jit_archive and 'quickgelu' not in name)
    quiet = _DropRandomInitWarning() if weights or random_weights else None
    root = logging.getLogger()
    try:
        if quiet:
            root.addFilter(quiet)
        model = open_clip.create_model(
            name, pretrained=None, device='cpu', force_quick_gelu=quick_gelu,
            pretrained_image=False, pretrained_text=False)
    except Exception as exc:  # open_clip raises bare RuntimeErrors/KeyErrors for bad configs
        raise ClipModelUnknown(f"open_clip could not build CLIP model '{name}': "
                               f'{_short(exc)}; {_LIST_MODELS_HINT}') from exc
    finally:
        if quiet:
            root.removeFilter(quiet)
    if weights:
        _load_weights(model, name, weights, jit_archive)
    model = model.to(device).eval().requires_grad_(False)
    use_fast_paths(model)
    try:
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as exc:
        raise ClipModelError(f"no tokenizer for CLIP model '{name}' offline: {_short(exc)}") \
            from exc
    preprocess = getattr(model.visual, 'preprocess_cfg', {}) or {}
    image_size = model.visual.image_size
    image_size = image_size[0] if isinstance(image_size, (tuple, list)) else image_size
    return ClipModel(
        model=model, tokenizer=tokenizer, name=name, pretrained=asked, weights_file=weights,
        random_weights=bool(random_weights), device=device, image_size=int(image_size),
        context_length=int(getattr(model, 'context_length', tokenizer.context_length)),
        mean=tuple(tag_cfg.get('mean') or preprocess.get('mean')),
        std=tuple(tag_cfg.get('std') or preprocess.get('std')))


def resolve_device(device):
    """A torch.device, refusing CUDA where there is none (rather than failing mid-run)."""
    try:
        device = torch.device(device or 'cpu')
    except (RuntimeError, TypeError) as exc:
        raise InvalidOptions(f"unknown device '{device}': use 'cpu' or 'cuda'") from exc
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise InvalidOptions("device 'cuda' asked for but torch sees no CUDA GPU here; "
                             "use --device cpu (ROS: device:=cpu)")
    if device.type not in ('cpu', 'cuda'):
        raise InvalidOptions(f"device '{device}' is not supported: use 'cpu' or 'cuda'")
    return device


def resolve_weights(model_name, pretrained, *, cache_dir=None):
    """(weights file, open_clip's tag config or {}) for ``pretrained``, offline only.

    A file is used as is; a folder must hold one checkpoint (or is searched as a cache for
    the default tag); anything else must be a tag open_clip knows for this model, found in
    ``cache_dir``, ``~/.cache/clip`` or the Hugging Face cache.
    """
    from open_clip import get_pretrained_cfg, list_pretrained_tags_by_model

    value = str(pretrained).strip()
    path = Path(value).expanduser()
    if path.is_file():
        return str(path), {}
    if path.is_dir():
        found = _checkpoint_in_dir(path)
        if found:
            return found, {}
        tag_cfg = get_pretrained_cfg(model_name, DEFAULT_PRETRAINED)
        found = _cached_tag_file(tag_cfg, [path])
        if found:
            return found, tag_cfg
        raise ClipWeightsMissing(
            f'no CLIP weights in folder {path} (looked for *.safetensors, *.bin, *.pt, *.pth '
            f'and the cache layout of {model_name}:{DEFAULT_PRETRAINED}); '
            + _how_to_provide(model_name, tag_cfg))
    if _looks_like_path(value):
        raise ClipWeightsMissing(f'CLIP weights file not found: {path}; '
                                 + _how_to_provide(model_name, {}))
    tag_cfg = get_pretrained_cfg(model_name, value)
    if not tag_cfg:
        tags = list_pretrained_tags_by_model(model_name)
        known = f"known tags for {model_name}: {', '.join(tags)}" if tags else \
            f'open_clip knows no pretrained tags for {model_name}'
        raise ClipWeightsMissing(
            f"'{value}' is neither a weights file nor a pretrained tag of CLIP model "
            f"'{model_name}' ({known}); " + _how_to_provide(model_name, {}))
    extra = [Path(cache_dir).expanduser()] if cache_dir else []
    found = _cached_tag_file(tag_cfg, extra)
    if found:
        return found, tag_cfg
    raise ClipWeightsMissing(
        f"no weights for CLIP model '{model_name}' (pretrained '{value}') on this machine and "
        'no model hub is reachable; ' + _how_to_provide(model_name, tag_cfg, extra))


def cache_locations(tag_cfg, extra_dirs=()):
    """Where a tag's file would be found offline, in search order (for messages and tests)."""
    places = []
    url = tag_cfg.get('url', '')
    for folder in list(extra_dirs) + [OPENAI_CACHE.expanduser()]:
        if url:
            places.append(Path(folder) / os.path.basename(url))
    hub = tag_cfg.get('hf_hub', '')
    if hub:
        from huggingface_hub import constants
        repo = hub.rstrip('/').split('/')
        repo = '/'.join(repo[:2])
        for folder in list(extra_dirs) + [Path(constants.HF_HUB_CACHE)]:
            places.append(Path(folder) / ('models--' + repo.replace('/', '--')))
    return places


def _how_to_provide(model_name, tag_cfg, extra_dirs=()):
    url = tag_cfg.get('url', '')
    filename = os.path.basename(url) if url else 'weights.pt'
    text = (f'provide the weights file: pass --clip-pretrained /path/to/{filename} (ROS '
            f'parameter clip_pretrained), or set {WEIGHTS_ENV}=/path/to/{filename} (for the '
            f'demo: make demo {WEIGHTS_ENV}=/path/to/{filename})')
    places = cache_locations(tag_cfg, extra_dirs)
    if places:
        text += ', or place it in the cache at ' + ' or '.join(str(p) for p in places[-2:])
    return text + f' (model {model_name})'


def _cached_tag_file(tag_cfg, extra_dirs):
    """The cached file of a tag, looked up without network, or None."""
    if not tag_cfg:
        return None
    if tag_cfg.get('file') and Path(tag_cfg['file']).is_file():
        return str(tag_cfg['file'])
    url = tag_cfg.get('url', '')
    for folder in list(extra_dirs) + [OPENAI_CACHE.expanduser()]:
        candidate = Path(folder) / os.path.basename(url) if url else None
        if candidate is not None and candidate.is_file():
            return str(candidate)
    hub = tag_cfg.get('hf_hub', '')
    if hub:
        from huggingface_hub import try_to_load_from_cache
        repo, filename = os.path.split(hub)
        names = [filename] if filename else list(PREFERRED_CHECKPOINTS)
        if filename.endswith(('.bin', '.pth')):
            names.insert(0, filename[:-4] + '.safetensors')
        for folder in [str(d) for d in extra_dirs] + [None]:
            for name in names:
                try:
                    found = try_to_load_from_cache(repo, name, cache_dir=folder)
                except Exception:  # a malformed cache folder is "not found", not a crash
                    found = None
                if isinstance(found, str) and os.path.isfile(found):
                    return found
    return None


def _checkpoint_in_dir(folder):
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES]
    for name in PREFERRED_CHECKPOINTS:
        for p in files:
            if p.name == name:
                return str(p)
    if len(files) == 1:
        return str(files[0])
    if len(files) > 1:
        names = ', '.join(sorted(p.name for p in files))
        raise ClipWeightsMissing(f'several checkpoints in {folder} ({names}): pass the file '
                                 'itself with --clip-pretrained /path/to/file')
    return None


def _looks_like_path(value):
    return (os.sep in value or value.startswith(('~', '.'))
            or value.lower().endswith(CHECKPOINT_SUFFIXES))


def _is_torchscript_archive(path):
    """OpenAI's released .pt files are TorchScript archives (a zip with a code/ folder)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any('/code/' in f'/{n}' or n.endswith('constants.pkl')
                       for n in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _load_weights(model, name, path, jit_archive):
    from open_clip import load_checkpoint

    try:
        if jit_archive:
            # torch.load refuses TorchScript with weights_only=True; torch.jit.load runs no
            # pickled Python, and OpenAI's state-dict keys are open_clip's CLIP keys.
            with warnings.catch_warnings():  # 'torch.jit.load is deprecated': still the way
                warnings.simplefilter('ignore', FutureWarning)
                state = torch.jit.load(path, map_location='cpu').state_dict()
            for key in ('input_resolution', 'context_length', 'vocab_size'):
                state.pop(key, None)
            model.load_state_dict(state, strict=True)
        else:
            load_checkpoint(model, path, strict=True, weights_only=True)
    except Exception as exc:  # torch/pickle/safetensors raise many types for a bad file
        reason = _short(exc)
        # model.load_state_dict's error, or open_clip's asserts when resizing embeddings.
        mismatch = ('Error(s) in loading state_dict', 'size mismatch', 'Missing key(s)',
                    'Unexpected key(s)')
        if isinstance(exc, AssertionError) or any(m in reason for m in mismatch):
            hint = (f"it holds weights for another architecture than '{name}': pass the "
                    'matching --clip-model (or --clip-model-config)')
        else:
            hint = 'the file is truncated, corrupt or not a PyTorch/safetensors checkpoint'
        if 'Weights only load failed' in reason:
            reason = 'torch.load with weights_only=True refused it: not a plain tensor checkpoint'
        raise ClipWeightsCorrupt(f'cannot load CLIP weights from {path}: {hint} ({reason})') \
            from exc


class _DropRandomInitWarning(logging.Filter):
    """open_clip logs 'initialized randomly' before we load the weights ourselves (or when
    random weights are what a benchmark asked for)."""

    def filter(self, record):
        return 'initialized randomly' not in str(record.msg)


def _register_model_name(model_name, config_file):
    """The open_clip name to build, registering a custom architecture file first."""
    import open_clip

    if config_file:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise ClipModelUnknown(f'CLIP model config file not found: {path}')
        try:
            cfg = json.loads(path.read_text(encoding='utf-8'))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ClipModelUnknown(f'CLIP model config {path} is not readable JSON: '
                                   f'{_short(exc)}') from exc
        missing = [k for k in ('embed_dim', 'vision_cfg', 'text_cfg')
                   if not isinstance(cfg, dict) or k not in cfg]
        if missing:
            raise ClipModelUnknown(f'CLIP model config {path} lacks {", ".join(missing)}: '
                                   "see open_clip's model_configs/*.json for the format")
        if model_name and model_name != path.stem:
            raise ClipModelUnknown(
                f"the config file {path.name} defines model '{path.stem}' (open_clip names "
                f"a config after its file); --clip-model '{model_name}' does not match it: "
                'leave --clip-model out or rename the file')
        if path.stem not in open_clip.list_models() or \
                open_clip.get_model_config(path.stem) != cfg:
            open_clip.add_model_config(path)
        return path.stem
    name = str(model_name or DEFAULT_MODEL).strip().replace('/', '-')
    known = open_clip.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        maybe = f" (did you mean {', '.join(close)}?)" if close else ''
        raise ClipModelUnknown(f"unknown CLIP model '{name}'{maybe}: {_LIST_MODELS_HINT}")
    return name


def _short(exc, limit=300):
    text = ' '.join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + '...'
