"""Text embeddings of any length, and a disk cache of the ones reused across runs.

Phrase lists and decoys are the same from one analysis to the next, so their embeddings are
kept on disk under a key made of the model's identity (architecture, weights file, its size
and modification time) and a hash of the content. Random-weight models are never cached:
two builds of one architecture differ.
"""
import hashlib
import json
import os
import pathlib
import sys

import torch

CACHE_ENV = 'DREAM_ANALYSIS_CACHE'


def default_cache_dir():
    """$DREAM_ANALYSIS_CACHE, else $XDG_CACHE_HOME/dream/analysis (~/.cache/...)."""
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join('~', '.cache')
    return pathlib.Path(base).expanduser() / 'dream' / 'analysis'


def encode_texts(clip, texts, *, batch_size=64):
    """Unit embeddings (n, D) of ``texts``; texts over CLIP's context are embedded by parts.

    Short texts go through the model in batches; a text longer than the context (a whole
    narrated dream, a long phrase) is cut at sentence boundaries and its parts averaged, as
    the drawing itself was made (dream_clipdraw.prompt_embedding).
    """
    from dream_clipdraw.prompt_embedding import embed_prompt

    texts = list(texts)
    if not texts:
        return torch.zeros(0, _width(clip))
    out = [None] * len(texts)
    short = [i for i, t in enumerate(texts) if clip.count_tokens(t) <= clip.context_length]
    for start in range(0, len(short), batch_size):
        chunk = short[start:start + batch_size]
        features = clip.encode_text([texts[i] for i in chunk])
        for i, f in zip(chunk, features):
            out[i] = f
    for i, text in enumerate(texts):
        if out[i] is None:
            out[i] = embed_prompt(clip, text).features
    return torch.stack([o.float().cpu() for o in out])


def _width(clip):
    projection = getattr(clip.model, 'text_projection', None)
    if projection is not None:
        return int(projection.shape[-1])
    return int(clip.encode_text(['x']).shape[-1])


def model_identity(clip):
    """What makes two loads of a model the same, or None for random weights (no caching)."""
    if clip.random_weights or not clip.weights_file:
        return None
    path = pathlib.Path(clip.weights_file)
    try:
        stat = path.stat()
    except OSError:
        return None
    return {'name': clip.name, 'weights': str(path.resolve()), 'size': stat.st_size,
            'mtime_ns': stat.st_mtime_ns, 'image_size': clip.image_size,
            'context_length': clip.context_length}


class EmbeddingCache:
    """Embeddings on disk keyed by model identity + kind + content; ``directory=None`` = off."""

    def __init__(self, directory=None, *, remember_random=False):
        self.directory = pathlib.Path(directory).expanduser() if directory else None
        # Random-weight models are never written to disk; a benchmark may still keep their
        # embeddings in memory for the life of this object (keyed by the model object).
        self.remember_random = remember_random
        self.hits = 0
        self.misses = 0
        self._memory = {}
        self._warned = False

    def key(self, clip, kind, items):
        identity = model_identity(clip)
        if identity is None:
            if not self.remember_random:
                return None
            identity = {'object': id(clip), 'memory_only': True}
        blob = json.dumps({'model': identity, 'kind': kind, 'items': list(items)},
                          ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:32]

    def get(self, clip, kind, items, compute):
        """Cached embeddings of ``items`` (a list of str), else ``compute(items)``, stored."""
        items = list(items)
        key = self.key(clip, kind, items)
        if key is not None and key in self._memory:
            self.hits += 1
            return self._memory[key]
        on_disk = key is not None and self.directory is not None and \
            model_identity(clip) is not None
        path = self.directory / f'{kind}-{key}.pt' if on_disk else None
        if path is not None and path.is_file():
            try:
                value = torch.load(path, map_location='cpu', weights_only=True)
                if value.shape[0] == len(items):
                    self.hits += 1
                    self._memory[key] = value
                    return value
            except Exception:  # a damaged cache file is recomputed, never fatal
                pass
        self.misses += 1
        value = compute(items).float().cpu()
        if key is not None:
            self._memory[key] = value
        if path is not None:
            self._store(path, value)
        return value

    def _store(self, path, value):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f'.{os.getpid()}.tmp')
            torch.save(value, partial)
            os.replace(partial, path)
        except OSError as exc:
            if not self._warned:
                print(f'dream analysis: embedding cache not written ({exc}); continuing '
                      'without it', file=sys.stderr)
                self._warned = True
