"""Prompts longer than CLIP's context: embed every part instead of silently cutting the end.

A narrated dream easily runs past CLIP's 77 tokens, and CLIP's tokenizer simply truncates,
so the end of the dream would never reach the drawing. Here the prompt is cut at sentence
boundaries (then clauses, then words, then characters, only where a piece is still too long),
neighbouring pieces are packed back together while they fit, each chunk is embedded, and
the unit embeddings are averaged (optionally with the first chunk weighted, since a
narrator usually states the scene first) and normalised again. The record says what was
done: ``prompt_handling`` is ``single``, ``sentences-mean:N`` or ``sentences-weighted-mean:N``,
and ``prompt_truncated`` is True only when some text was left out (past ``max_chunks``).
"""
import re
import unicodedata
from dataclasses import dataclass

import torch

from dream_clipdraw.errors import InvalidPrompt

# A prompt beyond this is not a narrated dream (an hour of speech is ~60,000 characters, but
# the drawing cannot show that); reject it rather than spend minutes embedding it.
MAX_PROMPT_CHARS = 20000
# At most this many chunks are embedded (64 x 75 tokens ~ 15,000 characters of English).
MAX_CHUNKS = 64

_SENTENCES = re.compile(r'(?<=[.!?\u2026])["\')\]]*\s+|\s*\n\s*')
_CLAUSES = re.compile(r'(?<=[,;:])\s+|\s+(?=[-\u2013\u2014]\s)')


@dataclass
class PromptEmbedding:
    """One prompt as CLIP sees it."""

    text: str
    features: torch.Tensor   # (D,), unit norm
    chunks: tuple            # the texts actually embedded
    token_count: int         # tokens of the whole prompt (start/end included)
    truncated: bool          # some text was not embedded at all
    handling: str            # 'single', 'sentences-mean:N' or 'sentences-weighted-mean:N'


def clean_prompt(text, what='prompt'):
    """The prompt with control characters removed and ends stripped; InvalidPrompt if unusable."""
    if not isinstance(text, str):
        raise InvalidPrompt(f'the {what} must be text, got {type(text).__name__}')
    text = ''.join(c if unicodedata.category(c)[0] != 'C' or c in '\n\t' else ' '
                   for c in text).strip()
    if not text:
        raise InvalidPrompt(f'the {what} is empty: give some words describing the drawing')
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidPrompt(f'the {what} has {len(text)} characters; at most '
                            f'{MAX_PROMPT_CHARS} are accepted: summarise or shorten it')
    return text


def split_prompt(text, fits, max_chunks=MAX_CHUNKS):
    """(chunks, dropped): chunks that each satisfy ``fits``, in order, and pieces left out."""
    chunks = []
    for piece in _pieces(text, fits):
        joined = f'{chunks[-1]} {piece}' if chunks else ''
        if chunks and fits(joined):
            chunks[-1] = joined
        else:
            chunks.append(piece)
    return chunks[:max_chunks], max(0, len(chunks) - max_chunks)


def embed_prompt(clip, text, *, first_weight=1.0, max_chunks=MAX_CHUNKS, what='prompt'):
    """Embed ``text`` with ``clip`` (a ClipModel), whatever its length."""
    text = clean_prompt(text, what)
    if first_weight <= 0:
        raise InvalidPrompt(f'first_weight must be > 0, got {first_weight}')
    limit = clip.context_length
    total = clip.count_tokens(text)
    if total <= limit:
        features = clip.encode_text([text])[0]
        return PromptEmbedding(text, features, (text,), total, False, 'single')

    def fits(piece):
        return clip.count_tokens(piece) <= limit

    chunks, dropped = split_prompt(text, fits, max_chunks)
    embeddings = clip.encode_text(chunks)
    weights = torch.ones(len(chunks), device=embeddings.device)
    weights[0] = float(first_weight)
    mean = (weights[:, None] * embeddings).sum(0)
    features = mean / mean.norm().clamp_min(1e-12)
    kind = 'sentences-mean' if first_weight == 1.0 or len(chunks) == 1 else \
        'sentences-weighted-mean'
    return PromptEmbedding(text, features, tuple(chunks), total, dropped > 0,
                           f'{kind}:{len(chunks)}')


def _pieces(text, fits):
    """Sentences, or smaller pieces where a sentence alone exceeds the context."""
    for sentence in _split(_SENTENCES, text):
        if fits(sentence):
            yield sentence
            continue
        for clause in _split(_CLAUSES, sentence):
            if fits(clause):
                yield clause
            else:
                yield from _word_windows(clause, fits)


def _split(pattern, text):
    return [p.strip() for p in pattern.split(text) if p and p.strip()]


def _word_windows(text, fits):
    current = []
    for word in text.split():
        if not fits(word):
            if current:
                yield ' '.join(current)
                current = []
            yield from _char_windows(word, fits)
        elif fits(' '.join(current + [word])):
            current.append(word)
        else:
            yield ' '.join(current)
            current = [word]
    if current:
        yield ' '.join(current)


def _char_windows(word, fits):
    """A 'word' with no spaces longer than the context (a pasted URL, a key held down)."""
    while word:
        lo, hi = 1, len(word)
        while lo < hi:  # the longest prefix that fits
            mid = (lo + hi + 1) // 2
            if fits(word[:mid]):
                lo = mid
            else:
                hi = mid - 1
        yield word[:lo]
        word = word[lo:]
