"""The four groupings: rule order, calibrated thresholds, recorded reasons."""
import math

import numpy as np
import pandas as pd
import pytest

from dream_analysis.calibration import ThresholdRule, calibrate
from dream_analysis.groupings import (
    CLEAR, CONFUSED, LOST, NOT_DRAWN, TEXT, assign_groupings, calibrate_thresholds, decide)

FALLBACKS = calibrate_thresholds(pd.DataFrame({'has_drawing': [], 'n_strokes': []}))


def session(**values):
    """A drawn, confidently transcribed session that no rule singles out."""
    base = {'has_drawing': True, 'n_strokes': 64, 'error': 'none', 'final_state': 'done',
            'transcript_status': 'ok', 'no_speech_prob': 0.05, 'avg_logprob': -0.3,
            'compression_ratio': 1.5, 'wer': math.nan, 'wer_english': math.nan,
            'untranslated_share': math.nan, 'untranslated': '', 'prompt_cut': False,
            'prompt_tokens': 12, 'ocr_longest_match': 0, 'ocr_matched': '',
            'glyph_preference': 0.0, 'glyph_percentile': 0.5, 'agreement_percentile': 0.4,
            'agreement_rank': 41, 'agreement_candidates': 100}
    base.update(values)
    return base


@pytest.mark.parametrize('values, group, signal', [
    ({}, CONFUSED, 'agreement_percentile'),
    ({'agreement_percentile': 0.0, 'agreement_rank': 1}, CLEAR, 'agreement_percentile'),
    ({'ocr_longest_match': 4, 'ocr_matched': 'fish'}, TEXT, 'ocr'),
    ({'ocr_longest_match': 3, 'ocr_matched': 'cat'}, CONFUSED, 'agreement_percentile'),
    ({'glyph_preference': 2.0, 'glyph_percentile': 0.01}, TEXT, 'glyph_preference'),
    ({'glyph_preference': 2.0, 'glyph_percentile': 0.30}, CONFUSED, 'agreement_percentile'),
    ({'no_speech_prob': 0.9}, LOST, 'no_speech_prob'),
    ({'avg_logprob': -1.4}, LOST, 'avg_logprob'),
    ({'compression_ratio': 3.1}, LOST, 'compression_ratio'),
    ({'wer': 0.6}, LOST, 'wer'),
    ({'wer_english': 0.6}, LOST, 'wer_english'),
    ({'untranslated_share': 0.5, 'untranslated': 'abuela'}, LOST, 'untranslated_share'),
    ({'prompt_cut': True, 'prompt_tokens': 120}, LOST, 'prompt_cut'),
    ({'n_strokes': 0}, CONFUSED, 'empty_drawing'),
    ({'has_drawing': False, 'error': 'generation', 'final_state': 'failed',
      'failure_stage': 'generating'}, NOT_DRAWN, 'no_drawing'),
    ({'has_drawing': False, 'error': 'speech rejected', 'final_state': 'failed',
      'transcript_status': 'rejected: no speech'}, LOST, 'speech_failure'),
    ({'has_drawing': False, 'error': 'timeout', 'final_state': 'failed',
      'failure_stage': 'listening', 'transcript_status': 'none'}, LOST, 'speech_failure'),
    # cancelled by an operator while listening: stopped, not lost (once: lost in translation)
    ({'has_drawing': False, 'error': 'none', 'final_state': 'cancelled',
      'failure_stage': 'listening', 'transcript_status': 'none'}, NOT_DRAWN, 'no_drawing'),
])
def test_each_rule_decides_alone(values, group, signal):
    found, signals, reason = decide(session(**values), FALLBACKS)
    assert (found, signals.split(';')[0]) == (group, signal)
    assert reason.startswith(group + ':')


def test_rules_apply_in_the_documented_order():
    writes_and_clear = session(ocr_longest_match=5, ocr_matched='whale',
                               agreement_percentile=0.0)
    assert decide(writes_and_clear, FALLBACKS)[0] == TEXT
    lost_and_writes = session(no_speech_prob=0.95, ocr_longest_match=5, ocr_matched='whale',
                              agreement_percentile=0.0)
    group, signals, reason = decide(lost_and_writes, FALLBACKS)
    assert group == LOST and 'no-speech p 0.95 >= 0.60' in reason
    several = session(no_speech_prob=0.95, avg_logprob=-2.0, prompt_cut=True)
    assert decide(several, FALLBACKS)[1] == 'no_speech_prob;avg_logprob;prompt_cut'


def test_tiny_archive_uses_fixed_fallbacks():
    assert FALLBACKS['no_speech_prob'].value == 0.6
    assert FALLBACKS['agreement_percentile'].value == 0.05
    assert 'fixed fallback' in FALLBACKS['no_speech_prob'].source


def test_thresholds_calibrate_on_the_archive_within_bounds():
    rule = ThresholdRule('no_speech_prob', 'above', 0.6, 90, 0.4, 0.8)
    middle = calibrate(rule, np.linspace(0, 0.6, 101))
    assert middle.value == pytest.approx(0.54) and 'P90 of 101' in middle.source
    clean = calibrate(rule, np.linspace(0, 0.1, 101))       # a clean archive: bounded below
    assert clean.value == 0.4 and 'clamped' in clean.source
    assert calibrate(rule, [0.9] * 19).value == 0.6        # too few: fallback
    assert calibrate(rule, [0.9] * 19 + [math.nan] * 5).sessions == 19


def test_calibration_changes_the_decision():
    values = np.linspace(0.0, 0.02, 40)      # an archive where every drawing ranks well
    table = pd.DataFrame([session(agreement_percentile=v) for v in values])
    thresholds = calibrate_thresholds(table)
    assert thresholds['agreement_percentile'].value == pytest.approx(0.01)   # P30, bounded
    grouped = assign_groupings(table, thresholds)
    assert (grouped['grouping'] == CLEAR).sum() == int((values <= 0.01).sum())
    assert (grouped['grouping'] == CONFUSED).sum() > 0
    assert grouped['grouping_reason'].str.contains('among decoys').any()


def test_a_blocklist_refusal_is_not_drawn_not_lost():
    from dream_session.prompt_policy import PromptPolicy
    refusal = PromptPolicy(['city']).refusal('flying over the city')
    refused = session(has_drawing=False, error='speech rejected', final_state='failed',
                      failure_stage='transcribing', no_speech_prob=0.9,
                      error_message=f'speech rejected again: {refusal}')
    group, signals, reason = decide(refused, FALLBACKS)
    assert (group, signals) == (NOT_DRAWN, 'policy_refusal')
    assert reason == f'{NOT_DRAWN}: prompt blocklist: {refusal}'
    misheard = dict(refused, error_message='speech rejected again: the audio is silent',
                    transcript_status='rejected: no speech')
    assert decide(misheard, FALLBACKS)[:2] == (LOST, 'speech_failure;no_speech_prob')


@pytest.mark.parametrize('message, said', [
    ('speech rejected: no speech heard', '(speech rejected: no speech heard)'),
    ('Speech rejected again: too quiet', '(Speech rejected again: too quiet)'),
    ('no speech heard', '(speech rejected: no speech heard)'),
    ('', '(speech rejected)'),
])
def test_a_speech_failure_names_its_error_once(message, said):
    failed = session(has_drawing=False, error='speech rejected', final_state='failed',
                     failure_stage='transcribing', error_message=message)
    reason = decide(failed, FALLBACKS)[2]
    assert reason == f'{LOST}: session failed on the speech side {said}'
