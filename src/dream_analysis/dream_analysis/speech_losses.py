"""What was lost between the visitor's voice and the prompt CLIP was given.

Signals: Whisper's own confidence (no-speech probability, average log-probability,
compression ratio), whether the dream was translated and which source-language words came
through untranslated, the word and character error against a reference transcript when one
is given (jiwer), and whether the prompt exceeded CLIP's context so that part of it was
never seen.
"""
import csv
import io
import math
import pathlib
import re
import unicodedata
from dataclasses import dataclass

from dream_analysis.word_lists import function_words, words

_PUNCT = re.compile(r"[^\w\s']", re.UNICODE)


def normalise(text):
    """Lowercase, punctuation dropped, spaces collapsed: what the error rates compare."""
    return ' '.join(_PUNCT.sub(' ', (text or '').lower()).split())


@dataclass(frozen=True)
class Reference:
    """What the visitor really said (and optionally its English meaning)."""

    text: str
    english: str = ''


def load_references(path):
    """{session id or bag name: Reference} from a TSV: ``session_id<TAB>reference[<TAB>english]``.

    A first line naming the columns (``session_id``) is skipped; lines starting with '#' are
    comments. Raises ValueError naming the line that is malformed.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'reference file not found: {path}')
    try:
        text = path.read_bytes().decode('utf-8')    # as csv wants it: newlines kept
    except UnicodeDecodeError as error:
        raise ValueError(f'reference file {path} is not UTF-8 text (byte '
                         f'{error.object[error.start]:#04x} at offset {error.start})') from None
    refs = {}
    with io.StringIO(text, newline='') as handle:
        for number, row in enumerate(csv.reader(handle, delimiter='\t'), 1):
            if not row or not ''.join(row).strip() or row[0].lstrip().startswith('#'):
                continue
            if number == 1 and row[0].strip().lower() in ('session_id', 'session'):
                continue
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise ValueError(f'{path}:{number}: expected "session_id<TAB>reference text" '
                                 f'(optionally a third column with the English), got {row!r}')
            refs[row[0].strip()] = Reference(row[1].strip(),
                                             row[2].strip() if len(row) > 2 else '')
    return refs


def error_rates(reference, hypothesis):
    """(word error rate, character error rate) after normalisation; NaN without reference."""
    import jiwer

    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return float('nan'), float('nan')
    return float(jiwer.wer(ref, hyp)), float(jiwer.cer(ref, hyp))


def untranslated_words(original, english, language):
    """Content words of the English text that are still in the source language.

    A word counts when it appears verbatim in the source-language transcript (cognates and
    names count too: the threshold on their share absorbs them), or when it carries letters
    English does not use (accents) while the source language is not English.
    """
    if not language or language == 'en':
        return []
    source = set(words(original))
    stop = function_words()
    found = []
    for word in words(english):
        if len(word) < 3 or word in stop or word in found:
            continue
        foreign_letters = any(unicodedata.decomposition(c) for c in word)
        if word in source or foreign_letters:
            found.append(word)
    return found


@dataclass
class SpeechLosses:
    translated: bool
    untranslated: list
    untranslated_share: float
    wer: float
    cer: float
    wer_english: float
    reason: str


def speech_losses(row, reference=None):
    """Speech-side measurements of one archive row (a mapping of the archive's columns)."""
    text, original = row.get('text') or '', row.get('original_text') or ''
    language = row.get('language') or ''
    # Whisper's translate task on English speech returns it as heard: nothing was translated.
    translated = language != 'en' and (row.get('task') == 'translate' or (
        language != '' and normalise(original) != normalise(text)))
    survivors = untranslated_words(original, text, language) if translated else []
    english_words = [w for w in words(text) if len(w) >= 3 and w not in function_words()]
    share = len(survivors) / len(set(english_words)) if translated and english_words else (
        0.0 if translated else float('nan'))
    wer = cer = wer_english = float('nan')
    if reference is not None:
        wer, cer = error_rates(reference.text, original or text)
        if reference.english:
            wer_english, _ = error_rates(reference.english, text)
    parts = []
    status = row.get('transcript_status') or 'none'
    if status != 'ok':
        parts.append(f'transcript {status}')
    for name, label, fmt in (('no_speech_prob', 'no-speech p', '.2f'),
                             ('avg_logprob', 'avg log-p', '.2f'),
                             ('compression_ratio', 'compression', '.2f')):
        value = row.get(name)
        if value is not None and not _nan(value):
            parts.append(f'{label} {value:{fmt}}')
    if translated:
        parts.append(f'translated from {language or "?"}'
                     + (f'; untranslated: {", ".join(survivors)}' if survivors else ''))
    if not _nan(wer):
        parts.append(f'WER {wer:.2f} / CER {cer:.2f} against the reference')
    if not _nan(wer_english):
        parts.append(f'English WER {wer_english:.2f}')
    return SpeechLosses(translated, survivors, share, wer, cer, wer_english,
                        '; '.join(parts) or 'no transcript')


def _nan(value):
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True
