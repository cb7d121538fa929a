"""The simulated plotter: plays the plan back against the kinematic model.

It moves a virtual pen with the same speeds, accelerations and pen delays as the estimate,
slowed to wall-clock time by ``time_scale`` (1 = real time, 10 = ten times faster, 0 = no
waiting at all), reports progress every ``tick_s`` of wall time, and keeps what the pen
actually drew on a Sheet (written as PNG and SVG). Cancel stops the pen where it is, lifts
it and parks, like the hardware drivers.
"""
import time

import numpy as np

from dream_plotter.driver import Driver, mark_distances
from dream_plotter.drawn_output import Sheet
from dream_plotter.motion_profile import travel_profile
from dream_plotter.outcome import ErrorCode, PlotError
from dream_plotter.timeline import HOME, Phase


class SimDriver(Driver):
    name = 'sim'

    def __init__(self, time_scale=0.0, tick_s=0.02, pen_color=(0.0, 0.0, 0.0, 1.0)):
        super().__init__()
        if not np.isfinite(time_scale) or time_scale < 0:
            raise ValueError(f'time_scale must be >= 0, got {time_scale}')
        self.time_scale = float(time_scale)
        self.tick_s = float(tick_s)
        self.pen_color = tuple(pen_color)
        self.sheet = Sheet()
        self.sim_time = 0.0
        self._run_start_time = 0.0

    def new_sheet(self, width=210.0, height=297.0, pen_width=0.5):
        self.sheet = Sheet(width=width, height=height, pen_width=pen_width)

    def _color(self, plan, pen):
        return plan.pen_color(pen) if plan.palette else self.pen_color

    def _duration(self, run):
        return self.sim_time - self._run_start_time

    def _run(self, run):
        self._run_start_time = self.sim_time
        layout = run.plan.layout
        if not self.sheet.lines:
            self.new_sheet(layout.width, layout.height, layout.pen_width)
        for index, phase in enumerate(run.phases):
            run.check_cancel()
            self._play(run, index, phase)
            run.finish_phase(phase)
            run.report(index + 1, position=self.position, pen_down=not self.pen_up)

    def _wait(self, run, index, duration, at=None):
        """Let ``duration`` simulated seconds pass; ``at(t)`` reports the state at time t."""
        if self.time_scale <= 0 or duration <= 0:
            self.sim_time += duration
            return duration
        start = time.monotonic()
        while True:
            elapsed = (time.monotonic() - start) * self.time_scale
            if elapsed >= duration:
                break
            if run.cancel_event.is_set():
                self.sim_time += elapsed
                return elapsed
            if at is not None:
                at(elapsed)
            else:
                run.report(index, elapsed)
            wall_left = (duration - elapsed) / self.time_scale
            run.cancel_event.wait(min(self.tick_s, wall_left))
        self.sim_time += duration
        return duration

    def _play(self, run, index, phase: Phase):
        kind = phase.kind
        if kind in ('pen_down', 'pen_up'):
            done = self._wait(run, index, phase.duration)
            if kind == 'pen_up' or done >= phase.duration:
                self.pen_up = kind == 'pen_up'
            return
        if kind == 'pen_change':
            if self.pen_change_hook is not None:
                self.pen_change_hook(phase.pen, self._color(run.plan, phase.pen))
            self._wait(run, index, phase.duration)
            return
        profile = phase.profile
        marks = mark_distances(phase.item) if kind == 'draw' else []

        def at(t):
            s = float(profile.distance_at(t))
            pos = profile.point_at_distance(s)
            if marks:
                run.strokes_done = max([run.strokes_done]
                                       + [c for d, c in marks if d <= s + 1e-9])
            run.report(index, t, position=pos, pen_down=kind == 'draw',
                       drawn_in_phase=s if kind == 'draw' else 0.0)

        elapsed = self._wait(run, index, phase.duration, at)
        if elapsed < phase.duration:        # cancelled mid-move: the pen stops here
            s = float(profile.distance_at(elapsed))
            self.position = tuple(profile.point_at_distance(s))
            if kind == 'draw':
                self._record(run, phase, s)
                run.pen_down_mm += s
                run.strokes_done = max([run.strokes_done]
                                       + [c for d, c in marks if d <= s + 1e-9])
            else:
                run.pen_up_mm += s
            raise PlotError(ErrorCode.CANCELLED, 'cancelled on request')
        self.position = tuple(phase.end)
        if kind == 'draw':
            self._record(run, phase, None)

    def _record(self, run, phase, upto):
        pts = phase.item.points
        if upto is not None:
            seg = np.hypot(*np.diff(pts, axis=0).T)
            cum = np.concatenate([[0.0], np.cumsum(seg)])
            keep = pts[cum < upto]
            end = phase.profile.point_at_distance(upto)
            pts = np.vstack([keep, end[None, :]])
        self.sheet.add(phase.pen, self._color(run.plan, phase.pen), pts)

    def _stop(self, run, error):
        """Lift the pen and park at home, taking the model's time for it."""
        lim = run.plan.settings.limits
        if not self.pen_up:
            self.sim_time += lim.pen_up_delay
            if self.time_scale > 0:
                time.sleep(lim.pen_up_delay / self.time_scale)
        self.pen_up = True
        prof = travel_profile(self.position, HOME, lim)
        self.sim_time += prof.duration
        run.pen_up_mm += prof.length
        if self.time_scale > 0:
            time.sleep(min(prof.duration / self.time_scale, 1.0))
        self.position = HOME

    def lift_pen(self):
        self.pen_up = True
