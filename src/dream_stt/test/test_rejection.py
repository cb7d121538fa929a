import pytest

from dream_stt.rejection import (RejectionThresholds, Status, compression_ratio,
                                 is_stock_phrase, judge, repeated_ngram)

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
