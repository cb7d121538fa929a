"""Differentiable rasterizer of open cubic Bezier strokes, in plain PyTorch.

pydiffvg cannot be installed everywhere; this renders the same kind of scene (CLIPDraw's
strokes with round caps, composited in order on a background) with torch operators alone, at a cost
that follows the area the strokes cover rather than strokes x pixels.

How, and why:

- strokes are flattened into line pieces within 0.2 px of the curves (``raster_flatten``);
- a sample's coverage by a stroke is ``clamp((w / 2 - d) * samples + 0.5, 0, 1)``, d its
  distance to the stroke's nearest piece: a linear ramp one sample wide across the edge (so
  each sample approximates its own box filter and the pixel average converges to the exact
  area), through which gradients reach points and widths (``raster_ramp``, whose gradient
  is written out: on a GPU, where each operator is a kernel launch, autograd's version of
  the distance cost two dozen);
- pieces are binned to 4 x 4 pixel tiles (``raster_tiles``): only (piece, tile) pairs that
  can touch are listed, each piece clipped to its tile's neighbourhood;
- those (piece, tile, sample) triples, the largest set, are only classified, without
  gradient and in chunks: inside a piece (coverage 1, no gradient: most of a wide stroke),
  on its ramp, or out of reach. The distance is recomputed with gradient once per ramp
  sample and stroke (from its nearest piece), so autograd sees only the strokes' edges;
- a (tile, stroke) pair is a layer; layers are composited per tile (``raster_composite``)
  in log space, with one cumulative sum whatever the tiles' depth;
- all of the work without gradient is a :class:`RenderPlan` (:func:`plan_render`); drawing a
  plan (:func:`draw_plan`) is all that autograd sees, and it never waits for the device, so
  that a plan of fixed size (``raster_fixed_plan``) can be drawn in a CUDA graph.
"""
import torch

from dream_clipdraw.raster_composite import composite_multiply, composite_over
from dream_clipdraw.raster_flatten import PackedPoints, piece_ends, piece_layout
from dream_clipdraw.raster_ramp import ramp_coverage
from dream_clipdraw.raster_tiles import PairSegments, TileGrid

# Tile side in pixels (measured fastest among 2, 4 and 8 on CLIPDraw scenes).
TILE_PIXELS = 4
# Slack (pixels) of the float32 classification: samples this close to a class boundary are
# treated as on the ramp, where coverage is computed exactly.
MARGIN = 1e-3
# (piece, tile, sample) triples classified at once: bounds the memory of the widest pass
# (about 25 bytes a triple). On a GPU, where each chunk costs a dozen kernel launches and a
# wait for the device, wide strokes' 10-30 million triples fit in one chunk.
_CHUNK = {'cpu': 1 << 20, 'cuda': 1 << 25}
NO_HIT = torch.iinfo(torch.int64).max


def render(points, widths, colors, size, *, samples=2, background=None, black_ink=False):
    """Render open cubic Bezier strokes to a (3, H, W) image in [0, 1].

    points: list of N float tensors, each (3k+1, 2) with k >= 1 cubic segments, in canvas
    pixels, x right, y down; pixel (i, j) covers [j, j+1) x [i, i+1). Or the same strokes
    as one tensor, :class:`~dream_clipdraw.raster_flatten.PackedPoints` (an optimiser's
    choice: no per-stroke work at all).
    widths: (N,) full stroke widths in pixels (>= 0). colors: (N, 4) RGBA in [0, 1] (not
    clamped here). size: (height, width). samples: samples per pixel along each axis (a
    regular grid, averaged). background: (3,) RGB, white by default.

    Strokes are composited in order, stroke 0 first, with alpha "over":
    ``out = c * a + out * (1 - a)``, a = coverage x colour alpha.

    black_ink=True composites by multiplication instead, order-free:
    ``out = background * prod_i (1 - a_i * (1 - c_i))`` per channel and sample, colors[:, :3]
    used as is. For black strokes (c = 0) this is exactly "over" (to 1e-6); a coloured
    stroke acts as a multiply-blend filter of its colour (it only darkens, and overlapping
    colours mix like inks). It needs no per-tile ordering; with the ordering already cheap
    here, it runs at about the speed of "over".

    Differentiable with respect to points, widths, colors (and background); runs on the
    device of the inputs; N = 0 gives the background.
    """
    height, width = _check_size(size)
    samples = _check_samples(samples)
    stacked, counts = _packed(points)
    n = len(counts)
    reference = stacked if n else widths
    device = reference.device
    dtype = reference.dtype if n or reference.is_floating_point() else torch.float32
    if background is None:
        background = torch.ones(3, dtype=dtype, device=device)
    background = _check_background(background, dtype, device)
    if n == 0:
        return background.view(3, 1, 1).expand(3, height, width).clone()
    stacked = stacked.to(dtype)
    widths, colors = _check_strokes(n, stacked, widths, colors, dtype, device)

    plan = plan_render(stacked, counts, widths, (height, width), samples)
    image = draw_plan(plan, stacked, widths, colors, background, black_ink=black_ink)
    if plan.layer_count == 0:
        # Nothing on the canvas: keep the graph so that backward() still runs (zero grads).
        image = image + 0 * (widths.sum() + colors.sum() + stacked.sum())
    return image


class RenderPlan:
    """What a render computes without gradient: which samples each (tile, stroke) layer
    covers fully (``base`` (L, S)), the line pieces, and the samples on the strokes' edges
    whose coverage is computed with gradient, one per (layer, sample).

    Per layer, sorted by tile, then stroke: ``base``, ``layer_tile``, ``layer_stroke``. Per
    piece (P,): ``piece_rows`` (P, 4), ``piece_knots`` (P, 2) (see
    :class:`~dream_clipdraw.raster_flatten.PieceLayout`). Per edge sample (H,):
    ``hit_target`` (flat index into ``base``), ``hit_where`` (H, 2) its position,
    ``hit_piece`` its stroke's nearest piece and ``hit_stroke``. A layer whose tile is
    ``grid.count`` (past the last tile) is padding, and so is an edge sample that targets one:
    :func:`draw_plan` draws them in a tile that is not part of the image.
    """

    FIELDS = ('base', 'layer_tile', 'layer_stroke', 'piece_rows', 'piece_knots', 'hit_target',
              'hit_where', 'hit_piece', 'hit_stroke')

    def __init__(self, grid, samples, **tensors):
        self.grid = grid
        self.samples = samples
        for name in self.FIELDS:
            setattr(self, name, tensors[name])

    @classmethod
    def empty(cls, grid, samples, dtype, device):
        """A plan that draws nothing."""
        def index(*shape):
            return torch.zeros(shape, dtype=torch.long, device=device)
        return cls(grid, samples, base=torch.zeros(0, grid.per_tile, dtype=dtype, device=device),
                   layer_tile=index(0), layer_stroke=index(0), piece_rows=index(0, 4),
                   piece_knots=index(0, 2), hit_target=index(0),
                   hit_where=torch.zeros(0, 2, dtype=dtype, device=device), hit_piece=index(0),
                   hit_stroke=index(0))

    @property
    def layer_count(self):
        return self.base.shape[0]

    @property
    def piece_count(self):
        return self.piece_rows.shape[0]

    @property
    def hit_count(self):
        return self.hit_target.shape[0]


def plan_render(stacked, counts, widths, size, samples):
    """The :class:`RenderPlan` of strokes (``stacked`` points, ``counts`` per stroke) for an
    image of ``size`` (height, width); inputs as :func:`render` checks them."""
    grid = TileGrid(size[0], size[1], samples, TILE_PIXELS)
    n = len(counts)
    with torch.no_grad():
        widths = widths.detach()
        layout = piece_layout(stacked, counts)
        reach = widths / 2 + 0.5 / samples
        pairs = grid.pairs(layout.ends, reach[layout.stroke] + MARGIN)
        if pairs[0].numel() == 0:
            return RenderPlan.empty(grid, samples, widths.dtype, widths.device)
        layers = _Layers(layout.stroke, pairs, n)
        base, hit_pair, hit_sample, target = _classify(grid, layers, widths, samples)
        where = (grid.sample_offsets(widths.dtype, widths.device)[hit_sample]
                 + grid.corners(layers.tile[hit_pair], widths.dtype))
    return RenderPlan(grid, samples, base=base, layer_tile=layers.layer_tile,
                      layer_stroke=layers.stroke, piece_rows=layout.rows,
                      piece_knots=layout.knots, hit_target=target, hit_where=where,
                      hit_piece=layers.piece[hit_pair], hit_stroke=layers.pair_stroke[hit_pair])


def draw_plan(plan, stacked, widths, colors, background, *, black_ink=False):
    """The (3, H, W) image of a :class:`RenderPlan`, differentiable w.r.t. the stacked
    points, widths, colours and background (checked as :func:`render` checks them).

    Its operators' shapes are the plan's, and none of them waits for the device ("over"
    compositing): with a plan of fixed size, a CUDA graph can replay it.
    On the edge samples, coverage is ((w / 2 - d) * samples + 0.5) clamped to [0, 1], d the
    distance to the stroke's nearest piece.
    """
    grid, samples = plan.grid, plan.samples
    ends = piece_ends(stacked, plan.piece_rows, plan.piece_knots)[plan.hit_piece]
    ramp = ramp_coverage(plan.hit_where, ends, widths[plan.hit_stroke], samples)
    coverage = plan.base.view(-1).index_put((plan.hit_target,), ramp).view(plan.base.shape)
    rgba = colors[plan.layer_stroke]
    composite = composite_multiply if black_ink else composite_over
    # One tile more than the grid's: padding layers are drawn there.
    tiles = composite(coverage * rgba[:, 3:], rgba[:, :3], plan.layer_tile, background,
                      grid.count + 1, grid.pixels, samples * samples)
    t = grid.tile
    image = tiles[:grid.count].view(grid.rows, grid.cols, 3, t, t).permute(2, 0, 3, 1, 4)
    return image.reshape(3, grid.rows * t, grid.cols * t)[:, :grid.height, :grid.width]


class _Layers:
    """(piece, tile) pairs grouped into layers: one per (tile, stroke).

    Per pair: ``piece``, ``tile``, ``near_a``, ``near_b``, ``pair_stroke``, ``pair_layer``;
    per layer, sorted by tile, then stroke (in each tile the bottom stroke first):
    ``stroke`` and ``layer_tile``.
    """

    def __init__(self, piece_stroke, pairs, n):
        self.piece, self.tile, self.near_a, self.near_b = pairs
        self.pair_stroke = piece_stroke[self.piece]
        key, self.pair_layer = torch.unique(self.tile * n + self.pair_stroke,
                                            return_inverse=True)
        self.layer_tile = torch.div(key, n, rounding_mode='floor')
        self.count = key.shape[0]
        self.stroke = key - self.layer_tile * n


def _classify(grid, layers, widths, samples):
    """Without gradient, in float32 and in chunks, classify every (pair, sample).

    Returns ``base`` (layers, samples per tile): 1 where some piece of the layer's stroke
    covers the sample fully, else 0; and the samples on a stroke's ramp that need an exact
    coverage, one per (layer, sample), with the pair of the stroke's nearest piece:
    (hit_pair, hit_sample, target = flat index into base).
    """
    spt = grid.per_tile
    device = widths.device
    base = torch.zeros(layers.count, spt, dtype=widths.dtype, device=device)
    with torch.no_grad():
        half = widths.detach().float()[layers.pair_stroke] / 2
        inner = half - 0.5 / samples - MARGIN
        inner = torch.where(inner > 0, inner * inner, -1.0)[:, None]  # -1: no interior
        outer = half + 0.5 / samples + MARGIN
        outer = (outer * outer)[:, None]
        near = PairSegments(layers.near_a.float(), layers.near_b.float())
        offsets = grid.sample_offsets(torch.float32, device).T.contiguous()
        found, found_dist = [], []
        step = max(1, _CHUNK.get(device.type, _CHUNK['cpu']) // spt)
        for first in range(0, near.count, step):
            chunk = slice(first, first + step)
            dist_sq = near.distance_sq(chunk, offsets)
            interior = torch.empty_like(dist_sq)
            torch.le(dist_sq, inner[chunk], out=interior)
            base.index_add_(0, layers.pair_layer[chunk], interior.to(base.dtype))
            on_ramp = (dist_sq < outer[chunk]) & (dist_sq > inner[chunk])
            index = torch.nonzero(on_ramp.view(-1)).squeeze(1)
            found_dist.append(dist_sq.view(-1)[index])
            found.append(index + first * spt)
        base.clamp_(max=1)
        found = torch.cat(found)
        hit_pair = torch.div(found, spt, rounding_mode='floor')
        hit_sample = found - hit_pair * spt
        target = layers.pair_layer[hit_pair] * spt + hit_sample
        # A sample on the ramp of one piece may be inside another piece of the same stroke
        # (joints, wide strokes): then it is covered, nothing to recompute. Otherwise the
        # stroke covers it as much as its nearest piece does: keep one hit per (layer,
        # sample), the nearest, found by packing (distance bits, hit index) in one int64
        # (the bits of a non-negative float sort like the float) for a single scatter-min.
        keep = (base.view(-1)[target] < 1).nonzero().squeeze(1)   # one sync, three uses
        packed = torch.cat(found_dist)[keep].view(torch.int32).long() << 32
        packed |= torch.arange(packed.shape[0], device=device)
        kept_target = target[keep]
        nearest = torch.full((base.numel(),), NO_HIT, dtype=torch.int64, device=device)
        nearest.scatter_reduce_(0, kept_target, packed, 'amin')
        winner = keep[(nearest[kept_target] & 0xFFFFFFFF).unique()]
    return base, hit_pair[winner], hit_sample[winner], target[winner]


def available_renderers():
    """Names accepted by :func:`get_renderer`: 'torch' always, 'diffvg' if pydiffvg imports."""
    names = ['torch']
    try:
        import pydiffvg  # noqa: F401
    except ImportError:
        return names
    return names + ['diffvg']


def get_renderer(name):
    """A callable with :func:`render`'s signature, by name ('torch' or 'diffvg')."""
    if name == 'torch':
        return render
    if name == 'diffvg':
        from dream_clipdraw.raster_diffvg import diffvg_renderer
        return diffvg_renderer()
    raise ValueError(f"unknown renderer {name!r}: choose one of {available_renderers()} "
                     "('diffvg' needs pydiffvg installed)")


def _check_size(size):
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f'size must be (height, width), got {size!r}') from None
    if height <= 0 or width <= 0:
        raise ValueError(f'size must be positive, got {(height, width)}')
    return height, width


def _check_samples(samples):
    if isinstance(samples, bool) or not isinstance(samples, (int, float)) or (
            int(samples) != samples or samples < 1):
        raise ValueError(f'samples must be an integer >= 1, got {samples!r}')
    return int(samples)


def _check_background(background, dtype, device):
    background = torch.as_tensor(background, dtype=dtype, device=device)
    if background.shape != (3,):
        raise ValueError(f'background must be an RGB tensor of shape (3,), '
                         f'got shape {tuple(background.shape)}')
    return background


def _packed(points):
    """(all points in one tensor or None, points per stroke), the strokes checked."""
    if isinstance(points, PackedPoints):
        data, counts = points.data, points.counts
        if not torch.is_tensor(data) or data.dim() != 2 or data.shape[1] != 2 or (
                data.shape[0] != sum(counts)):
            shape = tuple(data.shape) if torch.is_tensor(data) else type(data).__name__
            raise ValueError(f'packed points must be a ({sum(counts)}, 2) tensor, got {shape}')
        if counts and not data.is_floating_point():
            raise ValueError(f'packed points must be floating point, got {data.dtype}')
        for i, count in enumerate(counts):
            _check_count(i, count)
        return data, counts
    for i, p in enumerate(points):
        if not torch.is_tensor(p) or p.dim() != 2 or p.shape[1] != 2:
            shape = tuple(p.shape) if torch.is_tensor(p) else type(p).__name__
            raise ValueError(f'points[{i}] must be a (3k+1, 2) tensor, got {shape}')
        _check_count(i, p.shape[0])
        if not p.is_floating_point():
            raise ValueError(f'points[{i}] must be floating point, got {p.dtype}')
        if p.device != points[0].device:
            raise ValueError(f'points[{i}] is on {p.device}, points[0] on '
                             f'{points[0].device}')
    counts = [p.shape[0] for p in points]
    data = torch.cat(list(points)) if counts else None
    return data, counts


def _check_count(i, count):
    if count < 4 or (count - 1) % 3:
        raise ValueError(f'points[{i}] has {count} points: an open cubic Bezier path '
                         'needs 3k+1 points with k >= 1 segments (4, 7, 10, ...)')


def _check_strokes(n, stacked, widths, colors, dtype, device):
    widths = torch.as_tensor(widths, device=device).to(dtype)
    colors = torch.as_tensor(colors, device=device).to(dtype)
    if widths.shape != (n,):
        raise ValueError(f'widths must have shape ({n},), got {tuple(widths.shape)}')
    if colors.shape != (n, 4):
        raise ValueError(f'colors must have shape ({n}, 4) (RGBA), got {tuple(colors.shape)}')
    # One device sync for all checks, in few operators: a sum is finite only if every term
    # is (NaN and infinity propagate); one that overflows is looked at term by term.
    with torch.no_grad():
        total = stacked.sum() + widths.sum() + colors.sum()
        if bool(torch.isfinite(total) & (widths.amin() >= 0)):
            return widths, colors
        if bool(torch.isfinite(stacked).all() & torch.isfinite(widths).all()
                & (widths >= 0).all() & torch.isfinite(colors).all()):
            return widths, colors
        if not bool(torch.isfinite(stacked).all()):
            raise ValueError('points contain NaN or infinity')
        if not bool(torch.isfinite(widths).all()) or bool((widths < 0).any()):
            raise ValueError('widths must be finite and >= 0')
        raise ValueError('colors contain NaN or infinity')
