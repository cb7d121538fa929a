"""Compare what a (simulated) device drew with the plan: no path lost, none drawn twice.

The device simulators record every pen-down polyline ("episode"); a path item is drawn
completely by an episode that starts and ends where the path does and has its length (up to
the device's rounding). Partial episodes (a stop in the middle of a path) match nothing.
"""
from dataclasses import dataclass, field
from typing import List

import numpy as np


def polyline_length(points):
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 2:
        return 0.0
    return float(np.hypot(*np.diff(pts, axis=0).T).sum())


@dataclass
class DrawnReport:
    counts: List[int]                          # complete drawings of each item
    unmatched: List[np.ndarray] = field(default_factory=list)   # partial or foreign

    @property
    def lost(self):
        return [i for i, c in enumerate(self.counts) if c == 0]

    @property
    def duplicated(self):
        return [i for i, c in enumerate(self.counts) if c > 1]


def match_episodes(items, episodes, pos_tol=0.05, len_rel_tol=0.01):
    """How many ``episodes`` (polylines, paper mm) drew each PathItem of ``items`` entirely."""
    counts = [0] * len(items)
    unmatched = []
    keys = [(it.points[0], it.points[-1], it.length) for it in items]
    for ep in episodes:
        ep = np.asarray(ep, dtype=np.float64)
        if len(ep) < 2:
            continue
        length = polyline_length(ep)
        for i, (start, end, expected) in enumerate(keys):
            if (np.hypot(*(ep[0] - start)) <= pos_tol and np.hypot(*(ep[-1] - end)) <= pos_tol
                    and abs(length - expected) <= len_rel_tol * expected + pos_tol):
                counts[i] += 1
                break
        else:
            unmatched.append(ep)
    return DrawnReport(counts, unmatched)
