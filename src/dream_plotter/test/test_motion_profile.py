"""The kinematic model: trapezoids, cornering, batched durations, playback positions."""
import numpy as np
import pytest

from dream_plotter.motion_profile import MotionLimits, Profile, path_durations, travel_time


def test_long_straight_move_is_a_trapezoid_and_a_short_one_a_triangle():
    v, a = 100.0, 1000.0
    long_ = Profile([[0, 0], [100, 0]], v, a, 0.02)
    assert long_.duration == pytest.approx(100 / v + v / a)
    short = Profile([[0, 0], [4, 0]], v, a, 0.02)
    assert short.duration == pytest.approx(2 * np.sqrt(4 / a))
    assert travel_time([100.0, 4.0], v, a) == pytest.approx([long_.duration, short.duration])


def test_sharp_corners_cost_time_and_collinear_vertices_do_not():
    v, a = 100.0, 1000.0
    straight = Profile([[0, 0], [50, 0], [100, 0]], v, a, 0.02).duration
    assert straight == pytest.approx(Profile([[0, 0], [100, 0]], v, a, 0.02).duration)
    corner = Profile([[0, 0], [50, 0], [50, 50]], v, a, 0.02).duration
    reverse = Profile([[0, 0], [50, 0], [0, 0]], v, a, 0.02).duration
    assert straight < corner < reverse
    assert reverse == pytest.approx(2 * Profile([[0, 0], [50, 0]], v, a, 0.02).duration)


def test_batched_durations_equal_the_per_path_model():
    rng = np.random.default_rng(1)
    paths = [np.cumsum(rng.uniform(-5, 5, size=(n, 2)), axis=0) for n in (2, 5, 30, 3)]
    paths.append(np.array([[1.0, 1.0], [1.0, 1.0], [3.0, 1.0]]))   # repeated vertex
    batched = path_durations(paths, 40.0, 800.0, 0.05)
    single = [Profile(p, 40.0, 800.0, 0.05).duration for p in paths]
    assert batched == pytest.approx(single, rel=1e-9)


def test_playback_moves_forward_and_ends_on_the_last_vertex():
    prof = Profile([[0, 0], [10, 0], [10, 10], [0, 10]], 30.0, 500.0, 0.02)
    t = np.linspace(0, prof.duration, 200)
    s = prof.distance_at(t)
    assert np.all(np.diff(s) >= -1e-12)
    assert s[0] == 0 and s[-1] == pytest.approx(prof.length)
    assert np.allclose(prof.point_at(prof.duration), [0, 10])
    speeds = np.diff(s) / np.diff(t)
    assert speeds.max() <= 30.0 + 1e-6


def test_limits_are_validated():
    with pytest.raises(ValueError):
        MotionLimits(draw_speed=0).check()
    with pytest.raises(ValueError):
        MotionLimits(pen_up_delay=-1).check()
