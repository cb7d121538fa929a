"""Opening serial ports safely: an allow-list, USB discovery, and a line reader.

A public installation must not let a parameter change point a driver at an arbitrary
device, so every port a driver opens is checked against ``allowed_ports`` (shell-style
patterns; ``socket://`` URLs are matched as written).
"""
import fnmatch
import os
import time

from dream_plotter.outcome import ErrorCode, PlotError

DEFAULT_ALLOWED_PORTS = ('/dev/ttyACM*', '/dev/ttyUSB*', '/dev/serial/by-id/*',
                         '/dev/serial/by-path/*')


def check_allowed(port, allowed):
    """Raise NOT_ACTIVE unless ``port`` matches one of the ``allowed`` patterns."""
    if allowed is None:
        return port
    name = port if '://' in port else os.path.normpath(port)
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
        raise PlotError(ErrorCode.NOT_ACTIVE,
                        f'port {port!r} is not in the allowed_ports list '
                        f'({", ".join(allowed) or "empty"})')
    return name


def find_usb_port(vid, pid):
    """Device path of the first serial port with this USB vendor/product id, or None."""
    from serial.tools import list_ports
    for info in sorted(list_ports.comports(), key=lambda p: p.device):
        if info.vid == vid and info.pid == pid:
            return info.device
    return None


def open_serial(url, baudrate, timeout=0.05):
    import serial
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout,
                                     write_timeout=5.0)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PlotError(ErrorCode.CONNECTION_LOST, f'cannot open {url}: {exc}') from exc


class LineReader:
    """Reads CR/LF terminated lines from a pyserial port, tolerating replies split across
    reads; a failing port becomes CONNECTION_LOST."""

    def __init__(self, port):
        self.port = port
        self.buf = bytearray()

    def _fill(self, wait):
        import serial
        try:
            n = self.port.in_waiting
            data = self.port.read(n if n else 1) if (n or wait) else b''
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise PlotError(ErrorCode.CONNECTION_LOST, f'serial port lost: {exc}') from exc
        self.buf.extend(data)
        return bool(data)

    def readline(self, timeout):
        """The next non-empty line (str, stripped), or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._pop()
            if line is not None:
                return line
            if time.monotonic() >= deadline:
                return None
            self._fill(wait=True)

    def poll(self):
        """A complete line if one is already available, else None (does not block)."""
        line = self._pop()
        if line is None and self._fill(wait=False):
            line = self._pop()
        return line

    def _pop(self):
        while True:
            ends = [i for i in (self.buf.find(b'\n'), self.buf.find(b'\r')) if i >= 0]
            if not ends:
                return None
            i = min(ends)
            raw = bytes(self.buf[:i])
            del self.buf[:i + 1]
            text = raw.decode('ascii', errors='replace').strip()
            if text:
                return text

    def drain(self):
        self.buf.clear()


def write_bytes(port, data):
    import serial
    try:
        port.write(data)
    except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
        raise PlotError(ErrorCode.CONNECTION_LOST, f'serial port lost: {exc}') from exc
