"""Driving an AxiDraw through its EiBotBoard (EBB) over pyserial.

Why it is written this way:
- The board is found by its USB id (04D8:FD92) when the port is 'auto', and it must answer
  ``V`` with an EBB version string before anything moves.
- The EBB executes constant-rate moves (``SM,ms,steps1,steps2``); acceleration is made by
  sampling the kinematic profile of each path into short moves (about ``chunk_s`` long),
  with step positions and durations rounded without accumulating error. The AxiDraw's two
  motors are in a CoreXY-like arrangement: motor1 = x + y, motor2 = x - y (in steps).
- ``OK`` alone is not success: an error is a ``!`` line before the ``OK``.
- The EBB queues one move and a 1-deep FIFO, and a third blocks its parser, so before each
  motion command the driver polls ``QG`` until the FIFO is free (at most two in flight).
- After each path, the pen-up command is followed by waiting for an idle motion queue,
  which is how the driver *knows* that the path's strokes are done.
- Cancel: ``ES`` (stops and empties the queue at once), pen up, ``QS`` for where the
  carriage stopped, park.
"""
import math
import time
from dataclasses import dataclass, field

import numpy as np

from dream_plotter.driver import Driver
from dream_plotter.motion_profile import travel_profile
from dream_plotter.outcome import ErrorCode, PlotError
from dream_plotter.serial_ports import (DEFAULT_ALLOWED_PORTS, LineReader, check_allowed,
                                        find_usb_port, open_serial, write_bytes)
from dream_plotter.timeline import HOME

AXIDRAW_USB_ID = (0x04D8, 0xFD92)
# Pen travel (x, y) in mm of each AxiDraw model, from the paper origin (EMSL's figures): a
# path beyond it runs the carriage into its end stop. 'none': not limited.
AXIDRAW_MODELS = {'V3': (300.0, 218.0),        # also SE/A4
                  'A3': (430.0, 297.0),        # V3/A3, SE/A3
                  'XLX': (595.0, 218.0),
                  'MiniKit': (160.0, 101.6),
                  'none': (0.0, 0.0)}


def axidraw_travel(model):
    """The (x, y) travel in mm of an AxiDraw model name (any case)."""
    for name, travel in AXIDRAW_MODELS.items():
        if name.lower() == str(model).strip().lower():
            return travel
    raise ValueError(f'unknown AxiDraw model {model!r}: use one of '
                     f'{", ".join(AXIDRAW_MODELS)}')


MAX_STEP_RATE = 25000.0
GARBAGE_LIMIT = 20


@dataclass
class AxiDrawSettings:
    port: str = 'auto'                  # 'auto': find the board by its USB id
    baudrate: int = 115200              # ignored by USB CDC, kept for pyserial
    steps_per_mm: float = 80.0          # 2032 steps per inch at 1/16 microstepping
    pen_up_position: int = 16000        # SC,4 servo value
    pen_down_position: int = 12000      # SC,5 servo value
    chunk_s: float = 0.03               # target duration of one SM move
    reply_timeout: float = 5.0          # s
    idle_timeout: float = 120.0         # s waiting for the motion queue to drain
    poll_interval: float = 0.002        # s between QG polls while the FIFO is full
    reconnect_timeout: float = 3.0
    disable_motors_on_close: bool = True
    allowed_ports: tuple = field(default=DEFAULT_ALLOWED_PORTS)

    def check(self):
        if not (math.isfinite(self.steps_per_mm) and self.steps_per_mm > 0):
            raise ValueError('steps_per_mm must be > 0')
        if not 0.005 <= self.chunk_s <= 1.0:
            raise ValueError('chunk_s must be 0.005..1 s')
        return self


class EbbError(PlotError):
    pass


class AxiDrawDriver(Driver):
    name = 'axidraw'

    def __init__(self, settings=None):
        super().__init__()
        self.settings = (settings or AxiDrawSettings()).check()
        self.port = None
        self.reader = None
        self.version = ''
        self.steps = (0, 0)             # commanded motor position
        self.device_name = ''

    # frames -------------------------------------------------------------------------------
    def to_steps(self, points):
        """Absolute motor steps (n, 2) for paper points (n, 2) in mm."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        spm = self.settings.steps_per_mm
        return np.rint(np.column_stack([pts[:, 0] + pts[:, 1], pts[:, 0] - pts[:, 1]])
                       * spm).astype(np.int64)

    def to_paper(self, m1, m2):
        spm = self.settings.steps_per_mm
        return (m1 + m2) / (2 * spm), (m1 - m2) / (2 * spm)

    # connection ---------------------------------------------------------------------------
    def resolve_port(self):
        port = self.settings.port
        if port == 'auto':
            port = find_usb_port(*AXIDRAW_USB_ID)
            if port is None:
                raise PlotError(ErrorCode.CONNECTION_LOST,
                                'no AxiDraw found (USB 04D8:FD92): is it plugged in and '
                                'powered?')
        return check_allowed(port, self.settings.allowed_ports)

    def connect(self):
        s = self.settings
        self.device_name = self.resolve_port()
        self.port = open_serial(self.device_name, s.baudrate)
        self.reader = LineReader(self.port)
        try:
            self._handshake()
        except PlotError:
            self._close_port()
            raise

    def _handshake(self):
        s = self.settings
        self.reader.drain()
        write_bytes(self.port, b'\r')          # flush a half-typed command, if any
        time.sleep(0.02)
        self._discard_input()
        self.reader.drain()
        write_bytes(self.port, b'V\r')
        line = self.reader.readline(s.reply_timeout)
        if line is None and self.reader.buf:
            line = bytes(self.reader.buf[:40]).decode('ascii', errors='replace')
        if line is None:
            raise PlotError(ErrorCode.TIMEOUT, f'no answer from {self.device_name} to "V": '
                                               'is it an AxiDraw?')
        if not line.startswith('EBB'):
            raise PlotError(ErrorCode.DEVICE, f'{self.device_name} is not an EiBotBoard '
                                              f'(answered {line[:40]!r})')
        self.version = line
        self.command(f'SC,4,{int(s.pen_up_position)}')
        self.command(f'SC,5,{int(s.pen_down_position)}')
        self.command('EM,1,1')                  # 1/16 steps; zeroes the step counters here
        self.steps = (0, 0)
        self.position = HOME
        self.command('SP,1,150')
        self.pen_up = True

    def _discard_input(self):
        while self.reader.poll() is not None:
            pass

    def _close_port(self):
        if self.port is not None:
            try:
                self.port.close()
            except Exception:  # noqa: BLE001
                pass
        self.port = None
        self.reader = None

    def close(self):
        if self.port is not None:
            try:
                self.lift_pen()
                self.wait_idle()
                if self.settings.disable_motors_on_close:
                    self.command('EM,0,0')
            except PlotError:
                pass
        self._close_port()

    def lift_pen(self):
        if self.port is None:
            return
        self.command('SP,1,150')
        self.pen_up = True

    # protocol -----------------------------------------------------------------------------
    def command(self, text):
        """Send a command and return the lines before its OK; ``!`` lines raise."""
        write_bytes(self.port, (text + '\r').encode('ascii'))
        lines, garbage = [], 0
        while True:
            line = self.reader.readline(self.settings.reply_timeout)
            if line is None:
                raise PlotError(ErrorCode.TIMEOUT, f'no OK from the EBB to {text!r}')
            if line == 'OK':
                break
            if line.startswith('!'):
                code = ''.join(ch for ch in line[1:4] if ch.isdigit())
                self._expect_ok()
                raise EbbError(ErrorCode.DEVICE, f'EBB error on {text!r}: {line}',
                               int(code) if code else 0)
            lines.append(line)
            garbage += 1
            if garbage > GARBAGE_LIMIT:
                raise PlotError(ErrorCode.DEVICE, f'the EBB answers garbage to {text!r}')
        return lines

    def _expect_ok(self):
        line = self.reader.readline(self.settings.reply_timeout)
        if line not in (None, 'OK'):
            self.reader.buf[:0] = (line + '\r\n').encode()

    def query_status(self):
        """The QG status byte (bit 4 pen up, 3 command executing, 0 FIFO not empty)."""
        write_bytes(self.port, b'QG\r')
        for _ in range(GARBAGE_LIMIT):
            line = self.reader.readline(self.settings.reply_timeout)
            if line is None:
                raise PlotError(ErrorCode.TIMEOUT, 'no answer from the EBB to QG')
            try:
                return int(line, 16)
            except ValueError:
                if line.startswith('!'):
                    raise PlotError(ErrorCode.DEVICE, f'EBB error on QG: {line}')
        raise PlotError(ErrorCode.DEVICE, 'the EBB answers garbage to QG')

    def wait_fifo(self, run=None):
        while self.query_status() & 0x01:
            if run is not None:
                run.check_cancel()
            time.sleep(self.settings.poll_interval)

    def wait_idle(self, run=None):
        deadline = time.monotonic() + self.settings.idle_timeout
        while self.query_status() & 0x0F:
            if run is not None:
                run.check_cancel()
            if time.monotonic() > deadline:
                raise PlotError(ErrorCode.TIMEOUT, 'the EBB motion queue did not drain')
            time.sleep(self.settings.poll_interval)

    def query_steps(self):
        for line in self.command('QS'):
            parts = line.split(',')
            if len(parts) == 2:
                return int(parts[0]), int(parts[1])
        raise PlotError(ErrorCode.DEVICE, 'the EBB gave no step position to QS')

    # motion -------------------------------------------------------------------------------
    def moves_for(self, profile):
        """(ms, d1, d2) SM moves that follow ``profile`` from the current step position."""
        if profile.duration <= 0 or len(profile.points) < 2:
            return []
        chunk = self.settings.chunk_s
        times = []
        for i in range(len(profile.vertex_times) - 1):
            t0, t1 = profile.vertex_times[i], profile.vertex_times[i + 1]
            n = max(1, int(math.ceil((t1 - t0) / chunk)))
            times.append(t0 + (t1 - t0) * np.arange(1, n + 1) / n)
        times = np.concatenate(times)
        targets = self.to_steps(profile.point_at(times))
        targets[-1] = self.to_steps(profile.points[-1:])[0]
        ms_cum = np.rint(times * 1000.0)
        moves, prev_ms = [], 0.0
        cur = np.array(self.steps, dtype=np.int64)
        for k in range(len(times)):
            if ms_cum[k] - prev_ms < 1 and k != len(times) - 1:
                continue                       # shorter than 1 ms: merged into the next
            d = targets[k] - cur
            ms = max(int(ms_cum[k] - prev_ms), 1)
            ms = max(ms, int(math.ceil(np.abs(d).max() * 1000.0 / MAX_STEP_RATE)))
            if d.any() or k == len(times) - 1:
                moves.append((ms, int(d[0]), int(d[1])))
            prev_ms = ms_cum[k]
            cur = targets[k]
        return moves

    def _follow(self, run, profile, index, pen_down):
        for ms, d1, d2 in self.moves_for(profile):
            run.check_cancel()
            self.wait_fifo(run)
            self.command(f'SM,{ms},{d1},{d2}')
            self.steps = (self.steps[0] + d1, self.steps[1] + d2)
            self.position = self.to_paper(*self.steps)
            run.report(index, position=self.position, pen_down=pen_down)

    def _pen(self, run, up, delay_s):
        self.wait_fifo(run)
        self.command(f'SP,{1 if up else 0},{int(round(delay_s * 1000))}')

    def _run(self, run):
        if self.port is None:
            raise PlotError(ErrorCode.NOT_ACTIVE, 'the AxiDraw is not connected')
        lim = run.plan.settings.limits
        self._discard_input()
        self._pen(run, True, lim.pen_up_delay)
        self.pen_up = True
        for index, phase in enumerate(run.phases):
            run.check_cancel()
            if phase.kind in ('travel', 'draw'):
                self._follow(run, phase.profile, index, phase.kind == 'draw')
                if phase.kind == 'travel':
                    run.finish_phase(phase)
            elif phase.kind == 'pen_down':
                self._pen(run, False, lim.pen_down_delay)
                self.pen_up = False
                run.finish_phase(phase)
            elif phase.kind == 'pen_up':
                self._pen(run, True, lim.pen_up_delay)
                self.wait_idle(run)            # the path before is now really drawn
                self.pen_up = True
                run.finish_phase(run.phases[index - 1])
                run.finish_phase(phase)
            elif phase.kind == 'pen_change':
                self.wait_idle(run)
                if self.pen_change_hook is not None:
                    self.pen_change_hook(phase.pen, run.plan.pen_color(phase.pen))
                run.cancel_event.wait(phase.duration)   # pen_change_time, as GRBL dwells
                run.check_cancel()
                run.finish_phase(phase)
            run.report(index + 1, position=self.position, pen_down=not self.pen_up)
        self.wait_idle(run)

    # stopping -----------------------------------------------------------------------------
    def _stop(self, run, error):
        if error.code == ErrorCode.CONNECTION_LOST:
            self._recover_lost_port(error)
            return
        try:
            self.command('ES')
            self.command(f'SP,1,{int(round(run.plan.settings.limits.pen_up_delay * 1000))}')
            self.pen_up = True
            self.wait_idle()
            self.steps = self.query_steps()
            self.position = self.to_paper(*self.steps)
            if error.code in (ErrorCode.CANCELLED, ErrorCode.DEVICE, ErrorCode.TIMEOUT):
                prof = travel_profile(self.position, HOME, run.plan.settings.limits)
                for ms, d1, d2 in self.moves_for(prof):
                    self.wait_fifo()
                    self.command(f'SM,{ms},{d1},{d2}')
                    self.steps = (self.steps[0] + d1, self.steps[1] + d2)
                self.wait_idle()
                run.pen_up_mm += prof.length
                self.position = self.to_paper(*self.steps)
        except PlotError as exc:
            if exc.code == ErrorCode.CONNECTION_LOST:
                self._recover_lost_port(exc)
            raise

    def _recover_lost_port(self, error):
        self._close_port()
        deadline = time.monotonic() + self.settings.reconnect_timeout
        while time.monotonic() < deadline:
            try:
                self.device_name = self.resolve_port()
                self.port = open_serial(self.device_name, self.settings.baudrate)
                self.reader = LineReader(self.port)
                self._handshake()               # lifts the pen; position is reset
                error.message += '; reconnected and lifted the pen (position not trusted)'
                return
            except PlotError:
                self._close_port()
                time.sleep(0.1)
        self.pen_up = None
        error.message += '; could not reconnect to lift the pen'
