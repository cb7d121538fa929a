import pathlib

import pytest

from dream_stt.bench_corpus import DREAMS, FOREIGN, LONG_DREAM
from dream_stt.rejection import (RejectionThresholds, Status, compression_ratio,
                                 is_stock_phrase, judge, looping_phrase, normalized_words,
                                 repeated_ngram)

SHIPPED_DREAMS = pathlib.Path(__file__).resolve().parents[3] / 'data' / 'dreams'

GOOD = dict(avg_logprob=-0.3, no_speech_prob=0.1, compression=1.3)


def verdict(text, **signals):
    values = dict(GOOD, **signals)
    return judge(text, values['avg_logprob'], values['no_speech_prob'],
                 values['compression'])[0]


def test_a_plain_dream_is_accepted():
    assert verdict('I was swimming in a sea of honey.') == Status.OK


@pytest.mark.parametrize('text', ['', '   ', '...', '♪ ♪', '-'])
def test_nothing_but_punctuation_is_empty(text):
    assert verdict(text) == Status.REJECTED_EMPTY


@pytest.mark.parametrize('text', ['Thank you for watching!', ' you', 'Thank you.',
                                  'Thanks for watching. Please subscribe.', 'Bye-bye.'])
def test_stock_phrases_alone_are_no_speech(text):
    assert verdict(text) == Status.REJECTED_NO_SPEECH


def test_a_dream_that_mentions_thanks_is_kept():
    assert verdict('Thank you, said the whale, and it flew away.') == Status.OK
    assert not is_stock_phrase('thank you whale')


def test_no_speech_needs_a_low_log_probability_unless_very_sure():
    assert verdict('a cat', no_speech_prob=0.7, avg_logprob=-1.2) == Status.REJECTED_NO_SPEECH
    assert verdict('a cat', no_speech_prob=0.7, avg_logprob=-0.4) == Status.OK
    assert verdict('a cat', no_speech_prob=0.97, avg_logprob=-0.4) == \
        Status.REJECTED_NO_SPEECH


def test_loops_are_repetition():
    loop = 'and then the bird ' * 12
    assert compression_ratio(loop) > 2.4
    assert verdict(loop, compression=compression_ratio(loop)) == Status.REJECTED_REPETITION
    assert verdict('the the the the cat') == Status.REJECTED_REPETITION  # too short for zlib
    assert repeated_ngram('a b c a b c a b c a b c'.split(), 4) == ('a b c', 4)
    assert repeated_ngram('very very big'.split(), 4) is None


# Hallucinated translations of short French and Spanish dreams (base, task translate): a
# phrase looping two and a half times, too few repeats for the back-to-back count and too
# short for the compression ratio.
HALLUCINATED_LOOPS = [
    'I will not let you go, I will not let you go, I will not let',
    'The sun is shining, the sun is shining, the sun is shining, the sun',
    'In the middle of the night, in the middle of the night, in the middle',
]


@pytest.mark.parametrize('text', HALLUCINATED_LOOPS)
def test_a_short_text_looping_on_a_phrase_is_repetition(text):
    ratio = compression_ratio(text)
    assert ratio < 2.4 and repeated_ngram(normalized_words(text), 4) is None
    status, message = judge(text, -0.85, 0.1, ratio)
    assert status == Status.REJECTED_REPETITION, message
    assert 'repeated over' in message


def _ordinary_dreams():
    texts = [d.text for d in DREAMS] + [d.english for d in FOREIGN] + [LONG_DREAM.text]
    texts += [p.read_text().strip() for p in sorted(SHIPPED_DREAMS.glob('*.txt'))]
    return texts + [
        'I was falling, falling, falling into the sea.',
        'I was running and running and running through the night.',
        'There was a door and a door and a door and then another door.',
        'I dreamed I was flying. I was flying over the sea, and I was flying over the hills.',
        'Round and round and round we went, round and round and round.',
        'A dog, a dog!',
    ]


@pytest.mark.parametrize('text', _ordinary_dreams())
def test_ordinary_dreams_are_no_loop(text):
    assert looping_phrase(normalized_words(text)) is None
    assert verdict(text, compression=compression_ratio(text)) == Status.OK


def test_a_loop_is_a_phrase_over_most_of_the_words():
    words = 'a b c d a b c d a b'.split()
    assert looping_phrase(words) == ('a b c d', 10)
    assert looping_phrase(['w', 'x', 'y', 'z'] + words) is None     # 10 of 14: < 0.75
    assert looping_phrase(['w', 'x', 'y', 'z'] + words, min_coverage=0.7) == ('a b c d', 10)
    assert looping_phrase('a b a b a b'.split()) is None       # under 8 words
    assert looping_phrase('a b c d e a b c'.split()) is None   # less than two copies


def test_low_confidence():
    assert verdict('a purple elephant', avg_logprob=-1.4) == Status.REJECTED_LOW_CONFIDENCE


def test_thresholds_are_parameters():
    strict = RejectionThresholds(min_avg_logprob=-0.2)
    assert judge('a purple elephant', -0.3, 0.1, 1.0, strict)[0] == \
        Status.REJECTED_LOW_CONFIDENCE


def test_status_values_match_the_transcript_message():
    pytest.importorskip('rclpy')
    from dream_interfaces.msg import Transcript
    for status in Status:
        assert getattr(Transcript, f'STATUS_{status.name}') == status.value
