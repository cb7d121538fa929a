"""Thresholds calibrated on the archive itself, within sane bounds, with fixed fallbacks.

What counts as "low confidence" or "ranks well" depends on the microphone, the room, the
visitors and the CLIP model, so a threshold is a percentile of the archive's own values,
clamped to bounds that keep it meaningful (a clean archive must not see its best tenth
called lost). An archive too small to have percentiles uses the fixed fallback. Every
threshold records where its value came from.
"""
import math
from dataclasses import dataclass

import numpy as np

# Fewer sessions with a value than this: the fixed fallback is used.
MIN_SESSIONS = 20


@dataclass(frozen=True)
class ThresholdRule:
    """How one threshold is set. direction 'above': a value >= threshold triggers."""

    name: str
    direction: str
    fallback: float
    percentile: float = None      # None: always the fixed value
    low: float = -math.inf
    high: float = math.inf
    description: str = ''


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    direction: str
    source: str
    sessions: int
    description: str = ''

    def triggers(self, value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value >= self.value if self.direction == 'above' else value <= self.value

    def describe(self, value, fmt='.2f'):
        sign = '>=' if self.direction == 'above' else '<='
        return f'{value:{fmt}} {sign} {self.value:{fmt}}'


def calibrate(rule, values, min_sessions=MIN_SESSIONS):
    """The threshold of ``rule`` for an archive whose values (NaN ignored) are ``values``."""
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = len(finite)
    if rule.percentile is None:
        return Threshold(rule.name, rule.fallback, rule.direction, 'fixed', n, rule.description)
    if n < min_sessions:
        return Threshold(rule.name, rule.fallback, rule.direction,
                         f'fixed fallback ({n} sessions with a value, < {min_sessions})', n,
                         rule.description)
    raw = float(np.percentile(finite, rule.percentile))
    value = min(max(raw, rule.low), rule.high)
    clamp = '' if value == raw else f', clamped from {raw:.3g} to [{rule.low:g}, {rule.high:g}]'
    return Threshold(rule.name, value, rule.direction,
                     f'archive P{rule.percentile:g} of {n} sessions{clamp}', n, rule.description)
