"""The word and phrase files shipped in the package (data/), and the words of a prompt."""
import functools
import re
from importlib import resources

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def data_file(*parts):
    """A shipped data file (works from the source tree and from an install)."""
    return resources.files('dream_analysis').joinpath('data', *parts)


def read_lines(source):
    """Non-empty, non-comment lines of a text file (a path or a resources Traversable)."""
    text = source.read_text(encoding='utf-8')
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith('#')]


@functools.lru_cache(maxsize=1)
def function_words():
    return frozenset(w.lower() for w in read_lines(data_file('function_words.txt')))


def words(text):
    """Lowercase words (letters, inner apostrophes) of ``text``, in order."""
    return [w.lower() for w in _WORD.findall(text or '')]


def content_words(text, min_length=3):
    """Words of ``text`` that carry content: not function words, at least ``min_length``."""
    stop = function_words()
    seen, out = set(), []
    for word in words(text):
        if len(word) >= min_length and word not in stop and word not in seen:
            seen.add(word)
            out.append(word)
    return out
