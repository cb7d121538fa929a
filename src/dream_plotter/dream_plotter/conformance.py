"""Driver conformance kit: checks any running DrawStrokes server against DRIVER_CONTRACT.md.

Use it from the command line (``dream plot --conformance ACTION_NAME``) or from Python/pytest
(``run_conformance(action_name)`` returns the list of checks). It sends real goals, so point
it at a simulator or a plotter with paper in it. Cancel and busy checks need a drawing that
takes more than a few seconds on the driver under test (``long_strokes``).

Ctrl-C (KeyboardInterrupt in the thread that runs the kit) ends the kit at once: the goals
still running are cancelled, so a plotter lifts its pen, and the interrupt is re-raised.
"""
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional

import numpy as np

from dream_plotter.drawing_model import DrawingData, StrokeData

CHECKS = ('server_available', 'completes_valid_goal', 'mirrors_feedback_and_result',
          'rejects_empty_drawing', 'rejects_nan_drawing', 'rejects_start_past_the_end',
          'rejects_out_of_bounds', 'dry_run_moves_nothing', 'steady_feedback',
          'cancel_ends_pen_up', 'busy_policy', 'resume_from_start_stroke')

# The contract asks for feedback at a steady rate, whatever the device does; the kit fails a
# silence longer than this (ours publish at 10 Hz; a loaded machine may delay a few).
MAX_FEEDBACK_GAP = 2.0


@dataclass
class Check:
    name: str
    passed: Optional[bool]       # None: could not be run
    detail: str = ''

    def line(self):
        mark = {True: 'PASS', False: 'FAIL', None: 'SKIP'}[self.passed]
        return f'{mark}  {self.name}: {self.detail}'


def grid_drawing(n, canvas=200.0, seed=0):
    """``n`` short S-shaped strokes on a grid covering the canvas (deterministic)."""
    rng = np.random.default_rng(seed)
    side = max(1, math.ceil(math.sqrt(n)))
    cell = canvas / side
    strokes = []
    for i in range(n):
        cx, cy = (i % side + 0.5) * cell, (i // side + 0.5) * cell
        r = 0.35 * cell
        jitter = rng.uniform(-0.05, 0.05, size=(4, 2)) * cell
        pts = np.array([[cx - r, cy], [cx - r / 3, cy - r], [cx + r / 3, cy + r],
                        [cx + r, cy]]) + jitter
        strokes.append(StrokeData(points=pts, width=2.0))
    return DrawingData(strokes=strokes, canvas_width=canvas, canvas_height=canvas,
                       prompt='conformance')


class _Goal:
    def __init__(self):
        self.feedback = []
        self.received = []       # monotonic arrival times, for the feedback rate
        self.lock = threading.Lock()
        self.handle = None
        self.accepted = None
        self.status = None
        self.outcome = None
        self.first_feedback = threading.Event()
        self.done = threading.Event()


class ConformanceKit:
    def __init__(self, action_name, node=None, timeout=120.0, strokes=6, long_strokes=400):
        self.action_name = action_name
        self.timeout = timeout
        self.strokes = strokes
        self.long_strokes = long_strokes
        self._own_node = node is None
        self.node = node
        self.run_id = uuid.uuid4().hex[:8]

    # plumbing ------------------------------------------------------------------------------
    def _start(self):
        import rclpy
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        from dream_interfaces.action import DrawStrokes
        from dream_interfaces.msg import PlotFeedback, PlotResult
        if self.node is None:
            self.node = rclpy.create_node(f'dream_conformance_{self.run_id}')
        self.DrawStrokes = DrawStrokes
        self.client = ActionClient(self.node, DrawStrokes, self.action_name)
        self.mirrored_feedback, self.mirrored_results = [], []
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        rqos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._subs = [
            self.node.create_subscription(PlotFeedback, f'{self.action_name}/feedback_mirror',
                                          self.mirrored_feedback.append, qos),
            self.node.create_subscription(PlotResult, f'{self.action_name}/result_mirror',
                                          self.mirrored_results.append, rqos)]
        self.executor = SingleThreadedExecutor(context=self.node.context)
        self.executor.add_node(self.node)
        self._goals = []
        self._spin = threading.Thread(target=self._spin_quietly, daemon=True)
        self._spin.start()

    def _spin_quietly(self):
        """Spin until shut down; a signal that shuts rclpy down (its own SIGINT/SIGTERM
        handlers) ends the spin, which must not print a traceback over the kit's report."""
        from rclpy.executors import ExternalShutdownException
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def _stop(self):
        # the executor first: an action client destroyed while it iterates kills it; and
        # its thread joined: one still waiting inside rclpy at exit aborts the process
        # ("terminate called without an active exception")
        self.executor.shutdown(timeout_sec=2.0)
        self._spin.join(timeout=5.0)
        self.client.destroy()
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        if self._own_node:
            self.node.destroy_node()

    def _cancel_running(self, wait=3.0):
        """After an interrupt: cancel the goals still running (pen up), waiting briefly
        for goals just sent to be accepted and for the server to take the requests."""
        deadline = time.monotonic() + wait
        while any(g.accepted is None for g in self._goals) and time.monotonic() < deadline:
            time.sleep(0.05)
        futures = [g.handle.cancel_goal_async() for g in self._goals
                   if g.accepted and not g.done.is_set() and self.node.context.ok()]
        while any(not f.done() for f in futures) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _goal(self, drawing, session, start_stroke=0, msg=None, dry_run=False):
        from dream_plotter.drawing_messages import drawing_to_msg
        goal = self.DrawStrokes.Goal(session_id=session, start_stroke=int(start_stroke),
                                     dry_run=dry_run)
        goal.drawing = msg if msg is not None else drawing_to_msg(drawing)
        goal.drawing.session_id = session
        g = _Goal()
        self._goals.append(g)

        def on_feedback(message):
            # Keep feedback in publication (stamp) order, however the messages arrive.
            progress = message.feedback.progress
            stamp = (progress.header.stamp.sec, progress.header.stamp.nanosec)
            with g.lock:
                at = len(g.feedback)
                while at and (g.feedback[at - 1].header.stamp.sec,
                              g.feedback[at - 1].header.stamp.nanosec) > stamp:
                    at -= 1
                g.feedback.insert(at, progress)
                g.received.append(time.monotonic())
            g.first_feedback.set()

        def on_result(future):
            response = future.result()
            g.status = response.status
            g.outcome = response.result.outcome
            g.done.set()

        def on_goal(future):
            g.handle = future.result()
            g.accepted = g.handle.accepted
            if not g.accepted:
                g.done.set()
                return
            g.handle.get_result_async().add_done_callback(on_result)

        self.client.send_goal_async(goal, feedback_callback=on_feedback).add_done_callback(
            on_goal)
        return g

    def _session(self, name):
        return f'conformance-{self.run_id}-{name}'

    def _cancel(self, g):
        if g.handle is not None and g.accepted:
            g.handle.cancel_goal_async()

    @staticmethod
    def _settle(g, limit=10.0):
        """Feedback travels on another topic than the result and may trail it: wait (a
        little; up to 10 s on a loaded machine) for the final feedback that matches it."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            last = g.feedback[-1] if g.feedback else None
            if last is not None and g.outcome is not None and not last.pen_down and \
                    last.strokes_done == g.outcome.strokes_done:
                return
            time.sleep(0.05)

    # checks ---------------------------------------------------------------------------------
    def run(self, only=None):
        self._start()
        try:
            checks = []
            if not self.client.wait_for_server(timeout_sec=min(self.timeout, 15.0)):
                return [Check('server_available', False,
                              f'no DrawStrokes server on {self.action_name!r}')]
            servers = self._servers()
            if len(servers) > 1:
                return [Check('server_available', False,
                              f'{len(servers)} servers answer {self.action_name!r} '
                              f'({", ".join(servers)}): goals would go to any of them; '
                              'stop all but the driver under test')]
            checks.append(Check('server_available', True, self.action_name))
            for name in CHECKS[1:]:
                if only and name not in only:
                    continue
                try:
                    checks.append(getattr(self, name)())
                except Exception as exc:  # noqa: BLE001 - one broken check must not hide others
                    checks.append(Check(name, False, f'{type(exc).__name__}: {exc}'))
            return checks
        except KeyboardInterrupt:
            self._cancel_running()
            raise
        finally:
            self._stop()

    def _servers(self, settle=0.5):
        """The nodes serving the action (a second driver started under the same name is a
        common slip; discovery of remote nodes may trail the first answer a little)."""
        from rclpy.action import get_action_server_names_and_types_by_node
        time.sleep(settle)
        name = self.node.resolve_topic_name(self.action_name)
        found = []
        for node_name, namespace in self.node.get_node_names_and_namespaces():
            try:
                served = get_action_server_names_and_types_by_node(self.node, node_name,
                                                                   namespace)
            except Exception:  # noqa: BLE001 - the node left the graph meanwhile
                continue
            if any(action == name for action, _ in served):
                found.append(f'{namespace.rstrip("/")}/{node_name}')
        return found

    def _terminal(self, g, what):
        if not g.done.wait(self.timeout):
            raise TimeoutError(f'{what}: no result within {self.timeout:g} s')

    def completes_valid_goal(self):
        from action_msgs.msg import GoalStatus
        from dream_interfaces.msg import PlotResult
        n = self.strokes
        session = self._session('valid')
        g = self._goal(grid_drawing(n), session)
        self._terminal(g, 'valid goal')
        self._settle(g)
        self.valid_session = session
        problems = []
        if not g.accepted:
            return Check('completes_valid_goal', False, 'the goal was rejected')
        o = g.outcome
        if g.status != GoalStatus.STATUS_SUCCEEDED:
            problems.append(f'status {g.status}, expected SUCCEEDED')
        if o.error_code != PlotResult.ERROR_NONE:
            problems.append(f'error_code {o.error_code} ({o.message})')
        if o.strokes_done != n or o.next_stroke != n:
            problems.append(f'strokes_done/next_stroke {o.strokes_done}/{o.next_stroke}, '
                            f'expected {n}/{n}')
        if o.session_id != session:
            problems.append('the result does not carry the goal session_id')
        problems += self._feedback_problems(g.feedback, n, session, start=0)
        return Check('completes_valid_goal', not problems,
                     '; '.join(problems) or f'{len(g.feedback)} feedback messages')

    def _feedback_problems(self, feedback, n, session, start):
        problems = []
        if not feedback:
            return ['no feedback was published']
        done = [f.strokes_done for f in feedback]
        if any(b < a for a, b in zip(done, done[1:])):
            problems.append(f'strokes_done is not monotone: {done[:20]}')
        if min(done) < start:
            problems.append(f'strokes_done {min(done)} below start_stroke {start}')
        if any(f.strokes_total != n for f in feedback):
            problems.append('strokes_total differs from the number of strokes')
        if any(not 0.0 <= f.progress <= 1.0 or not math.isfinite(f.time_left)
               for f in feedback):
            problems.append('progress outside 0..1 or time_left not finite')
        if any(f.session_id != session for f in feedback):
            problems.append('feedback does not carry the goal session_id')
        if feedback[-1].pen_down:
            problems.append('the last feedback reports the pen down')
        return problems

    def mirrors_feedback_and_result(self):
        session = getattr(self, 'valid_session', None)
        if session is None:
            return Check('mirrors_feedback_and_result', None, 'needs completes_valid_goal')
        fb = [m for m in self.mirrored_feedback if m.session_id == session]
        rs = [m for m in self.mirrored_results if m.session_id == session]
        problems = []
        if not fb:
            problems.append(f'nothing on {self.action_name}/feedback_mirror')
        if not rs:
            problems.append(f'nothing on {self.action_name}/result_mirror')
        return Check('mirrors_feedback_and_result', not problems,
                     '; '.join(problems) or f'{len(fb)} feedback, {len(rs)} result')

    def _expect_invalid(self, name, msg, start_stroke=0, code='ERROR_INVALID_DRAWING'):
        """A goal the contract refuses: a result with ``code``, no stroke drawn, and a resume
        point inside the drawing."""
        from dream_interfaces.msg import PlotResult
        g = self._goal(None, self._session(name), msg=msg, start_stroke=start_stroke)
        self._terminal(g, name)
        if not g.accepted:
            return Check(name, False, 'rejected without a result: the contract asks for a '
                                      f'result with {code}')
        o = g.outcome
        problems = [] if o.error_code == getattr(PlotResult, code) else [f'expected {code}']
        if g.feedback and any(f.pen_down for f in g.feedback):
            problems.append('the pen went down')
        if o.next_stroke > len(msg.strokes):
            problems.append(f'next_stroke {o.next_stroke} is past the drawing\'s '
                            f'{len(msg.strokes)} strokes')
        return Check(name, not problems, '; '.join(
            problems + [f'error_code {o.error_code}: {o.message}']))

    def rejects_empty_drawing(self):
        from dream_interfaces.msg import Drawing
        return self._expect_invalid('rejects_empty_drawing',
                                    Drawing(canvas_width=200, canvas_height=200))

    def rejects_nan_drawing(self):
        from dream_plotter.drawing_messages import drawing_to_msg
        msg = drawing_to_msg(grid_drawing(3))
        msg.strokes[1].control_points[2] = float('nan')
        return self._expect_invalid('rejects_nan_drawing', msg)

    def rejects_start_past_the_end(self):
        from dream_plotter.drawing_messages import drawing_to_msg
        return self._expect_invalid('rejects_start_past_the_end',
                                    drawing_to_msg(grid_drawing(3)), start_stroke=8)

    def rejects_out_of_bounds(self):
        """A stroke far beyond the canvas, under the default out_of_bounds = REJECT."""
        from dream_plotter.drawing_messages import drawing_to_msg
        msg = drawing_to_msg(grid_drawing(3))
        msg.strokes[1].control_points = [v + 5 * msg.canvas_width
                                         for v in msg.strokes[1].control_points]
        return self._expect_invalid('rejects_out_of_bounds', msg, code='ERROR_OUT_OF_BOUNDS')

    def dry_run_moves_nothing(self):
        from dream_interfaces.msg import PlotResult
        n, k = self.strokes, 1
        g = self._goal(grid_drawing(n), self._session('dry-run'), start_stroke=k, dry_run=True)
        self._terminal(g, 'dry run')
        if not g.accepted:
            return Check('dry_run_moves_nothing', False, 'the goal was rejected')
        o = g.outcome
        problems = []
        if o.error_code != PlotResult.ERROR_NONE:
            problems.append(f'error_code {o.error_code} ({o.message})')
        if (o.strokes_done, o.next_stroke) != (k, k):
            problems.append(f'strokes_done/next_stroke {o.strokes_done}/{o.next_stroke}, '
                            f'expected {k}/{k} (the start: nothing drawn)')
        if any(f.pen_down for f in g.feedback):
            problems.append('the pen went down')
        if not (math.isfinite(o.duration) and o.duration > 0):
            problems.append(f'no estimated duration ({o.duration})')
        return Check('dry_run_moves_nothing', not problems,
                     '; '.join(problems) or f'estimated {o.duration:.1f} s')

    def steady_feedback(self, window=3.0):
        g = self._goal(grid_drawing(self.long_strokes, seed=3), self._session('steady'))
        try:
            if not g.first_feedback.wait(self.timeout):
                return Check('steady_feedback', False, 'no feedback before the timeout')
            start = g.received[0]
            g.done.wait(window)
            end = time.monotonic()
            if g.done.is_set() and end - start < 1.0:
                return Check('steady_feedback', None, 'the goal finished before the rate '
                             'could be measured: use more --conformance-strokes')
            with g.lock:
                times = [t for t in g.received if t <= end] + [end]
            gap = max(b - a for a, b in zip(times, times[1:]))
            rate = (len(times) - 1) / (end - start)
            detail = f'{rate:.1f} Hz over {end - start:.1f} s, longest silence {gap:.2f} s'
            if gap > MAX_FEEDBACK_GAP:
                return Check('steady_feedback', False, f'{detail}: the contract asks for '
                             f'feedback at a steady rate (a silence over '
                             f'{MAX_FEEDBACK_GAP:g} s fails)')
            return Check('steady_feedback', True, detail)
        finally:
            self._cancel(g)
            g.done.wait(self.timeout)

    def cancel_ends_pen_up(self):
        from action_msgs.msg import GoalStatus
        from dream_interfaces.msg import PlotResult
        n = self.long_strokes
        g = self._goal(grid_drawing(n, seed=1), self._session('cancel'))
        if not g.first_feedback.wait(self.timeout):
            self._cancel(g)
            return Check('cancel_ends_pen_up', False, 'no feedback before the timeout')
        time.sleep(0.3)
        if g.done.is_set():
            return Check('cancel_ends_pen_up', None, 'the goal finished before it could be '
                         'cancelled: use more --conformance-strokes')
        self._cancel(g)
        self._terminal(g, 'cancelled goal')
        self._settle(g)
        o = g.outcome
        problems = []
        if g.status != GoalStatus.STATUS_CANCELED:
            problems.append(f'status {g.status}, expected CANCELED')
        if o.error_code != PlotResult.ERROR_CANCELLED:
            problems.append(f'error_code {o.error_code}, expected ERROR_CANCELLED')
        if not o.next_stroke <= n or o.strokes_done != o.next_stroke:
            problems.append(f'strokes_done {o.strokes_done} / next_stroke {o.next_stroke}')
        if g.feedback and g.feedback[-1].pen_down:
            problems.append('the last feedback after the cancel reports the pen down')
        return Check('cancel_ends_pen_up', not problems,
                     '; '.join(problems) or f'stopped at stroke {o.next_stroke} of {n}')

    def busy_policy(self):
        from dream_interfaces.msg import PlotResult
        first = self._goal(grid_drawing(self.long_strokes, seed=2), self._session('busy-a'))
        try:
            if not first.first_feedback.wait(self.timeout):
                return Check('busy_policy', False, 'the first goal gave no feedback')
            second = self._goal(grid_drawing(3), self._session('busy-b'))
            self._terminal(second, 'second goal')
            count = len(first.feedback)
            running = not first.done.is_set()
            if second.accepted and second.outcome.error_code != PlotResult.ERROR_BUSY:
                return Check('busy_policy', False, f'a second goal got error_code '
                             f'{second.outcome.error_code} instead of ERROR_BUSY')
            if not running:
                return Check('busy_policy', None, 'the first goal ended too soon to tell')
            # still reporting: new feedback (or its end) within a few seconds, load allowing
            deadline = time.monotonic() + 5.0
            while (len(first.feedback) <= count and not first.done.is_set()
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            if len(first.feedback) <= count and not first.done.is_set():
                return Check('busy_policy', False, 'the first goal stopped reporting after '
                                                   'the second goal')
            how = 'accepted then aborted with ERROR_BUSY' if second.accepted else 'rejected'
            return Check('busy_policy', True, f'second goal {how}, first goal continued')
        finally:
            self._cancel(first)
            first.done.wait(self.timeout)

    def resume_from_start_stroke(self):
        from dream_interfaces.msg import PlotResult
        n = self.strokes
        k = n // 2
        session = self._session('resume')
        g = self._goal(grid_drawing(n), session, start_stroke=k)
        self._terminal(g, 'resumed goal')
        self._settle(g)
        o = g.outcome
        problems = []
        if not g.accepted:
            return Check('resume_from_start_stroke', False, 'the goal was rejected')
        if o.error_code != PlotResult.ERROR_NONE:
            problems.append(f'error_code {o.error_code} ({o.message})')
        if o.strokes_done != n:
            problems.append(f'strokes_done {o.strokes_done}, expected {n}')
        if g.feedback and g.feedback[0].strokes_done < k:
            problems.append(f'first feedback strokes_done {g.feedback[0].strokes_done} < {k}')
        problems += self._feedback_problems(g.feedback, n, session, start=k)
        return Check('resume_from_start_stroke', not problems,
                     '; '.join(problems) or f'resumed at {k}, finished {n}')


def run_conformance(action_name, **kwargs):
    """Run every check against ``action_name``; needs rclpy to be initialised."""
    return ConformanceKit(action_name, **kwargs).run()
