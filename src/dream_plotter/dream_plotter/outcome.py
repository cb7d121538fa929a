"""Error codes, progress snapshots and outcomes shared by the planner, drivers and nodes.

They mirror dream_interfaces/PlotResult and PlotFeedback without importing ROS, so the
driver cores and the ``dream plot`` command run (and are tested) without a ROS graph.
"""
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Optional


class ErrorCode(IntEnum):
    """Same numbers as the ERROR_* constants of dream_interfaces/PlotResult."""

    NONE = 0
    CANCELLED = 1
    INVALID_DRAWING = 2
    OUT_OF_BOUNDS = 3
    BUSY = 4
    NOT_ACTIVE = 5
    DEVICE = 6
    DEVICE_ALARM = 7
    CONNECTION_LOST = 8
    TIMEOUT = 9
    INTERNAL = 10


class PlotError(Exception):
    """A failure with its PlotResult code, raised by the planner and the driver cores."""

    def __init__(self, code, message, device_error=0):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.device_error = int(device_error)

    def __str__(self):
        return f'{self.code.name}: {self.message}'


@dataclass
class Progress:
    """One feedback snapshot; stroke numbers count in plan order (see DRIVER_CONTRACT.md)."""

    strokes_done: int = 0
    strokes_total: int = 0
    current_stroke: int = 0
    x: float = 0.0          # mm, paper frame
    y: float = 0.0
    pen_down: bool = False
    progress: float = 0.0   # 0..1 by pen-down path length
    time_left: float = 0.0  # s, estimated


@dataclass
class PlotOutcome:
    """What a driver returns from ``execute``; maps one to one onto PlotResult."""

    error_code: ErrorCode = ErrorCode.NONE
    message: str = ''
    device_error: int = 0
    strokes_done: int = 0
    next_stroke: int = 0
    duration: float = 0.0            # s (simulated seconds for the sim driver)
    pen_down_distance: float = 0.0   # mm actually drawn
    pen_up_distance: float = 0.0     # mm travelled with the pen up
    pen_changes: int = 0
    pen_up: Optional[bool] = True    # pen state at the stop; None when unknown

    @property
    def ok(self):
        return self.error_code == ErrorCode.NONE

    @property
    def label(self):
        """'done' for a finished plot, else the error code's name: for people, not NONE."""
        return 'done' if self.ok else ErrorCode(self.error_code).name

    def as_dict(self):
        data = asdict(self)
        data['error_code'] = int(self.error_code)
        data['error_name'] = ErrorCode(self.error_code).name
        return data
