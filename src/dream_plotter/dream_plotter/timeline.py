"""The plan as a sequence of timed phases (travel, pen down, draw, pen up, pen change).

Every driver executes these phases in order, so the estimate printed before a plot, the sim
driver's kinematic playback and the hardware drivers' time-left figures all agree. Phase
durations are computed for all phases in one vectorised pass; the detailed per-phase motion
profile (needed only to play a phase back) is built when first asked for.
"""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from dream_plotter.motion_profile import Profile, path_durations, travel_time
from dream_plotter.outcome import Progress
from dream_plotter.planner import PathItem, PenChange

HOME = (0.0, 0.0)


@dataclass
class Phase:
    kind: str                         # travel | pen_down | draw | pen_up | pen_change
    duration: float = 0.0
    points: Optional[np.ndarray] = None   # travel (2 points) and draw phases
    item: Optional[PathItem] = None   # draw phases
    pen: int = 0                      # pen_change and draw phases
    length: float = 0.0               # mm moved
    end: tuple = HOME                 # pen position when the phase ends (mm)
    limits: object = None
    _profile: Optional[Profile] = field(default=None, repr=False)

    @property
    def profile(self):
        if self._profile is None and self.points is not None:
            lim = self.limits
            speed = lim.draw_speed if self.kind == 'draw' else lim.travel_speed
            self._profile = Profile(self.points, speed, lim.acceleration,
                                    lim.junction_deviation)
        return self._profile


def build_timeline(steps, limits, start=HOME, home=HOME):
    """Phases for executing ``steps`` (PathItem/PenChange), from ``start`` (None: unknown,
    estimated from home), ending at home."""
    phases = []
    unknown = start is None      # after a lost position: always travel to the first point
    pos = np.asarray(HOME if unknown else start, dtype=np.float64)

    def travel(to):
        nonlocal pos, unknown
        to = np.asarray(to, dtype=np.float64)
        length = float(np.hypot(*(to - pos)))
        if length > 1e-9 or unknown:
            unknown = False
            phases.append(Phase('travel', points=np.array([pos, to]), length=length,
                                end=tuple(to), limits=limits))
        pos = to

    for step in steps:
        if isinstance(step, PenChange):
            travel(home)
            phases.append(Phase('pen_change', limits.pen_change_time, pen=step.pen,
                                end=tuple(pos), limits=limits))
            continue
        travel(step.points[0])
        phases.append(Phase('pen_down', limits.pen_down_delay, end=tuple(pos),
                            limits=limits))
        pos = np.asarray(step.points[-1], dtype=np.float64)
        phases.append(Phase('draw', points=step.points, item=step, pen=step.pen,
                            length=step.length, end=tuple(pos), limits=limits))
        phases.append(Phase('pen_up', limits.pen_up_delay, end=tuple(pos), limits=limits))
    travel(home)
    travels = [p for p in phases if p.kind == 'travel']
    for p, t in zip(travels, travel_time([p.length for p in travels], limits.travel_speed,
                                         limits.acceleration)):
        p.duration = float(t)
    draws = [p for p in phases if p.kind == 'draw']
    for p, t in zip(draws, path_durations([p.points for p in draws], limits.draw_speed,
                                          limits.acceleration, limits.junction_deviation)):
        p.duration = float(t)
    return phases


@dataclass
class PlanFigures:
    duration: float = 0.0
    pen_down_distance: float = 0.0
    pen_up_distance: float = 0.0
    pen_changes: int = 0
    paths: int = 0


def figures(phases):
    f = PlanFigures()
    for ph in phases:
        f.duration += ph.duration
        if ph.kind == 'draw':
            f.pen_down_distance += ph.length
            f.paths += 1
        elif ph.kind == 'travel':
            f.pen_up_distance += ph.length
        elif ph.kind == 'pen_change':
            f.pen_changes += 1
    return f


def plan_estimate(plan, start_stroke=0, start=HOME):
    """Figures for drawing ``plan`` from ``start_stroke``, as the sim driver would."""
    return figures(build_timeline(plan.steps_from(start_stroke), plan.settings.limits,
                                  start=start))


class ProgressTracker:
    """Turns "phase k, t seconds in" into Progress snapshots consistent across drivers."""

    def __init__(self, plan, start_stroke, phases):
        self.plan = plan
        self.phases = phases
        full = sum(p.length for p in plan.paths)
        self.total_length = full or 1.0
        remaining = sum(p.length for p in phases if p.kind == 'draw')
        self.base_length = max(full - remaining, 0.0)
        durations = np.array([p.duration for p in phases] or [0.0])
        self.time_after = np.cumsum(durations)
        self.total_time = float(self.time_after[-1]) if phases else 0.0
        self.drawn_before = np.cumsum([0.0] + [p.length if p.kind == 'draw' else 0.0
                                               for p in phases])
        self.strokes_done = int(start_stroke)
        self.snapshot = Progress(strokes_done=self.strokes_done,
                                 strokes_total=plan.strokes_total,
                                 current_stroke=self._current(), progress=self._fraction(0),
                                 time_left=self.total_time)

    def _current(self):
        return min(self.strokes_done, max(self.plan.strokes_total - 1, 0))

    def _fraction(self, drawn):
        return min(1.0, (self.base_length + drawn) / self.total_length)

    def update(self, index, elapsed=0.0, position=None, pen_down=None, strokes_done=None,
               drawn_in_phase=0.0):
        """Snapshot at ``elapsed`` seconds into phase ``index`` (len(phases) = finished)."""
        if strokes_done is not None:
            self.strokes_done = max(self.strokes_done, int(strokes_done))
        index = min(index, len(self.phases))
        before = float(self.time_after[index - 1]) if index > 0 else 0.0
        drawn = float(self.drawn_before[index]) + drawn_in_phase
        snap = self.snapshot
        snap.strokes_done = self.strokes_done
        snap.current_stroke = self._current()
        if position is not None:
            snap.x, snap.y = float(position[0]), float(position[1])
        if pen_down is not None:
            snap.pen_down = bool(pen_down)
        snap.progress = self._fraction(drawn)
        snap.time_left = max(self.total_time - before - elapsed, 0.0)
        return Progress(**vars(snap))
