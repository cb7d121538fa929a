"""Kinematic model of a plotter: speed limits, acceleration and cornering, per polyline.

A polyline is driven like GRBL's planner does it: the speed at each vertex is limited by the
junction deviation (how sharp the corner is), the path starts and ends at rest, and each
segment follows a trapezoidal profile (accelerate, cruise, decelerate) between its entry and
exit speeds. The vertex speed limits come from one forward and one backward pass, done with
cumulative sums instead of Python loops so that planning 1024 strokes stays fast.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class MotionLimits:
    draw_speed: float = 40.0          # mm/s, pen down
    travel_speed: float = 120.0       # mm/s, pen up
    acceleration: float = 1000.0      # mm/s^2
    junction_deviation: float = 0.02  # mm (GRBL $11)
    pen_down_delay: float = 0.15      # s, servo settle after lowering
    pen_up_delay: float = 0.15        # s, after lifting
    pen_change_time: float = 0.0      # s the operator is given to swap pens

    def check(self):
        for name in ('draw_speed', 'travel_speed', 'acceleration', 'junction_deviation'):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f'{name} must be > 0, got {value}')
        for name in ('pen_down_delay', 'pen_up_delay', 'pen_change_time'):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f'{name} must be >= 0, got {value}')
        return self


class Profile:
    """Timing of one polyline driven from rest to rest."""

    def __init__(self, points, v_max, accel, junction_deviation):
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(pts) > 1:
            step = np.hypot(*np.diff(pts, axis=0).T)
            pts = pts[np.concatenate([[True], step > 1e-12])]
        self.points = pts
        self.accel = float(accel)
        m = len(pts)
        if m < 2:
            self.seg_len = np.zeros(0)
            self.vertex_times = np.zeros(max(m, 1))
            self.cum_len = np.zeros(max(m, 1))
            self.duration = 0.0
            self.length = 0.0
            return
        d = np.diff(pts, axis=0)
        L = np.hypot(d[:, 0], d[:, 1])
        u = d / L[:, None]
        a = self.accel
        limit = np.full(m, v_max ** 2)
        limit[0] = limit[-1] = 0.0
        if m > 2:
            cos_theta = -np.einsum('ij,ij->i', u[:-1], u[1:])
            cos_theta = np.clip(cos_theta, -1.0, 1.0)
            sin_half = np.sqrt(0.5 * (1.0 - cos_theta))
            with np.errstate(divide='ignore', invalid='ignore'):
                vj2 = a * junction_deviation * sin_half / (1.0 - sin_half)
            vj2 = np.where(cos_theta < -0.999999, np.inf, vj2)
            vj2 = np.where(cos_theta > 0.999999, 0.0, vj2)
            limit[1:-1] = np.minimum(limit[1:-1], vj2)
        reach = 2 * a * np.concatenate([[0.0], np.cumsum(L)])
        forward = reach + np.minimum.accumulate(limit - reach)
        rest = reach[-1] - reach
        backward = rest + np.minimum.accumulate((limit - rest)[::-1])[::-1]
        w = np.maximum(np.minimum(forward, backward), 0.0)
        w0, w1 = w[:-1], w[1:]
        vp = np.minimum(v_max, np.sqrt((2 * a * L + w0 + w1) / 2))
        v0, v1 = np.sqrt(w0), np.sqrt(w1)
        vp = np.maximum(vp, np.maximum(v0, v1))
        t1 = (vp - v0) / a
        t3 = (vp - v1) / a
        d1 = (vp ** 2 - w0) / (2 * a)
        d3 = (vp ** 2 - w1) / (2 * a)
        d2 = np.maximum(L - d1 - d3, 0.0)
        t2 = d2 / vp
        self.seg_len, self.v0, self.vp, self.v1 = L, v0, vp, v1
        self.t1, self.t2, self.t3, self.d1, self.d2 = t1, t2, t3, d1, d2
        seg_time = t1 + t2 + t3
        self.vertex_times = np.concatenate([[0.0], np.cumsum(seg_time)])
        self.cum_len = np.concatenate([[0.0], np.cumsum(L)])
        self.duration = float(self.vertex_times[-1])
        self.length = float(self.cum_len[-1])

    def distance_at(self, times):
        """Distance travelled along the polyline at each of ``times`` (s, from the start)."""
        t = np.clip(np.asarray(times, dtype=np.float64), 0.0, self.duration)
        if len(self.seg_len) == 0:
            return np.zeros_like(t)
        i = np.clip(np.searchsorted(self.vertex_times, t, side='right') - 1, 0,
                    len(self.seg_len) - 1)
        tau = t - self.vertex_times[i]
        a = self.accel
        v0, vp, t1, t2, d1, d2 = self.v0[i], self.vp[i], self.t1[i], self.t2[i], \
            self.d1[i], self.d2[i]
        acc = v0 * tau + 0.5 * a * tau ** 2
        cruise = d1 + vp * (tau - t1)
        td = tau - t1 - t2
        dec = d1 + d2 + vp * td - 0.5 * a * td ** 2
        s = np.where(tau < t1, acc, np.where(tau < t1 + t2, cruise, dec))
        return self.cum_len[i] + np.clip(s, 0.0, self.seg_len[i])

    def point_at_distance(self, s):
        """Points (n, 2) at arc lengths ``s`` along the polyline."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length)
        if len(self.seg_len) == 0:
            return np.repeat(self.points[:1], np.size(s), axis=0).reshape(
                np.shape(s) + (2,))
        i = np.clip(np.searchsorted(self.cum_len, s, side='right') - 1, 0,
                    len(self.seg_len) - 1)
        f = (s - self.cum_len[i]) / self.seg_len[i]
        return self.points[i] + (self.points[i + 1] - self.points[i]) * f[..., None]

    def point_at(self, times):
        return self.point_at_distance(self.distance_at(times))


def travel_profile(start, end, limits):
    return Profile(np.array([start, end], dtype=np.float64), limits.travel_speed,
                   limits.acceleration, limits.junction_deviation)


def draw_profile(points, limits):
    return Profile(points, limits.draw_speed, limits.acceleration, limits.junction_deviation)


def travel_time(lengths, v_max, accel):
    """Rest-to-rest trapezoid (or triangle) times for straight moves, vectorised."""
    L = np.asarray(lengths, dtype=np.float64)
    full = L >= v_max ** 2 / accel
    return np.where(full, L / v_max + v_max / accel, 2 * np.sqrt(np.maximum(L, 0) / accel))


def path_durations(polylines, v_max, accel, junction_deviation):
    """Profile(...).duration for many polylines at once (same model, one numpy pass).

    The polylines are chained end to start; every path end is a rest vertex, which resets
    the cumulative forward/backward passes, and the joining segments' times are dropped.
    """
    if not polylines:
        return np.zeros(0)
    pts = np.vstack(polylines)
    counts = np.array([len(p) for p in polylines])
    last = np.cumsum(counts) - 1
    first = last - counts + 1
    d = np.diff(pts, axis=0)
    L = np.hypot(d[:, 0], d[:, 1])
    m = len(pts)
    limit = np.full(m, v_max ** 2)
    limit[first] = 0.0
    limit[last] = 0.0
    safe = np.where(L > 0, L, 1.0)
    u = d / safe[:, None]
    if m > 2:
        cos_theta = np.clip(-np.einsum('ij,ij->i', u[:-1], u[1:]), -1.0, 1.0)
        sin_half = np.sqrt(0.5 * (1.0 - cos_theta))
        with np.errstate(divide='ignore', invalid='ignore'):
            vj2 = accel * junction_deviation * sin_half / (1.0 - sin_half)
        vj2 = np.where(cos_theta < -0.999999, np.inf, vj2)
        vj2 = np.where(cos_theta > 0.999999, 0.0, vj2)
        zero_len = (L[:-1] == 0) | (L[1:] == 0)
        vj2 = np.where(zero_len, 0.0, vj2)
        limit[1:-1] = np.minimum(limit[1:-1], vj2)
    reach = 2 * accel * np.concatenate([[0.0], np.cumsum(L)])
    forward = reach + np.minimum.accumulate(limit - reach)
    rest = reach[-1] - reach
    backward = rest + np.minimum.accumulate((limit - rest)[::-1])[::-1]
    w = np.maximum(np.minimum(forward, backward), 0.0)
    w0, w1 = w[:-1], w[1:]
    vp = np.minimum(v_max, np.sqrt((2 * accel * L + w0 + w1) / 2))
    v0, v1 = np.sqrt(w0), np.sqrt(w1)
    vp = np.maximum(vp, np.maximum(v0, v1))
    d1 = (vp ** 2 - w0) / (2 * accel)
    d3 = (vp ** 2 - w1) / (2 * accel)
    with np.errstate(divide='ignore', invalid='ignore'):
        t2 = np.where(vp > 0, np.maximum(L - d1 - d3, 0.0) / vp, 0.0)
    seg_time = (vp - v0) / accel + t2 + (vp - v1) / accel
    seg_time[L == 0] = 0.0
    joins = last[:-1]           # segment from a path's last vertex to the next path's first
    seg_time[joins] = 0.0
    cum = np.concatenate([[0.0], np.cumsum(seg_time)])
    return cum[last] - cum[first]
