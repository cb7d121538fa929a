"""A tiny randomly initialised CLIP written to disk, FOR TESTS AND BENCHMARKS ONLY.

Tests must exercise the very loader that real weights go through (config registration,
file loading, tokenizer, normalisation), but cannot ship or download real CLIP weights.
So this writes an architecture JSON and a weights file that ``load_clip`` reads exactly as
it reads OpenAI's. Its drawings mean nothing: never present them as results of the method.
Other packages' tests (analysis, session) reuse it.
"""
import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

TINY_MODEL_NAME = 'dream-tiny-clip'


def tiny_config(image_size=64):
    """open_clip architecture: ViT and text transformer of width 64, 2 layers each."""
    return {
        'embed_dim': 64,
        'quick_gelu': True,
        'vision_cfg': {'image_size': int(image_size), 'layers': 2, 'width': 64,
                       'head_width': 32, 'patch_size': 16},
        'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 64, 'heads': 2,
                     'layers': 2},
    }


@dataclass(frozen=True)
class TinyClipFiles:
    """Paths to hand to load_clip (or to --clip-model-config / --clip-pretrained)."""

    config: str
    weights: str
    model_name: str

    def load_kwargs(self):
        """Keyword arguments for :func:`dream_clipdraw.clip_model.load_clip`."""
        return {'config_file': self.config, 'pretrained': self.weights}


def write_tiny_clip(directory, *, image_size=64, seed=0, name=TINY_MODEL_NAME):
    """Write ``<name>.json`` and ``<name>.pt`` (random weights from ``seed``) in directory."""
    import open_clip
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / f'{name}.json'
    weights = directory / f'{name}.pt'
    config.write_text(json.dumps(tiny_config(image_size), indent=2), encoding='utf-8')
    open_clip.add_model_config(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.create_model(name, pretrained=None, device='cpu')
    torch.save(model.state_dict(), weights)
    return TinyClipFiles(config=str(config), weights=str(weights), model_name=name)


@functools.lru_cache(maxsize=None)
def shared_tiny_clip(image_size=64, seed=0):
    """One tiny CLIP per process and settings, in a temporary folder removed at exit.

    Writing the files takes a few seconds; test modules of several packages share them.
    """
    folder = tempfile.mkdtemp(prefix='dream-tiny-clip-')
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return write_tiny_clip(folder, image_size=image_size, seed=seed)
