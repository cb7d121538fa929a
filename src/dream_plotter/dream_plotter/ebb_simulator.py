"""An AxiDraw's EiBotBoard (EBB firmware 2.8) simulated behind a pty or socket.

Commands end in CR; replies end in ``OK`` and an error is a line starting with ``!`` (then
``OK``). Motion commands (SM, SP with a delay) go through the EBB's motion queue: one
executing and a 1-deep FIFO; a third motion command blocks the command parser, as on the
real board. Step rates above 25 kHz are refused. Pen-down polylines are recorded in motor
step coordinates (``episodes``).

Faults: ``error_on_command`` ({n: text}, the n-th motion command gets ``!text``),
``vanish_after_command`` (the port disappears on command n), ``time_factor`` (> 0: moves take
their duration times this factor), ``split_replies``, ``garbage``, ``silent``.
"""
from dream_plotter.device_simulator import SimulatedPort

VERSION = 'EBBv13_and_above EB Firmware Version 2.8.1'
MAX_RATE = 25000


class EbbSimulator(SimulatedPort):

    def __init__(self, transport='pty', *, time_factor=0.0, error_on_command=None,
                 vanish_after_command=None, reappear_after=None, garbage=False, silent=False,
                 split_replies=False, fifo_depth=1, seed=0):
        super().__init__(transport, split_replies, seed)
        self.time_factor = time_factor
        self.error_on_command = dict(error_on_command or {})
        self.vanish_after_command = vanish_after_command
        self.reappear_after = reappear_after
        self.garbage = garbage
        self.silent = silent
        self.fifo_depth = fifo_depth
        self.steps = [0, 0]
        self.pen_is_up = True
        self.episodes = []
        self.commands = []
        self.max_queued = 0
        self.rate_errors = 0
        self.servo = {}
        self._power_on()

    def _power_on(self):
        self.inbuf = bytearray()
        self.queue = []             # [kind, ..., duration_s]; queue[0] is executing
        self.elapsed = 0.0
        self.motion_count = 0
        self.motors = (0, 0)
        self._last_tick = None
        if not self.pen_is_up:
            self.pen_is_up = True   # an unpowered servo lets the pen spring up

    def on_power_loss(self):
        self._freeze()
        self._power_on()

    def _say(self, text):
        if self.silent:
            return
        if self.garbage:
            self.write(bytes(self.rng.randrange(256) for _ in range(len(text) + 2)))
            return
        self.write(text)

    def on_data(self, data):
        self.inbuf.extend(data)
        self._process()

    def _process(self):
        while self._present and b'\r' in self.inbuf:
            i = self.inbuf.index(b'\r')
            raw = bytes(self.inbuf[:i]).decode('ascii', errors='replace').replace(
                '\n', '').strip()
            name = raw.split(',')[0].upper()
            if name in ('SM', 'SP', 'XM') and self.time_factor > 0 and \
                    len(self.queue) >= 1 + self.fifo_depth:
                return                     # the parser blocks until the FIFO has room
            del self.inbuf[:i + 1]
            if raw:
                self.commands.append(raw)
                self._command(name, raw.split(',')[1:], raw)
            if self.time_factor <= 0:
                self._run_instant()

    def _error(self, text):
        self._say(f'!{text}\r\nOK\r\n')

    def _ints(self, args, n_min, n_max):
        if not n_min <= len(args) <= n_max:
            raise ValueError('wrong number of parameters')
        return [int(a) for a in args]

    def _command(self, name, args, raw):
        try:
            if name == 'V':
                self._say(VERSION + '\r\n')
            elif name == 'EM':
                self.motors = tuple(self._ints(args, 1, 2))
                self.steps = [0, 0]
                self._say('OK\r\n')
            elif name == 'SC':
                a = self._ints(args, 2, 2)
                self.servo[a[0]] = a[1]
                self._say('OK\r\n')
            elif name in ('SP', 'SM'):
                self.motion_count += 1
                n = self.motion_count
                if n == self.vanish_after_command:
                    self.vanish_after_command = None
                    self.vanish(self.reappear_after)
                    return
                if n in self.error_on_command:
                    self._error(self.error_on_command.pop(n))
                    return
                if name == 'SP':
                    a = self._ints(args, 1, 3)
                    delay = (a[1] if len(a) > 1 else 0) / 1000.0
                    self.queue.append(['pen', a[0] == 1, delay])
                else:
                    ms, s1, s2 = self._ints(args, 3, 3)
                    if not 1 <= ms <= 16777215:
                        self._error('0 Err: duration out of range')
                        return
                    if max(abs(s1), abs(s2)) * 1000.0 / ms > MAX_RATE:
                        self.rate_errors += 1
                        self._error('0 Err: step rate > 25K steps/second')
                        return
                    self.queue.append(['move', s1, s2, ms / 1000.0])
                self.max_queued = max(self.max_queued, len(self.queue))
                self._say('OK\r\n')
            elif name == 'QG':
                self._say(f'{self._status():02X}\r\n')
            elif name == 'QS':
                self._freeze(keep=True)
                self._say(f'{self.steps[0]},{self.steps[1]}\n\rOK\r\n')
            elif name == 'QP':
                self._say(f'{int(self.pen_is_up)}\n\rOK\r\n')
            elif name == 'ES':
                interrupted = int(bool(self.queue))
                self._freeze()
                self.queue = []
                self._say(f'{interrupted},0,0,0,0\n\rOK\r\n')
            elif name in ('R', 'CS'):
                if name == 'CS':
                    self.steps = [0, 0]
                self._say('OK\r\n')
            else:
                self._error(f"8 Err: Unknown command '{raw[:16]}'")
        except ValueError as exc:
            self._error(f'8 Err: {exc} in {raw[:24]!r}')

    def _status(self):
        executing = bool(self.queue)
        moving = executing and self.queue[0][0] == 'move'
        fifo = len(self.queue) > 1
        return (int(self.pen_is_up) << 4) | (int(executing) << 3) | (int(moving) << 2) | \
            (int(moving) << 1) | int(fifo)

    # execution ----------------------------------------------------------------------------
    def _finish(self, entry):
        if entry[0] == 'pen':
            up = entry[1]
            if not up and self.pen_is_up:
                self.episodes.append([tuple(self.steps)])
            self.pen_is_up = up
        else:
            self.steps = [self.steps[0] + entry[1], self.steps[1] + entry[2]]
            if not self.pen_is_up:
                self.episodes[-1].append(tuple(self.steps))

    def _run_instant(self):
        while self.queue:
            self._finish(self.queue.pop(0))

    def _freeze(self, keep=False):
        """Stop the executing move where it is (ES, power loss); ``keep`` only reports."""
        if self.time_factor <= 0 or not self.queue or self.queue[0][0] != 'move':
            return
        entry = self.queue[0]
        total = entry[3] * self.time_factor
        f = min(self.elapsed / total, 1.0) if total > 0 else 1.0
        d1, d2 = int(entry[1] * f), int(entry[2] * f)
        if keep:
            return
        self._finish(['move', d1, d2, 0.0])
        self.queue.pop(0)
        self.elapsed = 0.0

    def tick(self, now):
        if self._last_tick is None:
            self._last_tick = now
        dt = now - self._last_tick
        self._last_tick = now
        if self.time_factor <= 0:
            return
        while self.queue:
            entry = self.queue[0]
            need = entry[-1] * self.time_factor - self.elapsed
            if dt < need:
                self.elapsed += dt
                break
            dt -= need
            self.elapsed = 0.0
            self._finish(self.queue.pop(0))
        self._process()
