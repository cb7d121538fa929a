import pytest

from dream_stt.word_error_rate import normalize, word_error_rate


def test_normalisation_case_punctuation_numbers():
    assert normalize('There were Three doors!') == normalize('there were 3 doors')
    assert normalize('Twenty-two whales, flying.') == '22 whales flying'
    assert normalize('The colour grey') == normalize('the color gray')


def test_one_word_wrong_in_four():
    assert word_error_rate('a whale over paris', 'A whale over Rome.') == pytest.approx(0.25)


def test_corpus_rate_counts_all_words():
    refs = ['three red birds sang', 'the moon']
    hyps = ['3 red birds sang', 'a moon']
    assert word_error_rate(refs, hyps) == pytest.approx(1 / 6)


def test_mismatched_lists():
    with pytest.raises(ValueError, match='references'):
        word_error_rate(['a'], ['a', 'b'])
