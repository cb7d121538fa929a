"""AxiDraw (EiBotBoard) driver against the EBB simulator."""
import threading

import numpy as np
import pytest

from dream_plotter.axidraw_driver import AxiDrawDriver, AxiDrawSettings
from dream_plotter.drawn_check import match_episodes
from dream_plotter.ebb_simulator import EbbSimulator
from dream_plotter.motion_profile import MotionLimits, Profile
from dream_plotter.outcome import ErrorCode, PlotError

POS_TOL = 0.03     # mm: 1/80 mm steps on two diagonal motors


@pytest.fixture
def rig():
    made = []

    def make(transport='pty', connect=True, reply_timeout=2.0, reconnect_timeout=2.0,
             **faults):
        sim = EbbSimulator(transport, **faults).start()
        driver = AxiDrawDriver(AxiDrawSettings(port=sim.url, allowed_ports=None,
                                               reply_timeout=reply_timeout,
                                               reconnect_timeout=reconnect_timeout))
        made.append((sim, driver))
        if connect:
            driver.connect()
        return sim, driver

    yield make
    for sim, driver in made:
        driver.close()
        sim.stop()


def drawn(sim, driver):
    return [[driver.to_paper(a, b) for a, b in ep] for ep in sim.episodes]


def test_draws_every_path_once_with_valid_moves(rig, small_plan):
    sim, driver = rig()
    outcome = driver.execute(small_plan)
    assert outcome.ok and outcome.strokes_done == 20
    report = match_episodes(small_plan.paths, drawn(sim, driver), pos_tol=POS_TOL)
    assert report.counts == [1] * len(small_plan.paths) and not report.unmatched
    assert sim.rate_errors == 0 and sim.pen_is_up
    assert sim.commands[:4] == ['V', 'SC,4,16000', 'SC,5,12000', 'EM,1,1']
    assert tuple(sim.steps) == (0, 0)                      # parked at home


def test_moves_follow_the_speed_profile_without_drift():
    driver = AxiDrawDriver(AxiDrawSettings(allowed_ports=None))
    lim = MotionLimits()
    prof = Profile([[0, 0], [30, 5], [31, 40], [0.3, 0.7]], lim.draw_speed, lim.acceleration,
                   lim.junction_deviation)
    moves = driver.moves_for(prof)
    total = np.sum([[m[1], m[2]] for m in moves], axis=0)
    assert tuple(total) == tuple(driver.to_steps([[0.3, 0.7]])[0])
    assert sum(m[0] for m in moves) == pytest.approx(prof.duration * 1000, abs=2)
    assert all(1 <= ms and max(abs(a), abs(b)) * 1000 / ms <= 25000 for ms, a, b in moves)


def test_a_slow_board_never_has_more_than_two_motion_commands_queued(rig, tiny_plan):
    sim, driver = rig(time_factor=0.05)
    outcome = driver.execute(tiny_plan)
    assert outcome.ok
    assert 1 <= sim.max_queued <= 2
    report = match_episodes(tiny_plan.paths, drawn(sim, driver), pos_tol=POS_TOL)
    assert report.counts == [1] * len(tiny_plan.paths)


def test_an_error_line_before_ok_is_a_device_error_and_resume_finishes(rig, small_plan):
    sim, driver = rig(error_on_command={150: '0 Err: step rate > 25K steps/second'})
    first = driver.execute(small_plan)
    assert first.error_code == ErrorCode.DEVICE and 'step rate' in first.message
    assert sim.pen_is_up and first.next_stroke < 20
    before = len(sim.episodes)
    second = driver.execute(small_plan, first.next_stroke)
    assert second.ok and second.strokes_done == 20
    rest = [s for s in small_plan.steps_from(first.next_stroke) if hasattr(s, 'points')]
    late = match_episodes(rest, drawn(sim, driver)[before:], pos_tol=POS_TOL)
    assert late.counts == [1] * len(rest)


def test_cancel_stops_at_once_lifts_the_pen_and_parks(rig, small_plan):
    sim, driver = rig(time_factor=0.02)
    cancel = threading.Event()

    def progress(p):
        if p.strokes_done >= 2:
            cancel.set()

    outcome = driver.execute(small_plan, 0, progress, cancel)
    assert outcome.error_code == ErrorCode.CANCELLED and 2 <= outcome.next_stroke < 20
    assert sim.pen_is_up and tuple(sim.steps) == (0, 0)
    after_stop = sim.commands[sim.commands.index('ES') + 1]
    assert after_stop.startswith('SP,1')                    # pen up is the next command


def test_lost_port_reconnects_and_lifts_the_pen(rig, small_plan):
    # Generous timeouts: a loaded machine may take seconds to run the simulator's thread, and
    # a reply timeout before the port vanishes would be reported as TIMEOUT instead.
    sim, driver = rig(vanish_after_command=120, reappear_after=0.3, reply_timeout=10.0,
                      reconnect_timeout=10.0)
    outcome = driver.execute(small_plan)
    assert outcome.error_code == ErrorCode.CONNECTION_LOST
    assert 'reconnected and lifted the pen' in outcome.message and sim.pen_is_up


@pytest.mark.parametrize('fault,code', [({'garbage': True}, ErrorCode.DEVICE),
                                        ({'silent': True}, ErrorCode.TIMEOUT)])
def test_a_board_that_is_not_an_ebb_is_refused(rig, fault, code):
    sim, driver = rig(connect=False, **fault)
    with pytest.raises(PlotError) as err:
        driver.connect()
    assert err.value.code == code and driver.port is None


def test_auto_port_finds_the_board_by_usb_id_and_checks_the_allow_list(monkeypatch):
    from serial.tools import list_ports

    class Info:
        def __init__(self, device, vid, pid):
            self.device, self.vid, self.pid = device, vid, pid

    ports = [Info('/dev/ttyACM3', 0x2341, 0x0043), Info('/dev/ttyACM7', 0x04D8, 0xFD92)]
    monkeypatch.setattr(list_ports, 'comports', lambda: ports)
    driver = AxiDrawDriver(AxiDrawSettings(port='auto'))
    assert driver.resolve_port() == '/dev/ttyACM7'
    strict = AxiDrawDriver(AxiDrawSettings(port='auto', allowed_ports=('/dev/ttyUSB*',)))
    with pytest.raises(PlotError) as err:
        strict.resolve_port()
    assert err.value.code == ErrorCode.NOT_ACTIVE
    monkeypatch.setattr(list_ports, 'comports', lambda: ports[:1])
    with pytest.raises(PlotError) as err:
        driver.resolve_port()
    assert err.value.code == ErrorCode.CONNECTION_LOST and '04D8:FD92' in err.value.message


def test_a_pen_change_asks_then_pauses_for_pen_change_time_and_a_cancel_ends_it(rig):
    """As GRBL dwells after its pen-change hook, so does the AxiDraw (dream plot
    --pen-change-wait announces through the hook and relies on the pause)."""
    import time
    from dataclasses import replace

    from dream_plotter.planner import PlanSettings, plan_drawing
    from dream_plotter.random_drawings import random_drawing
    drawing = random_drawing(6, seed=3)
    drawing = replace(drawing, palette=[(0, 0, 0, 1), (1, 0, 0, 1)],
                      strokes=[replace(s, pen=i % 2) for i, s in enumerate(drawing.strokes)])
    plan = plan_drawing(drawing, settings=PlanSettings(limits=MotionLimits(pen_change_time=0.5)))
    sim, driver = rig()
    asked, reports = [], []
    driver.pen_change_hook = lambda pen, color: asked.append(time.monotonic())
    outcome = driver.execute(plan, progress_cb=lambda p: reports.append(time.monotonic()))
    assert outcome.ok and outcome.pen_changes >= 1 and len(asked) == outcome.pen_changes
    for t in asked:    # the pen-change phase ends pen_change_time after the operator is asked
        assert min(r for r in reports if r > t) - t >= 0.45
    cancel = threading.Event()
    driver.pen_change_hook = lambda pen, color: cancel.set()   # cancelled while it waits
    start = time.monotonic()
    outcome = driver.execute(plan, cancel_event=cancel)
    assert outcome.error_code == ErrorCode.CANCELLED and sim.pen_is_up
    assert time.monotonic() - start < 5
