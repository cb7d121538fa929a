"""The interface every driver core implements, and the bookkeeping they share.

A driver core is a plain class (no ROS): ``connect()``, ``execute(plan, start_stroke,
progress_cb, cancel_event) -> PlotOutcome``, ``lift_pen()``, ``close()``. The ROS nodes and
``dream plot`` are thin layers over it, and a roboticist's own driver only has to honour
DRIVER_CONTRACT.md, not this class.
"""
import math
import threading
import time

import numpy as np

from dream_plotter.outcome import ErrorCode, PlotError, PlotOutcome
from dream_plotter.timeline import HOME, build_timeline, figures, ProgressTracker


class Run:
    """State of one execute() call: what is known to be done, and progress reporting."""

    def __init__(self, plan, start_stroke, phases, progress_cb, cancel_event):
        self.plan = plan
        self.start_stroke = int(start_stroke)
        self.phases = phases
        self.tracker = ProgressTracker(plan, max(int(start_stroke), len(plan.skipped)),
                                       phases)
        self.progress_cb = progress_cb
        self.cancel_event = cancel_event if cancel_event is not None else threading.Event()
        # strokes that draw nothing come first in plan order: done from the start
        self.strokes_done = max(int(start_stroke), len(plan.skipped))
        self.pen_down_mm = 0.0
        self.pen_up_mm = 0.0
        self.pen_changes = 0
        self.started = time.monotonic()
        self.phase_index = 0

    def report(self, index=None, elapsed=0.0, position=None, pen_down=None,
               drawn_in_phase=0.0):
        if index is not None:
            self.phase_index = index
        snap = self.tracker.update(self.phase_index, elapsed, position, pen_down,
                                   self.strokes_done, drawn_in_phase)
        if self.progress_cb is not None:
            self.progress_cb(snap)
        return snap

    def check_cancel(self):
        if self.cancel_event.is_set():
            raise PlotError(ErrorCode.CANCELLED, 'cancelled on request')

    def finish_phase(self, phase):
        """Account for a phase that the device has completed."""
        if phase.kind == 'draw':
            self.pen_down_mm += phase.length
            self.strokes_done = max(self.strokes_done, phase.item.done_after)
        elif phase.kind == 'travel':
            self.pen_up_mm += phase.length
        elif phase.kind == 'pen_change':
            self.pen_changes += 1


UNKNOWN_POSITION = (math.nan, math.nan)


def reported_position(position):
    """What feedback says for ``position``: NaN, not a made-up origin, when unknown."""
    return UNKNOWN_POSITION if position is None else position


def _done_text(start, total):
    """The message of a finished run; a resume at the end has drawn nothing, not '16..15'."""
    if start >= total:
        return f'nothing left to draw from stroke {start} of {total}'
    return f'drew strokes {start}..{total - 1}'


def mark_distances(item):
    """Arc length along ``item.points`` at which each of its strokes is finished."""
    seg = np.hypot(*np.diff(item.points, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return [(float(cum[v]), count) for v, count in item.marks]


class Driver:
    """Base class of the driver cores."""

    name = 'driver'

    def __init__(self):
        self.position = HOME          # mm, paper frame; None when not known
        self.pen_up = True            # None when unknown
        self.pen_change_hook = None   # callable(pen, color) that waits for the operator

    # connection ---------------------------------------------------------------------------
    def connect(self):
        """Open the device and check that it answers like the expected firmware."""

    def close(self):
        """Lift the pen and release the device."""

    def lift_pen(self):
        """Best effort: lift the pen now (used after failures and on deactivate)."""

    # execution ----------------------------------------------------------------------------
    def estimate(self, plan, start_stroke=0):
        return figures(build_timeline(plan.steps_from(start_stroke), plan.settings.limits,
                                      start=self.position))

    def execute(self, plan, start_stroke=0, progress_cb=None, cancel_event=None):
        """Draw ``plan`` from ``start_stroke``; always returns a PlotOutcome, pen up."""
        try:
            self._prepare()
            steps = plan.steps_from(start_stroke)
        except PlotError as exc:
            return PlotOutcome(exc.code, exc.message, exc.device_error,
                               strokes_done=int(start_stroke), next_stroke=int(start_stroke))
        phases = build_timeline(steps, plan.settings.limits, start=self.position)
        run = Run(plan, start_stroke, phases, progress_cb, cancel_event)
        run.report(0, position=reported_position(self.position), pen_down=False)
        error = None
        try:
            self._run(run)
        except PlotError as exc:
            error = exc
        except Exception as exc:  # a driver bug must still end with the pen up
            error = PlotError(ErrorCode.INTERNAL, f'{type(exc).__name__}: {exc}')
        if error is not None:
            try:
                self._stop(run, error)
            except PlotError as exc:
                if error.code == ErrorCode.CANCELLED:
                    error = exc
                else:
                    error.message += f'; while stopping: {exc.message}'
            except PlotError as exc:
                error.message += f'; while stopping: {exc.message}'
            except Exception as exc:  # noqa: BLE001 - reported in the outcome
                error.message += f'; while stopping: {type(exc).__name__}: {exc}'
                self.pen_up = None
        done_text = _done_text(run.start_stroke, plan.strokes_total)
        outcome = PlotOutcome(
            error_code=error.code if error else ErrorCode.NONE,
            message=error.message if error else done_text,
            device_error=error.device_error if error else 0,
            strokes_done=run.strokes_done, next_stroke=run.strokes_done,
            duration=self._duration(run), pen_down_distance=run.pen_down_mm,
            pen_up_distance=run.pen_up_mm, pen_changes=run.pen_changes, pen_up=self.pen_up)
        if error is None:
            outcome.strokes_done = outcome.next_stroke = plan.strokes_total
            run.strokes_done = plan.strokes_total
        if self.pen_up is None:
            outcome.message += ' (pen state unknown: check the pen is up)'
        run.report(len(phases) if error is None else run.phase_index,
                   position=reported_position(self.position),
                   pen_down=self.pen_up is False)
        return outcome

    def _prepare(self):
        """Bring the device state (position) up to date before a run is planned."""

    def _duration(self, run):
        return time.monotonic() - run.started

    def _run(self, run):
        raise NotImplementedError

    def _stop(self, run, error):
        """Bring the device to rest with the pen up after ``error`` (cancel included)."""
        self.lift_pen()
