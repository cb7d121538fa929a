"""Signal levels in dBFS, and the hint for a recording too quiet for the voice detector.

Speech recorded at a sensible gain peaks above about -20 dBFS; Silero stops finding speech
somewhere below -40 dBFS peak. A recording in which no speech was found and that never rose
above QUIET_PEAK_DBFS is most likely a microphone turned down, not silence: say so.
"""
import math

import numpy as np

QUIET_PEAK_DBFS = -35.0


def peak_dbfs(samples):
    """The peak level of float samples (or of one peak value) in dBFS; -inf for silence."""
    peak = float(np.max(np.abs(samples))) if np.size(samples) else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def quiet_hint(peak):
    """'the recording is very quiet (peak -53 dBFS): raise the input gain' when ``peak``
    (dBFS) is below QUIET_PEAK_DBFS but not digital silence; '' otherwise."""
    if peak is None or not -math.inf < peak < QUIET_PEAK_DBFS:
        return ''
    return f'the recording is very quiet (peak {peak:.0f} dBFS): raise the input gain'
