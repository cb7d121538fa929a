"""GRBL driver against the GRBL 1.1 simulator on a pseudo-terminal (and a socket)."""
import threading
import time

import pytest

from dream_plotter import grbl_protocol as gp
from dream_plotter.drawn_check import match_episodes
from dream_plotter.grbl_driver import GrblDriver, GrblSettings
from dream_plotter.grbl_simulator import GrblSimulator
from dream_plotter.outcome import ErrorCode, PlotError


@pytest.fixture
def rig():
    """make(**simulator faults) -> (simulator, connected driver); all closed afterwards."""
    made = []

    def make(transport='pty', settings=None, connect=True, **faults):
        sim = GrblSimulator(transport, pen_mode=(settings or {}).get('pen_mode', 'servo'),
                            **faults).start()
        options = dict(banner_timeout=0.5, reply_timeout=5.0, reconnect_timeout=2.0)
        options.update(settings or {})
        driver = GrblDriver(GrblSettings(port=sim.url, allowed_ports=None, **options))
        made.append((sim, driver))
        if connect:
            driver.connect()
        return sim, driver

    yield make
    for sim, driver in made:
        driver.close()
        sim.stop()


def drawn(sim, driver):
    return [[driver.to_paper(x, y) for x, y in ep] for ep in sim.episodes]


def steps_of(plan, start):
    return [s for s in plan.steps_from(start) if hasattr(s, 'points')]


def check_resume(plan, sim, driver, first, episodes_before):
    """Strokes before next_stroke drawn exactly once; the rest drawn once by the resume."""
    finished = [p for p in plan.paths if p.done_after <= first.next_stroke]
    early = match_episodes(finished, drawn(sim, driver)[:episodes_before], pos_tol=0.002)
    assert early.counts == [1] * len(finished)
    second = driver.execute(plan, first.next_stroke)
    assert second.ok and second.strokes_done == plan.strokes_total
    rest = steps_of(plan, first.next_stroke)
    late = match_episodes(rest, drawn(sim, driver)[episodes_before:], pos_tol=0.002)
    assert late.counts == [1] * len(rest) and not late.unmatched
    assert not sim.pen_down


@pytest.mark.parametrize('pen_mode', ['servo', 'z'])
def test_streams_the_whole_plan_within_the_receive_buffer(rig, small_plan, pen_mode):
    sim, driver = rig(settings={'pen_mode': pen_mode})
    snaps = []
    started = time.monotonic()
    outcome = driver.execute(small_plan, 0, snaps.append)
    elapsed = time.monotonic() - started
    assert outcome.ok and outcome.strokes_done == 20
    report = match_episodes(small_plan.paths, drawn(sim, driver), pos_tol=0.002)
    assert report.counts == [1] * len(small_plan.paths) and not report.unmatched
    assert sim.overflows == 0 and sim.max_rx <= 127
    assert not sim.pen_down and driver.pen_up
    assert sim.status_queries <= 3 + elapsed / 0.2         # '?' at most 5 Hz
    done = [s.strokes_done for s in snaps]
    assert done == sorted(done) and done[-1] == 20
    assert sim.lines.count('G4P0.01') == len(small_plan.paths)


def test_error_reply_stops_the_stream_lifts_the_pen_and_resume_finishes(rig, small_plan):
    sim, driver = rig(error_on_line={60: 33})
    first = driver.execute(small_plan)
    assert first.error_code == ErrorCode.DEVICE and first.device_error == 33
    assert 'error:33' in first.message
    assert not sim.pen_down and driver.pen_up and sim.alarms == []
    before = len(sim.episodes)
    assert 0 < first.next_stroke < 20
    check_resume(small_plan, sim, driver, first, before)


def test_a_finished_goal_ends_idle_at_the_park_position(rig, one_long_line):
    sim, driver = rig(time_factor=0.1)    # the park move takes ~0.2 s after its 'ok'
    snaps = []
    outcome = driver.execute(one_long_line, 0, snaps.append)
    assert outcome.ok, outcome.message
    with sim.lock:
        assert sim.state == 'Idle' and sim.pos[:2] == [0.0, 0.0]
    last = snaps[-1]
    assert (last.x, last.y) == (0.0, 0.0) and not last.pen_down and last.time_left == 0
    assert driver.position == (0.0, 0.0)


@pytest.mark.parametrize('code', [1, 3])
def test_an_alarm_that_loses_the_position_makes_the_next_goal_home_first(rig, small_plan,
                                                                         code):
    sim, driver = rig(alarm_after_line=80, alarm_code=code)
    first = driver.execute(small_plan)
    assert first.error_code == ErrorCode.DEVICE_ALARM and first.device_error == code
    assert gp.ALARMS[code] in first.message and 'position is lost' in first.message
    assert not sim.pen_down and driver.position is None
    homed, sent = sim.homings, len(sim.lines)
    check_resume(small_plan, sim, driver, first, len(sim.episodes))
    later = sim.lines[sent:]
    assert sim.homings == homed + 1
    assert later.index('$H') < min(i for i, line in enumerate(later) if line.startswith('G1'))


def test_a_soft_limit_keeps_the_position_and_the_next_goal_does_not_home(rig, small_plan):
    sim, driver = rig(alarm_after_line=80, alarm_code=2)
    first = driver.execute(small_plan)
    assert first.error_code == ErrorCode.DEVICE_ALARM and first.device_error == 2
    assert 'outside the machine travel' in first.message
    assert not sim.pen_down and sim.alarm == 0            # unlocked with $X afterwards
    homed = sim.homings
    check_resume(small_plan, sim, driver, first, len(sim.episodes))
    assert sim.homings == homed


def test_without_homing_goals_after_a_hard_limit_are_refused_until_reconnected(rig, tiny_plan):
    sim, driver = rig(alarm_after_line=40, homing=False)
    first = driver.execute(tiny_plan)
    assert first.error_code == ErrorCode.DEVICE_ALARM and first.device_error == 1
    sent, episodes = len(sim.lines), len(sim.episodes)
    for _ in range(2):                                    # not forgotten after a refusal
        again = driver.execute(tiny_plan, first.next_stroke)
        assert again.error_code == ErrorCode.DEVICE_ALARM and again.device_error == 1
        assert 'ALARM:1' in again.message and '$22=0' in again.message
        assert again.next_stroke == first.next_stroke
    assert set(sim.lines[sent:]) == {'$$'} and len(sim.episodes) == episodes
    driver.close()                    # the operator moves the pen to the origin, reconnects
    driver.connect()
    assert driver.execute(tiny_plan, first.next_stroke).ok


def test_cancel_on_a_slow_device_holds_resets_lifts_and_parks(rig, small_plan):
    sim, driver = rig(time_factor=0.02)
    cancel = threading.Event()

    def progress(p):
        if p.strokes_done >= 3:
            cancel.set()

    first = driver.execute(small_plan, 0, progress, cancel)
    assert first.error_code == ErrorCode.CANCELLED
    assert 3 <= first.next_stroke < 20
    assert sim.alarms == [] and sim.resets >= 2           # reset after the hold: no ALARM:3
    assert not sim.pen_down and sim.pos[:2] == [0.0, 0.0]
    assert sim.overflows == 0 and sim.max_rx > 100          # the buffer was kept full
    check_resume(small_plan, sim, driver, first, len(sim.episodes))


def test_lost_port_reconnects_to_lift_the_pen_and_resume_finishes(rig, small_plan):
    sim, driver = rig(vanish_after_line=70, reappear_after=0.3)
    first = driver.execute(small_plan)
    assert first.error_code == ErrorCode.CONNECTION_LOST
    assert 'reconnected and lifted the pen' in first.message
    assert first.pen_up and not sim.pen_down
    assert first.next_stroke < 20
    check_resume(small_plan, sim, driver, first, len(sim.episodes))


def test_without_homing_a_resume_after_a_board_reset_is_refused(rig, tiny_plan):
    sim, driver = rig(vanish_after_line=40, reappear_after=0.3, homing=False)
    first = driver.execute(tiny_plan)
    assert first.error_code == ErrorCode.CONNECTION_LOST and first.pen_up
    again = driver.execute(tiny_plan, first.next_stroke)
    assert again.error_code == ErrorCode.DEVICE_ALARM and 'board reset' in again.message
    assert not any(line.startswith('G1') for line in sim.lines[sim.lines.index('$$'):])


@pytest.mark.parametrize('homing', [True, False])
def test_a_board_that_resets_itself_mid_plot_is_homed_or_refused_next(rig, small_plan, homing):
    sim, driver = rig(homing=homing)

    def glitch(progress):                 # power or USB glitch: GRBL restarts
        if progress.strokes_done >= 3 and sim.resets == 1:
            with sim.lock:
                sim.on_open()

    first = driver.execute(small_plan, 0, glitch)
    assert first.error_code == ErrorCode.DEVICE and 'position is lost' in first.message
    assert not sim.pen_down and driver.position is None
    assert not any(line.startswith('G1X0Y0') for line in sim.lines)   # no park: frame lost
    if homing:
        homed = sim.homings
        check_resume(small_plan, sim, driver, first, len(sim.episodes))
        assert sim.homings == homed + 1
    else:
        again = driver.execute(small_plan, first.next_stroke)
        assert again.error_code == ErrorCode.DEVICE_ALARM and 'reset itself' in again.message


def test_lost_port_that_does_not_come_back_reports_an_unknown_pen(rig, tiny_plan):
    sim, driver = rig(vanish_after_line=20)
    outcome = driver.execute(tiny_plan)
    assert outcome.error_code == ErrorCode.CONNECTION_LOST
    assert outcome.pen_up is None and 'could not reconnect' in outcome.message


def test_replies_split_across_reads_and_a_socket_transport(rig, tiny_plan):
    sim, driver = rig('socket', split_replies=True)
    outcome = driver.execute(tiny_plan)
    assert outcome.ok
    report = match_episodes(tiny_plan.paths, drawn(sim, driver), pos_tol=0.002)
    assert report.counts == [1] * len(tiny_plan.paths)


@pytest.mark.parametrize('fault,code', [({'garbage': True}, ErrorCode.DEVICE),
                                        ({'silent': True}, ErrorCode.TIMEOUT),
                                        ({'baud': 57600}, ErrorCode.DEVICE)])
def test_a_device_that_is_not_grbl_is_refused_at_connect(rig, fault, code):
    sim, driver = rig(connect=False, **fault)
    with pytest.raises(PlotError) as err:
        driver.connect()
    assert err.value.code == code
    assert driver.port is None


def test_ports_outside_the_allow_list_and_missing_ports(tmp_path):
    driver = GrblDriver(GrblSettings(port='/dev/ttyS0', allowed_ports=('/dev/ttyUSB*',)))
    with pytest.raises(PlotError) as err:
        driver.connect()
    assert err.value.code == ErrorCode.NOT_ACTIVE and 'allowed_ports' in err.value.message
    sneaky = GrblDriver(GrblSettings(port='/dev/ttyUSB0/../ttyS0',
                                     allowed_ports=('/dev/ttyUSB*',)))
    with pytest.raises(PlotError):
        sneaky.connect()
    missing = GrblDriver(GrblSettings(port=str(tmp_path / 'nothing'), allowed_ports=None))
    with pytest.raises(PlotError) as err:
        missing.connect()
    assert err.value.code == ErrorCode.CONNECTION_LOST


def test_a_plotter_in_alarm_at_start_without_homing_is_refused_left_locked(rig, tiny_plan):
    sim, driver = rig(homing=False)
    with sim.lock:
        sim.alarm = 9
    outcome = driver.execute(tiny_plan)
    assert outcome.error_code == ErrorCode.DEVICE_ALARM and '$22=0' in outcome.message
    assert sim.episodes == [] and outcome.strokes_done == 0
    assert sim.alarm == 9 and '$X' not in sim.lines       # not unlocked behind the user


def test_a_plotter_that_powers_up_locked_for_homing_is_homed_before_drawing(rig, tiny_plan):
    sim, driver = rig()                                   # $22=1: GRBL starts in Alarm
    assert driver.state == 'Alarm'
    outcome = driver.execute(tiny_plan)
    assert outcome.ok, outcome.message
    assert sim.homings == 1 and sim.lines[:2] == ['$$', '$H']


def test_status_polling_faster_than_5_hz_is_refused():
    with pytest.raises(ValueError):
        GrblSettings(status_interval=0.1).check()


@pytest.fixture(scope='module')
def one_long_line():
    """One straight 266 mm stroke on A4: a single G1 that takes ~6.7 s at 40 mm/s."""
    import numpy as np

    from dream_plotter.drawing_model import DrawingData, StrokeData
    from dream_plotter.planner import plan_drawing
    line = StrokeData(points=np.array([[1.0, 1], [75, 75], [150, 150], [223, 223]]))
    return plan_drawing(DrawingData(strokes=[line], canvas_width=224, canvas_height=224))


def test_a_slow_device_that_reports_motion_is_not_declared_dead(rig, one_long_line):
    # the draw move takes ~2 s, so its G4 P0.01 is answered long after the 1 s reply timeout
    sim, driver = rig(time_factor=0.3, settings={'reply_timeout': 1.0})
    snaps = []
    outcome = driver.execute(one_long_line, 0, snaps.append)
    assert outcome.ok, outcome.message
    assert len(sim.episodes) == 1 and not sim.pen_down
    drawing = [s for s in snaps if s.pen_down]
    assert len(drawing) >= 5                    # status reports during the long move...
    assert len({round(s.time_left, 1) for s in drawing}) >= 3  # ...count the time down
    assert len({(round(s.x, 1), round(s.y, 1)) for s in drawing}) >= 3


def test_a_device_that_reports_run_but_never_moves_still_times_out(rig, one_long_line):
    sim, driver = rig(time_factor=0.3, settings={'reply_timeout': 1.0})
    answer = sim.on_data

    def stall_while_drawing(progress):        # motion freezes; status still says Run
        if progress.pen_down:
            sim.tick = lambda now: None

    def on_data(data):                        # the feed hold of the stop unfreezes it
        if b'!' in data:
            sim.__dict__.pop('tick', None)
        answer(data)

    sim.on_data = on_data
    started = time.monotonic()
    outcome = driver.execute(one_long_line, 0, stall_while_drawing)
    assert outcome.error_code == ErrorCode.TIMEOUT, outcome.message
    assert 1.0 < time.monotonic() - started < 10 and not sim.pen_down


def test_a_pen_change_pause_longer_than_the_reply_timeout_is_waited_out(rig):
    import numpy as np

    from dream_plotter.drawing_model import DrawingData, StrokeData
    from dream_plotter.motion_profile import MotionLimits
    from dream_plotter.planner import PlanSettings, plan_drawing
    strokes = [StrokeData(points=np.array([[1.0, 1], [3, 3], [5, 5], [7, 7]]) + 10 * pen,
                          pen=pen) for pen in (0, 1)]
    drawing = DrawingData(strokes=strokes, canvas_width=224, canvas_height=224,
                          palette=[(0, 0, 0, 1), (1, 0, 0, 1)])
    plan = plan_drawing(drawing, settings=PlanSettings(limits=MotionLimits(
        pen_change_time=1.5)))
    sim, driver = rig(time_factor=1.0, settings={'reply_timeout': 1.0})
    outcome = driver.execute(plan)       # GRBL is silent (Idle) while it dwells G4 P1.5
    assert outcome.ok and outcome.pen_changes == 1, outcome.message
    assert 'G4P1.5' in sim.lines and len(sim.episodes) == 2
