"""The four groupings of arXiv 2306.07429, as ordered, testable rules over the measurements.

Order (the first rule that holds decides; MEASUREMENTS.md states the same):

1. lost in translation: the dream did not reach CLIP as told: the session failed on the
   speech side before any drawing, or a speech signal crosses its threshold (no-speech
   probability, average log-probability, compression ratio, error against a reference,
   source-language words left untranslated, prompt cut at CLIP's context).
   Otherwise, a session without a drawing is "not drawn" (outside the four groupings, e.g.
   one cancelled while it listened); so is one whose prompt the installation's blocklist
   refused, whatever its speech signals: the dream was understood, and not drawn by choice.
2. text-to-text as image: the drawing writes the prompt: OCR reads a prompt word of at least
   4 letters, or the drawing resembles the prompt written as letters (glyph image) far more
   distinctively than it matches the prompt as a concept.
3. clear concept: among decoys (other dreams, generic prompts) the true prompt ranks near the
   top for the agreement judge.
4. indeterminacy and confusion: everything else, empty drawings included.
"""
import math

import numpy as np

from dream_session.prompt_policy import REFUSAL_PATTERN as POLICY_REFUSAL

from dream_analysis.calibration import ThresholdRule, calibrate
from dream_analysis.session_bag import SPEECH_ERRORS

LOST = 'lost in translation'
TEXT = 'text-to-text as image'
CLEAR = 'clear concept'
CONFUSED = 'indeterminacy and confusion'
GROUPS = (LOST, TEXT, CLEAR, CONFUSED)
NOT_DRAWN = 'not drawn'

# The shortest prompt word whose reading by OCR counts as the drawing writing the prompt.
MIN_OCR_WORD = 4
# A glyph image must also rank in this top share among decoy glyph images.
GLYPH_TOP_SHARE = 0.05

RULES = (
    ThresholdRule('no_speech_prob', 'above', 0.6, 90, 0.4, 0.8,
                  "Whisper's no-speech probability (its own default cut is 0.6)"),
    ThresholdRule('avg_logprob', 'below', -1.0, 10, -1.5, -0.6,
                  "Whisper's average token log-probability (its own default cut is -1.0)"),
    ThresholdRule('compression_ratio', 'above', 2.4, None,
                  description="gzip compression ratio of the text: a repetition loop "
                  "(Whisper's own cut, fixed)"),
    ThresholdRule('wer', 'above', 0.3, 90, 0.2, 0.5,
                  'word error rate against the reference transcript'),
    ThresholdRule('untranslated_share', 'above', 0.25, 90, 0.15, 0.5,
                  'share of English content words left in the source language'),
    ThresholdRule('glyph_preference', 'above', 1.0, 90, 0.5, 3.0,
                  'glyph z minus agreement z: the drawing looks more like the words written '
                  'than like what they describe'),
    ThresholdRule('agreement_percentile', 'below', 0.05, 30, 0.01, 0.10,
                  'share of decoys the true prompt loses to (0 = it beats them all)'),
)


def calibrate_thresholds(table, min_sessions=None):
    """{name: Threshold} calibrated on the measurement table's columns."""
    kwargs = {} if min_sessions is None else {'min_sessions': min_sessions}
    drawn = table['has_drawing'] if 'has_drawing' in table else np.ones(len(table), bool)
    out = {}
    for rule in RULES:
        values = table[rule.name] if rule.name in table else []
        if rule.name in ('glyph_preference', 'agreement_percentile') and len(values):
            values = values[drawn & (table['n_strokes'] > 0)]
        out[rule.name] = calibrate(rule, list(values), **kwargs)
    return out


def _value(row, name):
    value = row.get(name)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float('nan')
    return value


def _policy_refusal(row):
    """The blocklist's refusal that ended an undrawn session, or ''."""
    if row.get('has_drawing'):
        return ''
    match = POLICY_REFUSAL.search(row.get('error_message') or '')
    return match.group(0) if match else ''


def _speech_failure(row):
    if row.get('has_drawing'):
        return ''
    error = row.get('error') or 'none'
    stage = row.get('failure_stage') or ''
    status = row.get('transcript_status') or 'none'
    if error in SPEECH_ERRORS:
        return f'session failed on the speech side ({error_text(error, row)})'
    if status not in ('ok', 'none'):
        return f'transcript {status}'
    if stage in ('listening', 'transcribing') and row.get('final_state') != 'cancelled':
        # a cancelled one was stopped (an operator, the machine shutting down): not drawn
        return f'session ended while {stage} ({row.get("final_state")})'
    return ''


def error_text(error, row):
    """'error: message', naming the error once: the session's messages often begin with it."""
    message = (row.get('error_message') or '').strip()
    if not message:
        return error
    if message.lower().startswith(error.lower()):
        return message
    return f'{error}: {message}'


def decide(row, thresholds):
    """(grouping, signals, reason) of one measurement row (a mapping)."""
    refusal = _policy_refusal(row)
    if refusal:
        return NOT_DRAWN, 'policy_refusal', f'{NOT_DRAWN}: prompt blocklist: {refusal}'
    lost = []
    failure = _speech_failure(row)
    if failure:
        lost.append(('speech_failure', failure))
    for name, label in (('no_speech_prob', 'no-speech p'), ('avg_logprob', 'avg log-p'),
                        ('compression_ratio', 'compression ratio'), ('wer', 'WER'),
                        ('untranslated_share', 'untranslated share')):
        value = _value(row, name)
        if thresholds[name].triggers(value):
            text = f'{label} {thresholds[name].describe(value)}'
            if name == 'untranslated_share' and row.get('untranslated'):
                text += f' ({row.get("untranslated")})'
            lost.append((name, text))
    english = _value(row, 'wer_english')
    if thresholds['wer'].triggers(english):
        lost.append(('wer_english', f'English WER {thresholds["wer"].describe(english)}'))
    if row.get('prompt_cut'):
        lost.append(('prompt_cut', f'prompt cut at CLIP context ({row.get("prompt_tokens")} '
                     'tokens): CLIP never saw its end'))
    if lost:
        return LOST, ';'.join(k for k, _ in lost), f'{LOST}: ' + '; '.join(t for _, t in lost)
    if not row.get('has_drawing'):
        why = row.get('drawing_error') or row.get('error_message') or row.get('final_state')
        return NOT_DRAWN, 'no_drawing', f'{NOT_DRAWN}: no drawing ({why})'
    if not row.get('n_strokes'):
        return CONFUSED, 'empty_drawing', f'{CONFUSED}: empty drawing, nothing to agree with'
    text = []
    longest = _value(row, 'ocr_longest_match')
    if longest >= MIN_OCR_WORD:
        text.append(('ocr', f'OCR read prompt word(s) {row.get("ocr_matched")}'))
    preference = _value(row, 'glyph_preference')
    glyph_pct = _value(row, 'glyph_percentile')
    if thresholds['glyph_preference'].triggers(preference) and glyph_pct <= GLYPH_TOP_SHARE:
        text.append(('glyph_preference',
                     f'looks like the written prompt: glyph preference '
                     f'{thresholds["glyph_preference"].describe(preference)}, glyph image '
                     f'in the top {glyph_pct:.0%} of decoy glyphs'))
    if text:
        return TEXT, ';'.join(k for k, _ in text), f'{TEXT}: ' + '; '.join(t for _, t in text)
    pct = _value(row, 'agreement_percentile')
    rank = f'rank {int(_value(row, "agreement_rank"))} of ' \
        f'{int(_value(row, "agreement_candidates")) + 1}' if not math.isnan(pct) else 'no rank'
    if thresholds['agreement_percentile'].triggers(pct):
        return (CLEAR, 'agreement_percentile',
                f'{CLEAR}: true prompt {rank} among decoys (beaten by '
                f'{thresholds["agreement_percentile"].describe(pct, ".1%")} of them)')
    detail = f'beaten by {pct:.1%} of decoys' if not math.isnan(pct) else 'no agreement measured'
    return CONFUSED, 'agreement_percentile', f'{CONFUSED}: true prompt {rank} ({detail})'


def assign_groupings(table, thresholds):
    """Columns grouping, grouping_signals, grouping_reason for every row of ``table``."""
    decided = [decide(row, thresholds) for row in table.to_dict('records')]
    table = table.copy()
    table['grouping'] = [d[0] for d in decided]
    table['grouping_signals'] = [d[1] for d in decided]
    table['grouping_reason'] = [d[2] for d in decided]
    return table
