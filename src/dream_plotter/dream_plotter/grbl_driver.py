"""Driving a GRBL 1.1 pen plotter: G-code streamed over pyserial with character counting.

Why it is written this way:
- GRBL resets when the port opens; nothing is sent before its banner (or, when the banner
  was missed, before the banner that a soft reset produces).
- Lines are streamed while the unanswered bytes fit GRBL's receive buffer, so the planner
  stays full; ``?`` status polls (real-time, never counted) give the position at <= 5 Hz.
- Each path ends with ``G4 P0.01``: GRBL answers it only after the motion before it is
  finished, which is how the driver *knows* a stroke is done (for cancel and lost ports).
- The plot ends with the park move and a ``G4 P0``: GRBL's ``ok`` to a move only means it
  is buffered, so the goal is done (and the feedback says "parked") once the machine is.
- The first ``error:N`` stops the stream; an ``ALARM:N`` push stops it too. Stopping is:
  feed hold, wait for Hold:0, soft reset (flushes the buffers without losing position once
  motion has stopped), pen up, park. After an alarm the axes are not moved, only the pen.
- After an alarm that loses the machine position (hard limit, reset in motion, failed
  homing) or a board reset, GRBL's coordinates no longer match the paper: the next goal
  homes first (``$H``) when GRBL's homing is enabled (``$22=1``, read with ``$$``), and is
  refused otherwise. A GRBL that is in alarm when a goal starts is treated the same way.
"""
import time
from collections import deque
from dataclasses import dataclass, field

from dream_plotter import grbl_protocol as gp
from dream_plotter.driver import Driver
from dream_plotter.outcome import ErrorCode, PlotError
from dream_plotter.serial_ports import (DEFAULT_ALLOWED_PORTS, LineReader, check_allowed,
                                        open_serial, write_bytes)
from dream_plotter.timeline import HOME

FEED_HOLD, CYCLE_START, SOFT_RESET, STATUS_QUERY = b'!', b'~', b'\x18', b'?'
GARBAGE_LIMIT = 20


@dataclass
class GrblSettings:
    port: str = '/dev/ttyUSB0'
    baudrate: int = 115200
    pen_mode: str = 'servo'            # servo: M3 S<value>; z: Z axis moves
    servo_up: float = 0.0              # S value with the pen up (0 = what a reset leaves)
    servo_down: float = 1000.0
    z_up: float = 2.0                  # mm
    z_down: float = 0.0
    z_speed: float = 10.0              # mm/s
    origin_x: float = 0.0              # machine position of the paper's top-left corner
    origin_y: float = 0.0
    invert_y: bool = False             # machine y grows away from the operator
    rx_buffer: int = 128
    banner_timeout: float = 2.5        # s
    reply_timeout: float = 30.0        # s without a reply or any sign of motion (+ dwells)
    status_interval: float = 0.2       # s between '?' polls (GRBL advises <= 5 Hz)
    reconnect_timeout: float = 3.0     # s spent trying to reopen a lost port
    allowed_ports: tuple = field(default=DEFAULT_ALLOWED_PORTS)

    def check(self):
        if self.pen_mode not in ('servo', 'z'):
            raise ValueError(f'pen_mode must be "servo" or "z", got {self.pen_mode!r}')
        if self.status_interval < 0.2:
            raise ValueError('status_interval below 0.2 s would poll GRBL above 5 Hz')
        if not 16 <= self.rx_buffer <= 1024:
            raise ValueError('rx_buffer must be 16..1024 bytes')
        return self


class GrblDriver(Driver):
    name = 'grbl'

    def __init__(self, settings=None):
        super().__init__()
        self.settings = (settings or GrblSettings()).check()
        self.port = None
        self.reader = None
        self.state = 'Unknown'
        self.alarm_at_boot = False
        self.position_lost = False
        self.needs_homing = None         # (why, alarm code) while GRBL's position is lost
        self._last_status = 0.0
        self._last_mpos = None
        self._phase_started = 0.0

    # frames -------------------------------------------------------------------------------
    def to_machine(self, x, y):
        s = self.settings
        return x + s.origin_x, (-y if s.invert_y else y) + s.origin_y

    def to_paper(self, mx, my):
        s = self.settings
        y = my - s.origin_y
        return mx - s.origin_x, (-y if s.invert_y else y)

    def _move(self, x, y, speed):
        mx, my = self.to_machine(x, y)
        return f'G1X{gp.number(mx)}Y{gp.number(my)}F{gp.number(speed * 60)}'

    def pen_lines(self, down, delay):
        s = self.settings
        if s.pen_mode == 'servo':
            cmd = f'M3S{gp.number(s.servo_down if down else s.servo_up)}'
        elif down:
            cmd = f'G1Z{gp.number(s.z_down)}F{gp.number(s.z_speed * 60)}'
        else:
            cmd = f'G0Z{gp.number(s.z_up)}'
        return [cmd, f'G4P{gp.number(max(delay, 0.0))}']

    # connection ---------------------------------------------------------------------------
    def connect(self):
        s = self.settings
        check_allowed(s.port, s.allowed_ports)
        self.port = open_serial(s.port, s.baudrate)
        self.reader = LineReader(self.port)
        self.needs_homing = None             # the board resets: it counts from here
        try:
            self._await_banner()
            self.state = self._query_state(timeout=2.0)
        except PlotError:
            self._close_port()
            raise

    def _await_banner(self):
        s = self.settings
        noise = []
        for attempt in range(2):
            deadline = time.monotonic() + s.banner_timeout
            while time.monotonic() < deadline:
                line = self.reader.readline(max(deadline - time.monotonic(), 0.0))
                if line is None:
                    break
                kind, value = gp.classify(line)
                if kind == 'banner' and value.startswith('Grbl 1.1'):
                    self.alarm_at_boot = False
                    self._banner_extra()
                    return
                if kind == 'banner':
                    raise PlotError(ErrorCode.DEVICE, f'{s.port} runs {value!r}; this driver '
                                                      'speaks GRBL 1.1')
                noise.append(line)
            if attempt == 0:
                write_bytes(self.port, SOFT_RESET)   # the banner was missed: ask again
        if self.reader.buf:
            noise.append(bytes(self.reader.buf[:40]).decode('ascii', errors='replace'))
        if noise:
            sample = ' | '.join(noise)[:80]
            raise PlotError(ErrorCode.DEVICE,
                            f'{s.port} answers, but not like GRBL 1.1 ({sample!r}): wrong port '
                            f'or baud rate ({s.baudrate})?')
        raise PlotError(ErrorCode.TIMEOUT, f'no GRBL banner from {s.port} within '
                                           f'{2 * s.banner_timeout:g} s: is it a GRBL board?')

    def _banner_extra(self):
        """Read what follows a banner for a moment (the unlock message of an alarm)."""
        line = self.reader.readline(0.1)
        while line is not None:
            if "'$X' to unlock" in line or 'Reset to continue' in line:
                self.alarm_at_boot = True
            line = self.reader.readline(0.05)

    def _query_state(self, timeout=2.0):
        time.sleep(max(self._last_status + self.settings.status_interval - time.monotonic(),
                       0.0))
        write_bytes(self.port, STATUS_QUERY)
        self._last_status = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.reader.readline(deadline - time.monotonic())
            if line is None:
                break
            kind, value = gp.classify(line)
            if kind == 'status':
                self._status(value)
                return value[0]
        raise PlotError(ErrorCode.TIMEOUT, 'GRBL did not answer a status query')

    def _status(self, value, run=None):
        state, mx, my = value
        self.state = state
        if mx is not None:
            self.position = self.to_paper(mx, my)
            if run is not None:
                run.report(elapsed=self._phase_elapsed(run), position=self.position,
                           pen_down=self.pen_up is False)

    def _phase_elapsed(self, run):
        """Time into the current phase (capped at its planned duration), so that time_left
        counts down between acknowledgements instead of freezing during a long move."""
        if run.phase_index >= len(run.phases):
            return 0.0
        return min(time.monotonic() - self._phase_started,
                   run.phases[run.phase_index].duration)

    def _shows_life(self, value):
        """True when a status report proves GRBL is working although no line is answered:
        the machine moves (Run/Jog with a new position), or an operator holds it (feed
        hold, safety door). A Run that never moves, or Idle, does not count."""
        state, mx, my = value
        moved = mx is not None and (mx, my) != self._last_mpos
        self._last_mpos = (mx, my)
        if state.startswith(('Hold', 'Door')):
            return True
        return moved and state in ('Run', 'Jog', 'Home')

    def _close_port(self):
        if self.port is not None:
            try:
                self.port.close()
            except Exception:  # noqa: BLE001 - closing a dead port may fail any way
                pass
        self.port = None
        self.reader = None

    def close(self):
        if self.port is not None:
            try:
                self.lift_pen()
            except PlotError:
                pass
        self._close_port()

    def lift_pen(self):
        if self.port is None:
            return
        self._send_and_wait(self.pen_lines(False, 0.1), timeout=5.0)
        self.pen_up = True

    # synchronous commands (outside streaming) ---------------------------------------------
    def _send_and_wait(self, lines, timeout=10.0):
        """Send each line once the previous one is answered; returns the other lines seen
        (what ``$$`` prints)."""
        printed = []
        for line in lines:
            write_bytes(self.port, (line + '\n').encode('ascii'))
            deadline = time.monotonic() + timeout
            while True:
                reply = self.reader.readline(max(deadline - time.monotonic(), 0.0))
                if reply is None:
                    raise PlotError(ErrorCode.TIMEOUT, f'no reply from GRBL to {line!r}')
                kind, value = gp.classify(reply)
                if kind == 'ok':
                    break
                if kind == 'error':
                    raise PlotError(ErrorCode.DEVICE, f'GRBL {gp.describe_error(value)} on '
                                                      f'{line!r}', value)
                if kind == 'alarm':
                    raise PlotError(ErrorCode.DEVICE_ALARM, f'GRBL {gp.describe_alarm(value)}',
                                    value)
                if kind == 'status':
                    self._status(value)
                elif kind == 'other':
                    printed.append(reply)
        return printed

    def _homing_enabled(self):
        return bool(int(gp.settings(self._send_and_wait(['$$'])).get(22, 0)) & 1)

    # execution ----------------------------------------------------------------------------
    def _program(self, run):
        """(line, tag) pairs for the run's phases; tags say what an 'ok' proves."""
        lim = run.plan.settings.limits
        out = [('G21G90G94', None)]
        out += [(line, ('pen', False)) for line in self.pen_lines(False, lim.pen_up_delay)]
        for index, phase in enumerate(run.phases):
            if phase.kind == 'travel' and index == len(run.phases) - 1:
                # parked only once GRBL has executed the move: G4 P0 waits for that
                out += [(self._move(*phase.end, lim.travel_speed), None),
                        ('G4P0', ('park', index))]
            elif phase.kind == 'travel':
                x, y = phase.end
                out.append((self._move(x, y, lim.travel_speed), ('phase', index)))
            elif phase.kind == 'pen_down':
                cmd, dwell = self.pen_lines(True, lim.pen_down_delay)
                out += [(cmd, ('pen', True)), (dwell, ('phase', index))]
            elif phase.kind == 'draw':
                pts = phase.points
                out += [(self._move(x, y, lim.draw_speed), None) for x, y in pts[1:]]
                out.append(('G4P0.01', ('phase', index)))   # answered once the path is drawn
            elif phase.kind == 'pen_up':
                cmd, dwell = self.pen_lines(False, lim.pen_up_delay)
                out += [(cmd, ('pen', False)), (dwell, ('phase', index))]
            elif phase.kind == 'pen_change':
                out.append(('G4P0', None))      # parked before the operator is called
                out.append((f'G4P{gp.number(phase.duration)}', ('change', index)))
        return out

    def _prepare(self):
        if self.port is None:
            raise PlotError(ErrorCode.NOT_ACTIVE, 'GRBL port is not open: connect first')
        self.reader.drain()
        self.state = self._query_state()
        if self.position_lost:
            self.position = None
        if (self.state == 'Alarm' or self.needs_homing) and not self._homing_enabled():
            why, code = self.needs_homing or ('GRBL is in alarm state', 0)
            raise PlotError(ErrorCode.DEVICE_ALARM, f'{why}: the machine position is not '
                            'known and GRBL cannot home ($22=0): move the pen by hand to the '
                            'machine origin and reconnect (GRBL resets and counts from '
                            'there), or enable homing ($22=1) if it has limit switches', code)

    def _run(self, run):
        if self.state == 'Alarm' or self.needs_homing:
            self._home(run)
        elif self.state != 'Idle':
            raise PlotError(ErrorCode.DEVICE, f'GRBL is busy ({self.state}); expected Idle')
        self._stream(run, self._program(run))
        self.position_lost = False       # parked at the origin in GRBL's own coordinates

    def _home(self, run):
        """``$H`` (answered once the cycle is done), then the position GRBL reports."""
        self._stream(run, [('$H', None)])
        self.needs_homing, self.alarm_at_boot, self.position_lost = None, False, False
        self.state = self._query_state()
        run.report(position=self.position)

    def _stream(self, run, program):
        self.pending = deque()
        self.used = 0
        self.garbage = 0
        self.last_reply = self._phase_started = time.monotonic()
        self._last_mpos = None
        limit = self.settings.rx_buffer - 1
        for line, tag in program:
            data = (line + '\n').encode('ascii')
            while self.used + len(data) > limit:
                self._service(run, block=True)
            if tag is not None and tag[0] == 'change':
                while self.pending:                      # park first, then the operator
                    self._service(run, block=True)
                if self.pen_change_hook is not None:
                    self.pen_change_hook(run.phases[tag[1]].pen, run.plan.pen_color(
                        run.phases[tag[1]].pen))
            write_bytes(self.port, data)
            if not self.pending:
                self.last_reply = time.monotonic()
            self.pending.append((len(data), tag, line))
            self.used += len(data)
            self._service(run, block=False)
        while self.pending:
            self._service(run, block=True)

    def _service(self, run, block):
        run.check_cancel()
        now = time.monotonic()
        if now - self._last_status >= self.settings.status_interval:
            write_bytes(self.port, STATUS_QUERY)
            self._last_status = now
        line = self.reader.readline(0.05) if block else self.reader.poll()
        if line is None:
            quiet = time.monotonic() - self.last_reply
            if block and self.pending and quiet > self.settings.reply_timeout and \
                    quiet > self.settings.reply_timeout + self._pending_dwell():
                raise PlotError(ErrorCode.TIMEOUT, f'GRBL sent no reply for '
                                                   f'{self.settings.reply_timeout:g} s')
            return
        self._handle(run, line)

    def _pending_dwell(self):
        """Seconds of G4 dwells among the unanswered lines: GRBL stays silent (and Idle)
        while it dwells, e.g. for the operator at a pen change."""
        total = 0.0
        for _, _, text in self.pending:
            if text.startswith('G4P'):
                total += float(text[3:])
        return total

    def _handle(self, run, line):
        kind, value = gp.classify(line)
        if kind in ('ok', 'error'):
            self.last_reply = time.monotonic()
            if not self.pending:
                raise PlotError(ErrorCode.DEVICE, f'unexpected {line!r} from GRBL')
            nbytes, tag, text = self.pending.popleft()
            self.used -= nbytes
            if kind == 'error':
                raise PlotError(ErrorCode.DEVICE, f'GRBL {gp.describe_error(value)} on '
                                                  f'{text!r}', value)
            self._acknowledged(run, tag)
        elif kind == 'alarm':
            self.state = 'Alarm'
            raise PlotError(ErrorCode.DEVICE_ALARM, gp.alarm_message(value), value)
        elif kind == 'status':
            self._status(value, run)
            if self._shows_life(value):
                self.last_reply = time.monotonic()
        elif kind == 'banner':
            self.needs_homing = ('GRBL reset itself during the job', 0)
            raise PlotError(ErrorCode.DEVICE, 'GRBL reset itself during the job (power or '
                                              'USB glitch?): the machine position is lost')
        elif kind == 'other':
            self.garbage += 1
            if self.garbage > GARBAGE_LIMIT:
                raise PlotError(ErrorCode.DEVICE, f'GRBL answers garbage ({line[:40]!r})')

    def _acknowledged(self, run, tag):
        if tag is None:
            return
        if tag[0] == 'pen':
            self.pen_up = not tag[1]
            run.report(pen_down=tag[1])
        elif tag[0] in ('phase', 'change', 'park'):
            phase = run.phases[tag[1]]
            run.finish_phase(phase)
            self._phase_started = time.monotonic()
            if phase.kind in ('draw', 'pen_up', 'pen_down') or tag[0] == 'park':
                self.position = phase.end
            run.report(tag[1] + 1, position=self.position, pen_down=self.pen_up is False)

    # stopping -----------------------------------------------------------------------------
    def _stop(self, run, error):
        if error.code == ErrorCode.CONNECTION_LOST:
            self._recover_lost_port(error)
            return
        try:
            self._stop_device(run, error)
        except PlotError as exc:
            if exc.code == ErrorCode.CONNECTION_LOST:
                self._recover_lost_port(exc)
            else:
                self.pen_up = None
            raise

    def _stop_device(self, run, error):
        code = error.code
        alarm = code == ErrorCode.DEVICE_ALARM
        if not alarm:
            self._hold_until_stopped(run)
        pushed = self._reset()
        if pushed:
            error.message += f'; {gp.alarm_message(pushed)}'
        lost_position = bool(pushed) or self.alarm_at_boot
        lost_by = error.device_error if alarm else pushed
        if lost_by in gp.POSITION_LOST:
            self.needs_homing = (f'GRBL {gp.describe_alarm(lost_by)}', lost_by)
        elif not alarm and self.alarm_at_boot:
            self.needs_homing = ('GRBL came back locked from a reset', 0)
        if alarm or lost_position:       # unlocked to lift the pen; needs_homing guards
            self._send_and_wait(['$X'], timeout=5.0)
            self.alarm_at_boot = False
        self._send_and_wait(self.pen_lines(False, run.plan.settings.limits.pen_up_delay))
        self.pen_up = True
        self.position_lost = alarm or lost_position or self.needs_homing is not None
        if self.position_lost:
            self.position = None
        else:
            lim = run.plan.settings.limits
            self._send_and_wait([self._move(*HOME, lim.travel_speed), 'G4P0.01'],
                                timeout=self.settings.reply_timeout)
            start = self.position or HOME
            self.position = HOME
            run.pen_up_mm += ((start[0] - HOME[0]) ** 2 + (start[1] - HOME[1]) ** 2) ** 0.5

    def _hold_until_stopped(self, run):
        """Feed hold, then wait for Hold:0 / Idle (oks that still arrive are accounted)."""
        write_bytes(self.port, FEED_HOLD)
        deadline = time.monotonic() + 10.0
        next_query = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_query:
                write_bytes(self.port, STATUS_QUERY)
                next_query = time.monotonic() + self.settings.status_interval
            line = self.reader.readline(0.05)
            if line is None:
                continue
            kind, value = gp.classify(line)
            if kind == 'status':
                self._status(value)
                if value[0] in ('Hold:0', 'Idle', 'Alarm'):
                    return
            elif kind == 'ok' and getattr(self, 'pending', None):
                _, tag, _ = self.pending.popleft()
                self._acknowledged(run, tag)
            elif kind == 'alarm':
                return
        raise PlotError(ErrorCode.TIMEOUT, 'GRBL did not stop after a feed hold')

    def _reset(self):
        """Soft reset (flushes GRBL's buffers); the N of an ALARM:N it raised (ALARM:3:
        it caught the machine moving), else 0. ``alarm_at_boot`` says if GRBL is locked."""
        self.pending = deque()
        self.used = 0
        self.alarm_at_boot = False
        write_bytes(self.port, SOFT_RESET)
        pushed = 0
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            line = self.reader.readline(0.1)
            if line is None:
                continue
            kind, value = gp.classify(line)
            if kind == 'alarm':
                pushed = value
            elif kind == 'banner':
                self._banner_extra()
                return pushed
        raise PlotError(ErrorCode.TIMEOUT, 'no banner from GRBL after a soft reset')

    def _recover_lost_port(self, error):
        """Reopen the port (the board resets), lift the pen; position is not trusted."""
        self._close_port()
        deadline = time.monotonic() + self.settings.reconnect_timeout
        while time.monotonic() < deadline:
            try:
                self.port = open_serial(self.settings.port, self.settings.baudrate)
                self.reader = LineReader(self.port)
                self._await_banner()
                if self.alarm_at_boot:   # to lift the pen; needs_homing guards the rest
                    self._send_and_wait(['$X'], timeout=5.0)
                    self.alarm_at_boot = False
                self._send_and_wait(self.pen_lines(False, 0.1), timeout=5.0)
                self.pen_up = True
                self.position, self.position_lost = None, True
                self.needs_homing = ('the board reset when its port was reopened', 0)
                error.message += '; reconnected and lifted the pen (position not trusted)'
                return
            except PlotError:
                self._close_port()
                time.sleep(0.1)
        self.pen_up = None
        self.position, self.position_lost = None, True
        error.message += '; could not reconnect to lift the pen'
