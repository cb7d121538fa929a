"""Decide whether a transcript is worth drawing, from Whisper's own confidence signals.

Whisper always outputs *something*: on silence or noise it writes its stock phrases ("you",
"Thank you for watching"), on a bad stretch it loops ("the the the ..."). Rather than draw
that, the session is told why (a status it can act on: "please tell me again"). The rules
follow Whisper's own heuristics (no-speech probability together with a low log-probability,
gzip compression ratio for loops) plus checks Whisper leaves to the caller: empty text,
stock phrases, repeated n-grams too short for the compression ratio to see, and a phrase
looping back to back over most of a short text ("I will not let you go, I will not let you go,
I will not let", a hallucinated translation: twice and a half is too few repeats for the
back-to-back count and too short a text for the compression ratio).
"""
import re
import zlib
from dataclasses import dataclass
from enum import IntEnum


class Status(IntEnum):
    """The values of dream_interfaces/Transcript STATUS_*."""

    OK = 0
    REJECTED_NO_SPEECH = 1
    REJECTED_LOW_CONFIDENCE = 2
    REJECTED_REPETITION = 3
    REJECTED_EMPTY = 4
    ERROR = 5


# What Whisper writes on silence, noise and music (it learnt them from subtitled videos).
# A transcript made only of these is rejected; one of the 'always' ones is also cut off the
# end of a real dream, where Whisper likes to append it.
HALLUCINATIONS_ALWAYS = (
    'thank you for watching', 'thanks for watching', 'thank you for watching this video',
    'thank you for listening', 'please subscribe', 'subscribe to my channel',
    'like and subscribe', 'please like and subscribe', 'see you in the next video',
    'see you guys in the next video',
    'see you next time', 'subtitles by the amara org community',
    'transcribed by', 'transcription by castingwords', 'thank you for your attention',
    'please see the full video', 'i will see you in the next video',
)
HALLUCINATIONS_ALONE = (
    'you', 'thank you', 'thank you very much', 'thank you so much', 'thanks', 'bye',
    'bye bye', 'okay', 'oh', 'hmm', 'um', 'uh', 'so', 'the end', 'music', 'applause',
    'laughter', 'silence', 'foreign', 'i', "i'll", 'a', 'the',
)


@dataclass
class RejectionThresholds:
    no_speech_prob: float = 0.6        # with avg_logprob below logprob_silence: no speech
    logprob_silence: float = -1.0
    no_speech_prob_alone: float = 0.95  # no speech whatever the log-probability
    min_avg_logprob: float = -1.0      # below: low confidence
    max_compression_ratio: float = 2.4  # above: a repetition loop
    max_repeats: int = 4               # an n-gram (1-4 words) repeated back to back this often
    # A phrase of 2 or more words repeated back to back (at least twice) over this fraction of
    # the words (most of them), the looping stretch being at least loop_min_words long: a loop.
    max_loop_coverage: float = 0.75
    loop_min_words: int = 8
    min_speech_ratio: float = 0.05     # VAD speech fraction below which nothing is decoded


def normalized_words(text):
    """Lower-case words without punctuation, for matching stock phrases and loops."""
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.lower())


def compression_ratio(text):
    """Whisper's measure of repetitiveness: bytes / zlib-compressed bytes."""
    data = text.encode('utf-8')
    return len(data) / len(zlib.compress(data)) if data else 0.0


def is_stock_phrase(text, phrases=HALLUCINATIONS_ALWAYS + HALLUCINATIONS_ALONE):
    """True if ``text`` is nothing but Whisper stock phrases."""
    rest = ' '.join(normalized_words(text))
    if not rest:
        return False
    for phrase in sorted(phrases, key=len, reverse=True):
        rest = re.sub(rf'\b{re.escape(phrase)}\b', ' ', rest)
    return not rest.strip()


def repeated_ngram(words, max_repeats):
    """The (n-gram, count) repeated back to back at least ``max_repeats`` times, or None."""
    for n in range(1, 5):
        for start in range(0, len(words) - n * max_repeats + 1):
            gram = words[start:start + n]
            count = 1
            while words[start + count * n:start + (count + 1) * n] == gram:
                count += 1
            if count >= max_repeats:
                return ' '.join(gram), count
    return None


def looping_phrase(words, min_coverage=0.75, min_words=8):
    """(phrase, words covered) for a phrase of 2 or more words repeated back to back (at
    least two whole copies, then possibly part of a third) over at least ``min_coverage`` of
    ``words`` and at least ``min_words`` words, or None. The longest such stretch wins."""
    best = None
    total = len(words)
    for n in range(2, total // 2 + 1):
        run = 0         # how many words in a row equal the word n before them
        for i in range(n, total + 1):
            if i < total and words[i] == words[i - n]:
                run += 1
                continue
            covered = run + n
            if run >= n and covered >= min_words and covered >= min_coverage * total and (
                    best is None or covered > best[1]):
                start = i - covered
                best = (' '.join(words[start:start + n]), covered)
            run = 0
    return best


def judge(text, avg_logprob, no_speech_prob, compression, thresholds=None):
    """(Status, message) for a transcript and its signals."""
    t = thresholds or RejectionThresholds()
    words = normalized_words(text)
    if not words:
        return Status.REJECTED_EMPTY, 'no words came out'
    if is_stock_phrase(text):
        return Status.REJECTED_NO_SPEECH, f'only a phrase Whisper writes on silence: {text!r}'
    if no_speech_prob >= t.no_speech_prob_alone or (
            no_speech_prob >= t.no_speech_prob and avg_logprob < t.logprob_silence):
        return (Status.REJECTED_NO_SPEECH,
                f'no speech (no-speech probability {no_speech_prob:.2f}, '
                f'log-probability {avg_logprob:.2f})')
    if compression > t.max_compression_ratio:
        return (Status.REJECTED_REPETITION,
                f'repetitive text (compression ratio {compression:.2f} > '
                f'{t.max_compression_ratio:g})')
    loop = repeated_ngram(words, t.max_repeats)
    if loop:
        return Status.REJECTED_REPETITION, f'{loop[0]!r} repeated {loop[1]} times'
    loop = looping_phrase(words, t.max_loop_coverage, t.loop_min_words)
    if loop:
        return (Status.REJECTED_REPETITION,
                f'{loop[0]!r} repeated over {loop[1]} of the {len(words)} words')
    if avg_logprob < t.min_avg_logprob:
        return (Status.REJECTED_LOW_CONFIDENCE,
                f'low confidence (log-probability {avg_logprob:.2f} < {t.min_avg_logprob:g})')
    return Status.OK, 'ok'
