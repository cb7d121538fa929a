"""The drawing as plain Python data: what the optimiser returns and every output is made from.

No torch and no ROS here, so the plotter, the analysis and the files agree on one simple
structure: strokes of cubic Bezier control points in canvas pixels (origin top-left, x
right, y down), with width, RGBA and pen, plus how the drawing was made.
"""
import math
from dataclasses import asdict, dataclass, field

from dream_clipdraw.errors import InvalidDrawing

FORMAT = 'dream-drawing'
FORMAT_VERSION = 1


@dataclass
class Stroke:
    """One open stroke: 3k+1 control points [x, y] for k cubic segments."""

    points: list
    width: float
    color: tuple = (0.0, 0.0, 0.0, 1.0)   # RGBA in [0, 1]
    pen: int = 0                          # index into Drawing.palette; 0 without palette

    @property
    def segments(self):
        return (len(self.points) - 1) // 3

    def flat_points(self):
        """[x0, y0, x1, y1, ...] as in dream_interfaces/Stroke.control_points."""
        return [float(v) for point in self.points for v in point]


@dataclass
class Drawing:
    """A finished (or cancelled) drawing and its provenance."""

    strokes: list
    canvas_width: int
    canvas_height: int
    prompt: str = ''
    negative_prompts: list = field(default_factory=list)
    palette: list = field(default_factory=list)   # RGBA pen colours; empty = free colour
    seed: int = 0
    preset: str = ''
    clip_model: str = ''
    clip_pretrained: str = ''
    renderer: str = ''
    iterations: int = 0            # iterations actually run
    total_iterations: int = 0      # iterations asked for
    score: float = 0.0             # CLIP cosine(text, un-augmented render)
    prompt_truncated: bool = False
    prompt_handling: str = 'single'
    generation_time: float = 0.0   # seconds
    cancelled: bool = False
    nonfinite_steps: int = 0       # steps skipped because the loss or a gradient was NaN/inf
    random_weights: bool = False   # made with an untrained CLIP: timings only, not a result
    session_id: str = ''
    settings: dict = field(default_factory=dict)   # the preset's full settings

    def to_dict(self):
        data = asdict(self)
        data['strokes'] = [{'points': [list(map(float, p)) for p in s.points],
                            'width': float(s.width), 'color': list(map(float, s.color)),
                            'pen': int(s.pen)} for s in self.strokes]
        data['palette'] = [list(map(float, c)) for c in self.palette]
        return {'format': FORMAT, 'version': FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data):
        """Inverse of to_dict; InvalidDrawing names what is wrong."""
        if not isinstance(data, dict) or data.get('format') != FORMAT:
            raise InvalidDrawing(f"not a {FORMAT} document (missing \"format\": \"{FORMAT}\")")
        if data.get('version') != FORMAT_VERSION:
            raise InvalidDrawing(f"unsupported {FORMAT} version {data.get('version')!r}")
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        try:
            values['strokes'] = [Stroke(points=[[float(x), float(y)] for x, y in s['points']],
                                        width=float(s['width']),
                                        color=tuple(float(c) for c in s['color']),
                                        pen=int(s.get('pen', 0)))
                                 for s in data['strokes']]
            values['palette'] = [tuple(float(c) for c in rgba) for rgba in data.get('palette', [])]
            drawing = cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidDrawing(f'malformed drawing: {exc}') from exc
        drawing.validate()
        return drawing

    def validate(self):
        """Raise InvalidDrawing if a stroke could not be drawn as described."""
        if int(self.canvas_width) <= 0 or int(self.canvas_height) <= 0:
            raise InvalidDrawing(f'canvas must be positive, got '
                                 f'{self.canvas_width}x{self.canvas_height}')
        for i, s in enumerate(self.strokes):
            n = len(s.points)
            if n < 4 or (n - 1) % 3:
                raise InvalidDrawing(f'stroke {i} has {n} control points; a chain of cubic '
                                     'segments needs 3k+1 (4, 7, 10...)')
            values = [v for p in s.points for v in p] + [s.width, *s.color]
            if any(not math.isfinite(v) for v in values) or any(len(p) != 2 for p in s.points):
                raise InvalidDrawing(f'stroke {i} has non-finite or malformed values')
            if s.width <= 0:
                raise InvalidDrawing(f'stroke {i} has width {s.width}; widths must be > 0')
            if len(s.color) != 4 or any(c < 0 or c > 1 for c in s.color):
                raise InvalidDrawing(f'stroke {i} colour {s.color} is not RGBA in [0, 1]')
            if self.palette and not 0 <= s.pen < len(self.palette):
                raise InvalidDrawing(f'stroke {i} uses pen {s.pen}; the palette has '
                                     f'{len(self.palette)}')

    def total_length(self):
        """Sum of the strokes' lengths in canvas pixels (what a plotter travels pen-down)."""
        import numpy as np

        from dream_clipdraw.bezier import chain_length
        return float(sum(chain_length(np.asarray(s.points, dtype=float)) for s in self.strokes))
