"""Speech-side losses: error rates against references, words left untranslated."""
import math

import pytest

from dream_analysis.speech_losses import (
    Reference, error_rates, load_references, speech_losses, untranslated_words)


def row(**values):
    base = {'text': 'a whale swimming through the clouds', 'original_text': '',
            'language': 'en', 'task': 'transcribe', 'avg_logprob': -0.3,
            'no_speech_prob': 0.1, 'compression_ratio': 1.3, 'transcript_status': 'ok'}
    base.update(values)
    return base


def test_misheard_transcript_has_its_word_and_character_errors():
    wer, cer = error_rates('A whale swimming through the clouds.',
                           'a wail swimming through the crowds')
    assert wer == pytest.approx(2 / 6)
    assert 0 < cer < wer
    assert error_rates('Same words, here!', 'same words here') == (0.0, 0.0)


def test_reference_is_compared_with_the_spoken_language_text():
    losses = speech_losses(row(text='a cat flying over the city',
                               original_text='un gato volando sobre la ciudad',
                               language='es', task='translate'),
                           Reference('un gato volando sobre la ciudad de noche',
                                     'a cat flying over the city at night'))
    assert losses.wer == pytest.approx(2 / 8)
    assert losses.wer_english == pytest.approx(2 / 8)
    assert 'WER 0.25' in losses.reason and 'translated from es' in losses.reason


def test_source_words_surviving_translation_are_found():
    found = untranslated_words('mi abuela cocinaba pan en la cocina',
                               'my abuela was baking bread in the cocina', 'es')
    assert found == ['abuela', 'cocina']
    assert untranslated_words('x', 'the señora smiled', 'es') == ['señora']
    assert untranslated_words('a cat', 'a cat', 'en') == []
    losses = speech_losses(row(text='my abuela was baking bread in the cocina',
                               original_text='mi abuela cocinaba pan en la cocina',
                               language='es', task='translate'))
    assert losses.translated and losses.untranslated == ['abuela', 'cocina']
    assert losses.untranslated_share == pytest.approx(2 / 4)   # abuela baking bread cocina


def test_english_session_is_not_a_translation():
    losses = speech_losses(row())
    assert not losses.translated and losses.untranslated == []
    assert math.isnan(losses.untranslated_share) and math.isnan(losses.wer)
    assert 'no-speech p 0.10' in losses.reason
    # Whisper's translate task on English speech: the text is as heard, nothing translated.
    losses = speech_losses(row(task='translate'))
    assert not losses.translated and 'translated' not in losses.reason
    assert speech_losses(row(task='translate', language='')).translated   # unknown language


def test_reference_file(tmp_path):
    path = tmp_path / 'refs.tsv'
    path.write_text('session_id\treference\n# a comment\ns1\tun gato\ta cat\ns2\ta whale\n',
                    encoding='utf-8')
    refs = load_references(path)
    assert refs == {'s1': Reference('un gato', 'a cat'), 's2': Reference('a whale')}
    path.write_text('s1\n', encoding='utf-8')
    with pytest.raises(ValueError, match='refs.tsv:1'):
        load_references(path)
    with pytest.raises(FileNotFoundError):
        load_references(tmp_path / 'missing.tsv')


def test_a_reference_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / 'latin.tsv'
    path.write_bytes(b's1\tun caf\xe9\n\xff\n')
    with pytest.raises(ValueError, match=r'reference file .*latin\.tsv is not UTF-8 text'):
        load_references(path)
