"""The simulated plotter: kinematic playback, feedback, cancel with the pen up, resume."""
import threading

import numpy as np
import pytest
from PIL import Image

from dream_plotter.drawn_check import match_episodes
from dream_plotter.outcome import ErrorCode
from dream_plotter.sim_driver import SimDriver
from dream_plotter.timeline import plan_estimate


def episodes(driver):
    return [pts for _, _, pts in driver.sheet.lines]


def test_draws_every_path_once_and_takes_the_estimated_time(small_plan):
    driver = SimDriver(time_scale=0)
    snaps = []
    outcome = driver.execute(small_plan, 0, snaps.append)
    assert outcome.ok and outcome.strokes_done == outcome.next_stroke == 20
    report = match_episodes(small_plan.paths, episodes(driver), pos_tol=1e-6,
                            len_rel_tol=1e-9)
    assert report.counts == [1] * len(small_plan.paths) and not report.unmatched
    estimate = plan_estimate(small_plan)
    assert outcome.duration == pytest.approx(estimate.duration)
    assert outcome.pen_up_distance == pytest.approx(estimate.pen_up_distance)
    done = [s.strokes_done for s in snaps]
    assert done == sorted(done) and done[-1] == 20
    assert not snaps[-1].pen_down and driver.pen_up and driver.position == (0.0, 0.0)


def test_cancel_stops_with_the_pen_up_and_resume_draws_the_rest(small_plan):
    driver = SimDriver(time_scale=400, tick_s=0.005)
    cancel = threading.Event()
    snaps = []

    def progress(p):
        snaps.append(p)
        if p.strokes_done >= 6:
            cancel.set()

    first = driver.execute(small_plan, 0, progress, cancel)
    assert first.error_code == ErrorCode.CANCELLED
    assert 6 <= first.next_stroke < 20 and first.strokes_done == first.next_stroke
    assert driver.pen_up and not snaps[-1].pen_down
    assert driver.position == (0.0, 0.0)          # parked
    drawn_first = len(driver.sheet.lines)
    second = driver.execute(small_plan, first.next_stroke, None, None)
    assert second.ok and second.strokes_done == 20
    steps = [s for s in small_plan.steps_from(first.next_stroke) if hasattr(s, 'points')]
    report = match_episodes(steps, episodes(driver)[drawn_first:], pos_tol=1e-6)
    assert report.counts == [1] * len(steps) and not report.unmatched
    finished = [p for p in small_plan.paths if p.done_after <= first.next_stroke]
    early = match_episodes(finished, episodes(driver)[:drawn_first], pos_tol=1e-6)
    assert early.counts == [1] * len(finished)


def test_feedback_moves_the_pen_between_strokes_at_a_scaled_rate(tiny_plan):
    driver = SimDriver(time_scale=2000, tick_s=0.002)
    snaps = []
    outcome = driver.execute(tiny_plan, 0, snaps.append)
    assert outcome.ok
    assert any(s.pen_down for s in snaps) and any(not s.pen_down for s in snaps)
    progress = [s.progress for s in snaps]
    assert progress[-1] == pytest.approx(1.0)
    assert all(b >= a - 1e-9 for a, b in zip(progress, progress[1:]))
    left = [s.time_left for s in snaps]
    assert left[0] > left[-1] == 0.0
    x0, y0, x1, y1 = tiny_plan.layout.work
    inside = [s for s in snaps if s.pen_down]
    assert all(x0 - 1e-6 <= s.x <= x1 + 1e-6 and y0 - 1e-6 <= s.y <= y1 + 1e-6
               for s in inside)


def test_writes_what_the_pen_drew_as_png_and_svg(tmp_path, tiny_plan):
    driver = SimDriver()
    driver.execute(tiny_plan)
    png = driver.sheet.write_png(tmp_path / 'out.png', px_per_mm=2)
    svg = driver.sheet.write_svg(tmp_path / 'out.svg')
    image = np.asarray(Image.open(png).convert('L'))
    assert image.shape == (round(297 * 2), round(210 * 2))
    assert (image < 128).sum() > 100
    text = svg.read_text()
    assert text.count('<polyline') + text.count('<path') >= len(tiny_plan.paths)
    from svgelements import SVG
    parsed = SVG.parse(str(svg))
    assert parsed.width == pytest.approx(210 / 25.4 * 96, rel=1e-3)   # px at 96 dpi
    assert parsed.height == pytest.approx(297 / 25.4 * 96, rel=1e-3)


def test_negative_time_scale_is_refused():
    with pytest.raises(ValueError):
        SimDriver(time_scale=-1)
