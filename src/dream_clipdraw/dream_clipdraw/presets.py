"""Named sets of CLIPDraw settings: faithful (the paper), cpu (one minute here), plotter (pens).

``faithful`` is the reference notebook's recipe (see /work/shared/reference/clipdraw.md). It
needs about 4,000 CLIP forward+backward passes, i.e. 10+ minutes of CLIP alone on 2 CPU
cores, so it is for a GPU.

``cpu`` was sized with ``dream bench clipdraw`` (random-weight ViT-B/32, 2 threads, passive
OpenMP). CLIP's forward+backward dominates an iteration and the renderer is cheap even at
the paper's 224 px, 2x2 samples and 256 strokes (0.05 s + 0.05 s backward, against 0.71 s
of CLIP for 4 copies, at load average ~2), so the cut is in CLIP passes only: 2 augmented
copies per step and 100 iterations (200 passes instead of 4,000), keeping the paper's
rendering with 128 strokes. Measured while other jobs shared the 2 cores (load average
2-4): 0.64 s per iteration (CLIP 0.52 s), 82 s for a whole drawing (86 s of CPU). Idle,
CLIP costs ~0.2 s per copy or less (baselines.md: 0.19 s before clip_fastpaths, which cut
it 2.5x), i.e. a drawing in about 30-45 s. ``faithful`` on this CPU: ~0.86 s per
iteration at load ~2, about 14 minutes extrapolated.

``plotter`` draws with real pens: opaque strokes of one fixed width (the pen's), colours
from a small palette (black only by default, up to 8 markers), faint strokes dropped, then
points fine-tuned with colours snapped to the palette; an optional path-length budget caps
the plot time. It is sized like ``cpu`` so the demo runs on the same machine.
"""
from dataclasses import asdict, dataclass, fields, replace

from dream_clipdraw.errors import InvalidOptions

# Marker colours (RGB in [0, 1]); num_pens N uses the first N. Black first: one pen = black.
MARKER_PALETTE = (
    (0.0, 0.0, 0.0),        # black
    (0.85, 0.1, 0.1),       # red
    (0.1, 0.25, 0.8),       # blue
    (0.1, 0.6, 0.2),        # green
    (0.95, 0.55, 0.05),     # orange
    (0.5, 0.15, 0.6),       # purple
    (0.45, 0.25, 0.1),      # brown
    (0.0, 0.65, 0.75),      # cyan
)
MAX_ITERATIONS = 100000
MAX_PATHS = 10000
MAX_CANVAS = 4096
MAX_SAMPLES = 8         # samples per pixel along each axis


@dataclass(frozen=True)
class Preset:
    """Every setting of one optimisation; a preset is a named instance of this."""

    name: str
    num_paths: int = 256
    max_segments: int = 3
    iterations: int = 1000
    canvas_size: int = 224          # square canvas, pixels (the strokes' coordinates)
    render_size: int = 0            # rasterise at this size during optimisation; 0 = canvas
    samples: int = 2                # samples per pixel along each axis
    augmentations: int = 4          # augmented copies per step
    distortion: float = 0.5
    crop_scale: tuple = (0.7, 0.9)
    lr_points: float = 1.0
    lr_widths: float = 0.2          # the notebook's 0.1 on diffvg's half-widths (see below)
    lr_colors: float = 0.01
    # (fraction of the run, points learning rate): applied once each, by fraction of the run.
    lr_schedule: tuple = ((0.5, 0.4), (0.75, 0.1))
    # Widths are FULL stroke widths in pixels. diffvg's stroke_width (the notebook's 1.0,
    # clamped to [1, 50]) is a half-width, so the paper's strokes are these doubled.
    init_width: float = 2.0
    init_jitter: float = 0.05       # each control point moves up to +-5% of the canvas
    width_min: float = 2.0
    width_max: float = 100.0
    negative_weight: float = 0.3
    normalize_input: bool = True    # CLIP's mean/std (the notebook forgot it)
    first_chunk_weight: float = 1.0  # long prompts: weight of the first chunk's embedding
    max_nonfinite: int = 10         # consecutive NaN/inf steps before giving up
    # Plotter settings (num_pens 0 = free colours and widths).
    num_pens: int = 0
    pen_width: float = 2.0          # canvas pixels
    min_alpha: float = 0.25         # strokes fainter than this are dropped at the end
    finetune_iterations: int = 0    # points-only steps after snapping colours
    path_length_budget: float = 0.0  # canvas pixels in total; 0 = none
    length_penalty: float = 0.5     # loss weight of the budget overrun (fraction over)

    @property
    def plotter(self):
        return self.num_pens > 0

    def palette(self):
        """RGB pen colours (tuple of triples), empty for free colour."""
        return MARKER_PALETTE[:self.num_pens]

    def as_dict(self):
        return asdict(self)


PRESETS = {
    'faithful': Preset(name='faithful'),
    'cpu': Preset(name='cpu', num_paths=128, iterations=100, augmentations=2),
    'plotter': Preset(name='plotter', num_paths=64, iterations=90, augmentations=2,
                      num_pens=1, pen_width=2.0, min_alpha=0.25, finetune_iterations=10,
                      lr_colors=0.02),
}


def preset_names():
    return sorted(PRESETS)


def make_preset(name='cpu', **overrides):
    """The named preset with overrides (None values ignored), validated; InvalidOptions if bad."""
    if isinstance(name, Preset):
        base = name
    elif name in PRESETS:
        base = PRESETS[name]
    else:
        raise InvalidOptions(f"unknown preset '{name}': choose one of {', '.join(preset_names())}")
    known = {f.name for f in fields(Preset)} - {'name'}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InvalidOptions(f"unknown option(s) {', '.join(unknown)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    _check_pen_settings(base, changes)
    try:
        preset = replace(base, **changes)
    except TypeError as exc:
        raise InvalidOptions(str(exc)) from exc
    validate(preset)
    return preset


# The plotter preset's settings a user may change (the others are tuning).
PEN_SETTINGS = ('num_pens', 'pen_width', 'path_length_budget')


def is_plotter_preset(name):
    """Whether the preset named ``name`` draws with pens (False for an unknown name)."""
    return name in PRESETS and PRESETS[name].plotter


def _check_pen_settings(base, changes):
    """Pens belong to a preset made for them: asked of another, they would silently turn it
    into a plotter run (opaque strokes, palette colours, no fine-tune) under its name."""
    given = [k for k in PEN_SETTINGS if k in changes]
    if given and not base.plotter:
        raise InvalidOptions(f"{', '.join(given)} apply to the plotter preset only, not "
                             f"'{base.name}': use preset 'plotter'")
    if base.plotter and changes.get('num_pens', 1) == 0:
        raise InvalidOptions(f'the plotter preset needs 1 to {len(MARKER_PALETTE)} pens, got 0 '
                             "(free colours: use preset 'cpu' or 'faithful')")


def lr_at(preset, iteration):
    """Points learning rate at ``iteration`` (0-based): by fraction of the run, not modulo."""
    lr = preset.lr_points
    for fraction, value in preset.lr_schedule:
        if iteration >= fraction * preset.iterations:
            lr = value
    return lr


def validate(p):
    """Raise InvalidOptions naming the first absurd setting."""
    def need(ok, text):
        if not ok:
            raise InvalidOptions(text)

    def integer(value):
        return isinstance(value, int) and not isinstance(value, bool)

    need(integer(p.num_paths) and 1 <= p.num_paths <= MAX_PATHS,
         f'strokes must be an integer in [1, {MAX_PATHS}], got {p.num_paths!r}')
    need(integer(p.iterations) and 0 <= p.iterations <= MAX_ITERATIONS,
         f'iterations must be an integer in [0, {MAX_ITERATIONS}], got {p.iterations!r}')
    need(integer(p.max_segments) and 1 <= p.max_segments <= 64,
         f'max_segments must be in [1, 64], got {p.max_segments!r}')
    need(integer(p.canvas_size) and 8 <= p.canvas_size <= MAX_CANVAS,
         f'canvas size must be an integer in [8, {MAX_CANVAS}], got {p.canvas_size!r}')
    need(integer(p.render_size) and 0 <= p.render_size <= MAX_CANVAS,
         f'render size must be 0 (the canvas) or in [8, {MAX_CANVAS}], got {p.render_size!r}')
    need(p.render_size == 0 or p.render_size >= 8,
         f'render size must be 0 (the canvas) or >= 8, got {p.render_size}')
    need(integer(p.samples) and 1 <= p.samples <= MAX_SAMPLES,
         f'samples per pixel must be in [1, {MAX_SAMPLES}], got {p.samples!r}')
    need(integer(p.augmentations) and 1 <= p.augmentations <= 64,
         f'augmentations must be in [1, 64], got {p.augmentations!r}')
    need(0 <= p.distortion <= 1, f'distortion must be in [0, 1], got {p.distortion}')
    need(0 < p.crop_scale[0] <= p.crop_scale[1] <= 1,
         f'crop scale must satisfy 0 < low <= high <= 1, got {p.crop_scale}')
    for name in ('lr_points', 'lr_widths', 'lr_colors'):
        value = getattr(p, name)
        need(0 <= value < 1e3, f'{name} must be in [0, 1000), got {value}')
    need(0 < p.width_min <= p.width_max, f'width range must satisfy 0 < min <= max, got '
         f'[{p.width_min}, {p.width_max}]')
    need(p.init_width > 0, f'initial width must be > 0, got {p.init_width}')
    need(p.negative_weight >= 0, f'negative weight must be >= 0, got {p.negative_weight}')
    need(p.first_chunk_weight > 0, f'first chunk weight must be > 0, got {p.first_chunk_weight}')
    need(integer(p.max_nonfinite) and p.max_nonfinite >= 1,
         f'max_nonfinite must be >= 1, got {p.max_nonfinite!r}')
    need(integer(p.num_pens) and 0 <= p.num_pens <= len(MARKER_PALETTE),
         f'pens must be an integer in [0, {len(MARKER_PALETTE)}], got {p.num_pens!r}')
    need(p.pen_width > 0, f'pen width must be > 0 pixels, got {p.pen_width}')
    need(0 <= p.min_alpha < 1, f'min alpha must be in [0, 1), got {p.min_alpha}')
    need(integer(p.finetune_iterations) and 0 <= p.finetune_iterations <= MAX_ITERATIONS,
         f'fine-tune iterations must be in [0, {MAX_ITERATIONS}], got '
         f'{p.finetune_iterations!r}')
    need(p.path_length_budget >= 0,
         f'path length budget must be >= 0 (0 = none), got {p.path_length_budget}')
    need(p.length_penalty >= 0, f'length penalty must be >= 0, got {p.length_penalty}')
