"""Word error rate with the normalisation used to evaluate Whisper itself.

Text is normalised by Whisper's English text normaliser (OpenAI's, packaged as
whisper-normalizer) before jiwer counts errors: lower case; punctuation, brackets and filler
words (um, uh) removed; spelled-out numbers turned into digits ("three" -> "3", "twenty-two"
-> "22"); British spellings and contractions standardised. Both the reference and the
hypothesis go through it, so "Three doors." and "3 doors" count as equal.
"""
import functools


@functools.lru_cache(maxsize=1)
def _normalizer():
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError as exc:
        raise RuntimeError('WER needs the pip package whisper-normalizer '
                           '(pip install whisper-normalizer)') from exc
    return EnglishTextNormalizer()


def normalize(text):
    return ' '.join(_normalizer()(text or '').split())


def word_error_rate(references, hypotheses):
    """Corpus WER: all word errors over all reference words (after normalisation)."""
    import jiwer

    if isinstance(references, str):
        references, hypotheses = [references], [hypotheses]
    if len(references) != len(hypotheses):
        raise ValueError(f'{len(references)} references but {len(hypotheses)} hypotheses')
    refs = [normalize(r) for r in references]
    hyps = [normalize(h) for h in hypotheses]
    if not any(refs):
        raise ValueError('the references are empty after normalisation')
    # jiwer refuses empty references; a reference with no words is dropped with its hypothesis
    # (its inserted words would have no denominator).
    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))
