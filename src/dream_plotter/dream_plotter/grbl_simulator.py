"""A GRBL 1.1 pen plotter simulated behind a pty or socket, with fault injection.

It keeps GRBL's 128-byte receive buffer (overflows are counted, never silently absorbed),
a 15-block planner, the real-time bytes (``?`` ``!`` ``~`` 0x18), ``ok``/``error:N``
replies, ``ALARM:N`` pushes, and records every pen-down polyline it draws (``episodes``)
so tests can check that no stroke is lost or drawn twice and that the pen ends up.

Alarms as in GRBL 1.1: a hard or soft limit (ALARM:1/2) blocks every line until a soft reset;
the alarm survives the reset, and G-code then gets ``error:9`` until ``$X`` (unlock) or
``$H`` (homing, state ``Home`` while it runs, then Idle at ``home``). ``homing`` is ``$22``
(printed by ``$$``, settable): with it GRBL powers up locked in Alarm, as HOMING_INIT_LOCK
does; without it ``$H`` is ``error:5``. Opening the port is a power-up (an Arduino resets).

Faults: ``error_on_line`` ({n: code}, the n-th G-code line gets ``error:code``),
``alarm_after_line`` (``ALARM:alarm_code``, default 1, after executing line n),
``vanish_after_line`` (the port disappears on line n), ``time_factor`` (> 0: moves take
length/feed * time_factor seconds, so a slow device fills its buffers), ``split_replies``,
``garbage`` (answers noise), ``silent`` (never answers).
"""
import math
import re

from dream_plotter.device_simulator import SimulatedPort

BANNER = "\r\nGrbl 1.1h ['$' for help]\r\n"
RX_BUFFER = 128
PLANNER_BLOCKS = 15
HOMING_SEEK = 3000.0             # mm/min
LOCKED = -1                      # alarm state without an ALARM:N push (power-up lock)
WORD = re.compile(r'([A-Z])([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))')


class GrblSimulator(SimulatedPort):

    def __init__(self, transport='pty', *, pen_mode='servo', servo_threshold=500.0,
                 z_threshold=1.0, time_factor=0.0, baud=115200, error_on_line=None,
                 alarm_after_line=None, alarm_code=1, vanish_after_line=None,
                 reappear_after=None, homing=True, home=(0.0, 0.0), garbage=False,
                 silent=False, split_replies=False, seed=0):
        super().__init__(transport, split_replies, seed)
        self.pen_mode = pen_mode
        self.servo_threshold = servo_threshold
        self.z_threshold = z_threshold
        self.time_factor = time_factor
        self.baud = baud
        self.error_on_line = dict(error_on_line or {})
        self.alarm_after_line = alarm_after_line
        self.alarm_code = alarm_code
        self.homing = homing             # GRBL setting $22
        self.home = tuple(home)          # machine x, y where homing ends
        self.vanish_after_line = vanish_after_line
        self.reappear_after = reappear_after
        self.garbage = garbage
        self.silent = silent
        # observable state
        self.pos = [0.0, 0.0, z_threshold + 1.0]   # a Z pen starts lifted
        self.episodes = []           # pen-down polylines, machine frame [(x, y), ...]
        self.overflows = 0
        self.max_rx = 0
        self.lines = []              # every line received
        self.resets = 0
        self.alarms = []
        self.status_queries = 0
        self.homings = 0
        self.pen_down = False
        self._power_on()

    def _power_on(self):
        self.rx = bytearray()
        self.queue = []              # planned entries; motion blocks and synced commands
        self.blocked = False         # a synchronising command waits for the queue
        self.hold = False
        self.alarm = 0
        self.critical = False        # ALARM:1/2: nothing but a reset is served
        self.check_mode = False
        self.spindle_on = False
        self.spindle_s = 0.0
        self.spindle_commanded = False
        self.s_commanded = 0.0
        self.feed = None
        self.modal_motion = 0
        self.absolute = True
        self.line_count = 0
        self._entry_elapsed = 0.0
        self._last_tick = None
        self._update_pen()

    # pen state ---------------------------------------------------------------------------
    def _pen_now(self):
        if self.pen_mode == 'servo':
            return self.spindle_on and self.spindle_s >= self.servo_threshold
        return self.pos[2] <= self.z_threshold

    def _update_pen(self):
        down = self._pen_now()
        if down and not self.pen_down:
            self.episodes.append([(self.pos[0], self.pos[1])])
        self.pen_down = down

    def _moved(self, x, y):
        if self.pen_down and self.episodes:
            self.episodes[-1].append((x, y))

    # transport hooks ----------------------------------------------------------------------
    def on_open(self):
        self._reset(banner=True, from_open=True)

    def on_power_loss(self):
        self._freeze()
        self.spindle_on = False
        self._power_on()

    def _say(self, text):
        if self.silent:
            return
        if self.garbage:
            self.write(bytes(self.rng.randrange(256) for _ in range(len(text) + 3)))
            return
        if self.host_baud not in (None, self.baud):
            self.write(bytes(self.rng.randrange(128, 256) for _ in range(len(text))))
            return
        self.write(text)

    def on_data(self, data):
        for b in data:
            if b == ord('?'):
                self.status_queries += 1
                self._say(self._status() + '\r\n')
            elif b == ord('!'):
                if self.queue and not self.alarm and self.queue[0][0] != 'home':
                    self._freeze()
                    self.hold = True
            elif b == ord('~'):
                self.hold = False
            elif b == 0x18:
                self._reset(banner=True)
            elif b == 0x85:
                pass
            else:
                if len(self.rx) >= RX_BUFFER:
                    self.overflows += 1
                    continue
                self.rx.append(b)
                self.max_rx = max(self.max_rx, len(self.rx))
        self._parse_lines()

    @property
    def state(self):
        """The state word of a status report."""
        if self.queue and self.queue[0][0] == 'home':
            return 'Home'
        if self.alarm:
            return 'Alarm'
        if self.hold:
            return 'Hold:0'
        if self.check_mode:
            return 'Check'
        return 'Run' if self.queue else 'Idle'

    def _status(self):
        x, y, z = self._live_pos()
        feed = self.feed or 0
        return f'<{self.state}|MPos:{x:.3f},{y:.3f},{z:.3f}|FS:{feed:.0f},{self.spindle_s:.0f}>'

    def _live_pos(self):
        """The position part-way through the current move, as real GRBL reports it."""
        if self.time_factor <= 0 or self.hold or self.alarm or not self.queue or \
                self.queue[0][0] not in ('move', 'home'):
            return self.pos
        entry = self.queue[0]
        total = self._entry_time(entry)
        f = min(self._entry_elapsed / total, 1.0) if total > 0 else 1.0
        return [a + (b - a) * f for a, b in zip(self.pos, entry[1])]

    def _reset(self, banner=True, from_open=False):
        moving = bool(self.queue) and self.queue[0][0] == 'move' and not self.hold
        self._freeze()
        alarm = self.alarm
        if moving and not from_open:
            alarm = 3
            self.alarms.append(3)
            self._say('ALARM:3\r\n')
        self.resets += 1
        self._power_on()
        if from_open:                # an Arduino resets when the port opens: a power-up
            alarm = LOCKED if self.homing else 0
        self.alarm = alarm
        if banner:
            self._say(BANNER)
            if self.alarm:
                self._say("[MSG:'$H'|'$X' to unlock]\r\n")

    # parsing ------------------------------------------------------------------------------
    def _parse_lines(self):
        while self._present:
            if self.time_factor <= 0:
                self._run_queue_instant()
            if self.critical or self.blocked or b'\n' not in self.rx or \
                    len(self.queue) >= PLANNER_BLOCKS:
                return
            i = self.rx.index(b'\n')
            raw = bytes(self.rx[:i]).decode('ascii', errors='replace').strip()
            del self.rx[:i + 1]
            self.lines.append(raw)
            if not raw:
                self._say('ok\r\n')
                continue
            self.line_count += 1
            n = self.line_count
            if n == self.vanish_after_line:
                self.vanish_after_line = None
                self.vanish(self.reappear_after)
                return
            if n in self.error_on_line:
                self._say(f'error:{self.error_on_line.pop(n)}\r\n')
                continue
            self._line(raw)
            if self.alarm_after_line is not None and n >= self.alarm_after_line:
                self.alarm_after_line = None
                if self.time_factor <= 0:
                    self._run_queue_instant()
                self._alarm(self.alarm_code)

    def _alarm(self, code):
        self._freeze()
        self.queue.clear()
        self.blocked = False
        self.alarm = code
        self.alarms.append(code)
        self.spindle_on = False      # GRBL's reset kills the spindle: a servo pen lifts
        self._update_pen()
        self._say(f'ALARM:{code}\r\n')
        if code in (1, 2):           # a limit: GRBL serves nothing but a reset until then
            self.critical = True
            self._say('[MSG:Reset to continue]\r\n')

    def _line(self, raw):
        line = re.sub(r'\(.*?\)|;.*$', '', raw).replace(' ', '').upper()
        if not line:
            self._say('ok\r\n')
            return
        if line.startswith('$'):
            self._system(line)
            return
        if self.alarm:
            self._say('error:9\r\n')
            return
        if len(raw) > 80:
            self._say('error:14\r\n')
            return
        words = WORD.findall(line)
        if ''.join(a + b for a, b in words) != line:
            bad = re.sub(WORD, '', line)
            self._say('error:2\r\n' if bad and bad[0].isalpha() else 'error:1\r\n')
            return
        target = self.pos_after_queue()
        motion = None
        dwell = None
        spindle = None
        s_value = None
        for letter, value in words:
            v = float(value)
            if letter == 'G':
                code = v
                if code in (0, 1):
                    self.modal_motion = int(code)
                    motion = motion or 'move'
                elif code == 4:
                    dwell = 0.0
                elif code == 90:
                    self.absolute = True
                elif code == 91:
                    self.absolute = False
                elif code in (17, 21, 94, 54, 40, 49, 80):
                    pass
                else:
                    self._say('error:20\r\n')
                    return
            elif letter == 'M':
                if v == 3:
                    spindle = True
                elif v == 5:
                    spindle = False
                elif v in (0, 2, 30):
                    pass
                else:
                    self._say('error:20\r\n')
                    return
            elif letter in 'XYZ':
                i = 'XYZ'.index(letter)
                target[i] = v if self.absolute else target[i] + v
                motion = motion or 'move'
            elif letter == 'F':
                if v <= 0:
                    self._say('error:3\r\n')
                    return
                self.feed = v
            elif letter == 'S':
                s_value = v
            elif letter == 'P':
                if dwell is None:
                    self._say('error:20\r\n')
                    return
                dwell = v
            else:
                self._say('error:20\r\n')
                return
        if spindle is not None or s_value is not None:
            if s_value is not None:
                self.s_commanded = s_value
            on = self.spindle_commanded if spindle is None else spindle
            self.spindle_commanded = on
            self.queue.append(('spindle', on, self.s_commanded))
            self.blocked = True
        if motion and target != self.pos_after_queue():
            if self.modal_motion == 1 and not self.feed:
                self._say('error:22\r\n')
                return
            if self.check_mode:
                self._say('ok\r\n')
                return
            feed = self.feed if self.modal_motion == 1 else 6000.0
            self.queue.append(('move', target, feed))
        if dwell is not None:
            self.queue.append(('dwell', dwell))
            self.blocked = True
        if not self.blocked:
            self._say('ok\r\n')
        else:
            self.queue.append(('ack',))

    def pos_after_queue(self):
        for entry in reversed(self.queue):
            if entry[0] == 'move':
                return list(entry[1])
        return list(self.pos)

    def _system(self, line):
        if line == '$X':
            if self.alarm:
                self.alarm = 0
                self._say('[MSG:Caution: Unlocked]\r\n')
            self._say('ok\r\n')
        elif line == '$C':
            self.check_mode = not self.check_mode
            self._say('[MSG:Enabled]\r\n' if self.check_mode else '[MSG:Disabled]\r\n')
            self._say('ok\r\n')
        elif line == '$H':
            if not self.homing:
                self._say('error:5\r\n')
                return
            self.alarm = 0               # GRBL homes from the alarm lock; ok once done
            self.queue += [('home', [*self.home, self.pos[2]], HOMING_SEEK), ('ack',)]
            self.blocked = True
        elif line == '$$':
            self._say(f'$20=0\r\n$21={int(self.homing)}\r\n$22={int(self.homing)}\r\n'
                      f'$23=0\r\n$24=500.000\r\n$25={HOMING_SEEK:.3f}\r\n$27=1.000\r\n'
                      '$30=1000\r\n$32=0\r\nok\r\n')
        elif line.startswith('$22='):
            self.homing = line[4:] == '1'
            self._say('ok\r\n')
        elif line == '$I':
            self._say('[VER:1.1h.20190825:]\r\n[OPT:V,15,128]\r\nok\r\n')
        else:
            self._say('ok\r\n')

    # execution ----------------------------------------------------------------------------
    def _finish_entry(self, entry):
        kind = entry[0]
        if kind in ('move', 'home'):
            self.pos = list(entry[1])
            self._moved(self.pos[0], self.pos[1])
            self._update_pen()
            if kind == 'home':
                self.homings += 1
        elif kind == 'spindle':
            self.spindle_on, self.spindle_s = entry[1], entry[2]
            self._update_pen()
        elif kind == 'ack':
            self.blocked = False
            self._say('ok\r\n')

    def _run_queue_instant(self):
        while self.queue and not self.hold and not self.alarm:
            self._finish_entry(self.queue.pop(0))

    def _entry_time(self, entry):
        if entry[0] in ('move', 'home'):
            dist = math.dist(self.pos, entry[1])
            return dist / (entry[2] / 60.0) * self.time_factor
        if entry[0] == 'dwell':
            return entry[1] * self.time_factor
        return 0.0

    def _freeze(self):
        """Stop where the current move is (hold, reset, alarm, power loss)."""
        if self.time_factor <= 0 or not self.queue or self.queue[0][0] not in ('move', 'home'):
            return
        entry = self.queue[0]
        total = self._entry_time(entry)
        f = min(self._entry_elapsed / total, 1.0) if total > 0 else 1.0
        start = list(self.pos)
        self.pos = [a + (b - a) * f for a, b in zip(start, entry[1])]
        self._moved(self.pos[0], self.pos[1])
        self._entry_elapsed = 0.0

    def tick(self, now):
        if self._last_tick is None:
            self._last_tick = now
        dt = now - self._last_tick
        self._last_tick = now
        if self.time_factor <= 0:
            return
        while self.queue and not self.hold and not self.alarm and dt >= 0:
            entry = self.queue[0]
            need = self._entry_time(entry) - self._entry_elapsed
            if dt < need:
                self._entry_elapsed += dt
                break
            dt -= need
            self._entry_elapsed = 0.0
            self.queue.pop(0)
            self._finish_entry(entry)
        self._parse_lines()
