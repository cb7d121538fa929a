"""The DrawStrokes action server shared by every driver node (sim, grbl, axidraw).

One goal at a time: a goal that arrives while another runs is accepted and immediately
aborted with ERROR_BUSY (the client gets a result with the reason, which a plain rejection
cannot carry); a goal while the driver is not active ends with ERROR_NOT_ACTIVE. Feedback
is published at a steady rate from a separate thread, which also turns a cancel request into
the driver's cancel event. A goal executes in a worker thread (see offloaded_execution), so
the node's single-threaded executor keeps serving cancel requests meanwhile.
Feedback and results are mirrored on plain topics for recording. Their stamps come from the
node's clock (sim time under use_sim_time); the feedback rate is counted in wall seconds,
like the driver's motion.
"""
import dataclasses
import threading

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from dream_interfaces.action import DrawStrokes
from dream_interfaces.msg import PlotFeedback, PlotResult
from dream_plotter.driver import reported_position
from dream_plotter.drawing_messages import (drawing_from_msg, outcome_to_msg, paper_from_msg,
                                            progress_to_msg)
from dream_plotter.offloaded_execution import offloaded
from dream_plotter.outcome import ErrorCode, PlotError, PlotOutcome, Progress
from dream_plotter.planner import plan_drawing

FEEDBACK_QOS = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _resume(request):
    """The resume point a goal that drew nothing reports: its start, but never past the end
    of its drawing (a start beyond it is the reason it failed)."""
    return max(0, min(int(request.start_stroke), len(request.drawing.strokes)))


class DrawStrokesServer:
    """Serves ``action_name`` on ``node`` with a driver core.

    ``driver()`` returns the driver core (or None when there is none), ``settings()`` returns
    (PaperDefaults, PlanSettings) read from the node's parameters, ``is_active()`` says
    whether goals may run, ``before_goal(request, plan)`` and ``after_goal(request, outcome)``
    are optional hooks (the sim node writes its pictures there).
    """

    def __init__(self, node, driver, settings, *, is_active=lambda: True,
                 action_name='draw_strokes', feedback_rate=lambda: 10.0, before_goal=None,
                 after_goal=None):
        self.node = node
        self.driver = driver
        self.settings = settings
        self.is_active = is_active
        self.feedback_rate = feedback_rate
        self.before_goal = before_goal
        self.after_goal = after_goal
        self.feedback_pub = node.create_publisher(PlotFeedback,
                                                  f'{action_name}/feedback_mirror',
                                                  FEEDBACK_QOS)
        self.result_pub = node.create_publisher(PlotResult, f'{action_name}/result_mirror',
                                                RESULT_QOS)
        self._busy = threading.Lock()
        self._cancel_event = None
        self._stopping = False
        self._server = ActionServer(node, DrawStrokes, action_name,
                                    offloaded(node, self._execute, f'{action_name}-goal'),
                                    goal_callback=lambda goal: GoalResponse.ACCEPT,
                                    cancel_callback=lambda handle: CancelResponse.ACCEPT)

    # used by lifecycle transitions ---------------------------------------------------------
    @property
    def busy(self):
        return self._busy.locked()

    def stop_current(self, timeout=30.0):
        """Cancel the running goal (pen up) and wait for it to end; True when idle."""
        event = self._cancel_event
        if event is not None:
            event.set()
        if self._busy.acquire(timeout=timeout):
            self._busy.release()
            return True
        return False

    def wind_down(self):
        """The node's process is stopping (SIGINT/SIGTERM): the running goal stops with the
        pen up and is answered, saying why, while it still can be; later goals are refused.
        Returns what says when that is done."""
        self._stopping = True
        event = self._cancel_event
        if event is not None:
            event.set()
        return lambda: not self.busy

    def destroy(self):
        self._server.destroy()

    # goal execution ------------------------------------------------------------------------
    def _stamp(self):
        return self.node.get_clock().now().to_msg()

    def _execute(self, handle):
        """Runs in a worker thread: the goal from start to its terminal state."""
        request = handle.request
        if self._stopping:      # busy: a client may try again, a restarted node
            return self._finish(handle, PlotOutcome(
                ErrorCode.BUSY, f'the {self.node.get_name()} node is shutting down',
                strokes_done=_resume(request), next_stroke=_resume(request)),
                publish=False)
        if not self.is_active():
            return self._finish(handle, PlotOutcome(
                ErrorCode.NOT_ACTIVE, 'the driver is not active: configure and activate it '
                'first', strokes_done=_resume(request), next_stroke=_resume(request)))
        if not self._busy.acquire(blocking=False):
            return self._finish(handle, PlotOutcome(
                ErrorCode.BUSY, 'another drawing is in progress: one goal at a time',
                strokes_done=_resume(request), next_stroke=_resume(request)),
                publish=False)
        try:
            outcome = self._run(handle)
        except Exception as exc:  # noqa: BLE001 - a bug must not take the node down
            self.node.get_logger().error(f'goal failed: {type(exc).__name__}: {exc}')
            outcome = PlotOutcome(ErrorCode.INTERNAL, f'{type(exc).__name__}: {exc}',
                                  strokes_done=_resume(request),
                                  next_stroke=_resume(request), pen_up=None)
            driver = self.driver()
            if driver is not None:
                try:
                    driver.lift_pen()
                except Exception:  # noqa: BLE001
                    pass
        finally:
            self._cancel_event = None
            self._busy.release()
        return self._finish(handle, outcome)

    def _run(self, handle):
        request = handle.request
        start = int(request.start_stroke)
        driver = self.driver()
        if driver is None:
            return PlotOutcome(ErrorCode.NOT_ACTIVE, 'no driver is configured',
                               strokes_done=start, next_stroke=start)
        defaults, settings = self.settings()
        try:
            drawing = drawing_from_msg(request.drawing)
            plan = plan_drawing(drawing, paper_from_msg(request.paper), defaults, settings)
            plan.steps_from(start)
        except PlotError as exc:
            return PlotOutcome(exc.code, exc.message, strokes_done=_resume(request),
                               next_stroke=_resume(request))
        for warning in plan.warnings:   # strokes clipped, too faint, ...: said, not silent
            self.node.get_logger().warning(
                f'goal {request.session_id or "(no session)"}: {warning}')
        if request.dry_run:
            f = driver.estimate(plan, start)
            return PlotOutcome(ErrorCode.NONE, f'dry run: {len(plan.paths)} paths on '
                               f'{plan.layout.describe()}', strokes_done=start,
                               next_stroke=start, duration=f.duration,
                               pen_down_distance=f.pen_down_distance,
                               pen_up_distance=f.pen_up_distance, pen_changes=f.pen_changes)
        if self.before_goal is not None:
            self.before_goal(request, plan)
        cancel = threading.Event()
        self._cancel_event = cancel
        # the position is None after a lost port or an alarm: feedback says NaN until known
        x, y = reported_position(driver.position)
        latest = [Progress(strokes_done=start, strokes_total=plan.strokes_total,
                           current_stroke=start, x=x, y=y)]
        done = threading.Event()
        sid = request.session_id

        def pump():
            while not done.is_set():
                if handle.is_cancel_requested:
                    cancel.set()
                self._publish_feedback(handle, latest[0], sid)
                done.wait(1.0 / max(self.feedback_rate(), 0.1))

        thread = threading.Thread(target=pump, name='draw_strokes_feedback', daemon=True)
        thread.start()
        try:
            outcome = driver.execute(plan, start, lambda p: latest.__setitem__(0, p), cancel)
        finally:
            done.set()
            thread.join()
        final = latest[0]
        if getattr(driver, 'pen_up', None) is True:
            # the last progress report may predate the final pen lift: say where the pen is
            final = dataclasses.replace(final, pen_down=False)
        self._publish_feedback(handle, final, sid)   # the state at the stop
        if self.after_goal is not None:
            self.after_goal(request, outcome)
        return outcome

    def _publish_feedback(self, handle, progress, session_id):
        msg = progress_to_msg(progress, session_id, self._stamp())
        feedback = DrawStrokes.Feedback()
        feedback.progress = msg
        try:
            handle.publish_feedback(feedback)
        except Exception:  # noqa: BLE001 - the goal may have been torn down meanwhile
            pass
        self.feedback_pub.publish(msg)

    def _finish(self, handle, outcome, publish=True):
        sid = handle.request.session_id
        if (self._stopping and outcome.error_code == ErrorCode.CANCELLED
                and not handle.is_cancel_requested):
            outcome.message = f'stopped: the {self.node.get_name()} node is shutting down'
        msg = outcome_to_msg(outcome, sid, self._stamp())
        log = self.node.get_logger()
        text = (f'goal {sid or "(no session)"}: {outcome.label}: {outcome.message} '
                f'(strokes done {outcome.strokes_done})')
        if outcome.ok:
            log.info(text)
        else:
            log.warning(text)
        if outcome.error_code == ErrorCode.CANCELLED and handle.is_cancel_requested:
            handle.canceled()
        elif outcome.ok:
            handle.succeed()
        else:
            handle.abort()
        if publish:
            self.result_pub.publish(msg)
        result = DrawStrokes.Result()
        result.outcome = msg
        return result
