"""Exceptions of dream_clipdraw, one class per thing a caller must react to differently.

The node maps each to a GenerationResult error code, the ``dream`` command prints its text
on one line; so every message says what was wrong and what to do about it.
"""


class ClipDrawError(Exception):
    """Base class: anything dream_clipdraw reports as a user-facing failure."""


class InvalidPrompt(ClipDrawError, ValueError):
    """The prompt is empty, whitespace, not text, or absurdly long."""


class InvalidOptions(ClipDrawError, ValueError):
    """An option is out of range or unknown (0 strokes, negative iterations, bad preset...)."""


class ClipModelError(ClipDrawError):
    """CLIP could not be made ready; the subclasses say why."""


class ClipModelUnknown(ClipModelError, ValueError):
    """The architecture name (or the custom config file) is not one open_clip can build."""


class ClipWeightsMissing(ClipModelError, FileNotFoundError):
    """No weights file could be found offline for the requested model."""


class ClipWeightsCorrupt(ClipModelError):
    """A weights file exists but cannot be loaded into the architecture."""


class NumericalError(ClipDrawError, ArithmeticError):
    """The loss or its gradient stayed NaN or infinite; the strokes were never touched."""


class InvalidDrawing(ClipDrawError, ValueError):
    """A drawing file or message is malformed (wrong point counts, colours out of range...)."""
