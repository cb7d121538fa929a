"""Serving a simulated serial device on a pseudo-terminal or a loopback socket.

The drivers then talk to it through pyserial exactly as to hardware. A pty device is reached
through a stable symlink (like /dev/serial/by-id/...), so it can vanish and come back
("USB unplugged") under the same name. Opening a pty cannot be seen directly; pyserial sets
the line speed when it opens the port, so the simulator parks the pty at a sentinel speed and
treats a change as "the port was opened" (a real Arduino resets at that moment).
"""
import os
import random
import select
import socket
import tempfile
import termios
import threading
import time
import tty

SENTINEL_SPEED = termios.B50
SPEEDS = {getattr(termios, f'B{b}'): b for b in (9600, 19200, 38400, 57600, 115200, 230400)
          if hasattr(termios, f'B{b}')}


class SimulatedPort:
    """Base class: transport, threading and fault plumbing; subclasses speak a protocol."""

    open_delay = 0.03   # s between the port opening and the device's first output

    def __init__(self, transport='pty', split_replies=False, seed=0):
        if transport not in ('pty', 'socket'):
            raise ValueError('transport must be "pty" or "socket"')
        self.transport = transport
        self.split_replies = split_replies
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.host_baud = None
        self._master = self._slave = None
        self._listen = self._conn = None
        self._dir = tempfile.mkdtemp(prefix='dream-sim-')
        self._link = os.path.join(self._dir, 'tty')
        self._running = False
        self._thread = None
        self._open_at = None
        self._present = False
        self._reappear_at = None
        self._port_number = 0

    # lifecycle ----------------------------------------------------------------------------
    @property
    def url(self):
        if self.transport == 'pty':
            return self._link
        return f'socket://127.0.0.1:{self._port_number}'

    def start(self):
        self._appear()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._disappear()
        try:
            os.unlink(self._link)
        except OSError:
            pass
        try:
            os.rmdir(self._dir)
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def vanish(self, reappear_after=None):
        """The device disappears (USB unplugged); optionally it comes back later."""
        with self.lock:
            self._disappear()
            self.on_power_loss()
            if reappear_after is not None:
                self._reappear_at = time.monotonic() + reappear_after

    # transport ----------------------------------------------------------------------------
    def _appear(self):
        if self.transport == 'pty':
            master, slave = os.openpty()
            tty.setraw(slave)
            attrs = termios.tcgetattr(slave)
            attrs[4] = attrs[5] = SENTINEL_SPEED
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            tmp = self._link + '.new'
            try:
                os.unlink(tmp)
            except OSError:
                pass
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self._link)
        else:
            listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listen.bind(('127.0.0.1', self._port_number))
            listen.listen(1)
            self._port_number = listen.getsockname()[1]
            self._listen = listen
        self._present = True

    def _disappear(self):
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        for sock in (self._conn, self._listen):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self._conn = self._listen = None
        self._present = False
        self._open_at = None

    def write(self, data):
        """Send bytes to the host (split into small fragments when asked to)."""
        if isinstance(data, str):
            data = data.encode('ascii')
        if not self.split_replies or len(data) < 2:
            self._send(data)
            return
        i = 0
        while i < len(data):
            n = self.rng.randint(1, 3)
            self._send(data[i:i + n])
            i += n
            time.sleep(0.0005)

    def _send(self, data):
        try:
            if self._master is not None:
                os.write(self._master, data)
            elif self._conn is not None:
                self._conn.sendall(data)
        except (BlockingIOError, OSError):
            pass  # nobody listening: a real device's output is lost the same way

    def _loop(self):
        while self._running:
            with self.lock:
                if not self._present:
                    if self._reappear_at is not None and time.monotonic() >= \
                            self._reappear_at:
                        self._reappear_at = None
                        self._appear()
                fds = [f for f in (self._master, self._listen, self._conn) if f is not None]
            if not fds:
                time.sleep(0.005)
                continue
            try:
                ready, _, _ = select.select(fds, [], [], 0.002)
            except (OSError, ValueError):
                continue
            with self.lock:
                if not self._present:
                    continue
                self._check_open()
                for f in ready:
                    self._read_from(f)
                if self._open_at is not None and time.monotonic() >= self._open_at:
                    self._open_at = None
                    self.on_open()
                self.tick(time.monotonic())

    def _check_open(self):
        if self._slave is None:
            return
        try:
            attrs = termios.tcgetattr(self._slave)
        except termios.error:
            return
        if attrs[4] != SENTINEL_SPEED:
            self.host_baud = SPEEDS.get(attrs[4], 0)
            attrs[4] = attrs[5] = SENTINEL_SPEED
            termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
            self._open_at = time.monotonic() + self.open_delay

    def _read_from(self, f):
        if f is self._listen:
            conn, _ = self._listen.accept()
            if self._conn is not None:
                self._conn.close()
            self._conn = conn
            self.host_baud = None
            self._open_at = time.monotonic() + self.open_delay
            return
        try:
            data = os.read(f, 4096) if f is self._master else f.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b''
        if not data:
            if f is self._conn:
                self._conn.close()
                self._conn = None
            else:
                time.sleep(0.002)  # pty master with the host side closed: keep waiting
            return
        self.on_data(data)

    # protocol hooks -----------------------------------------------------------------------
    def on_open(self):
        """The host opened the port."""

    def on_data(self, data):
        """Bytes from the host."""

    def tick(self, now):
        """Advance simulated motion."""

    def on_power_loss(self):
        """The device lost power (vanish)."""
