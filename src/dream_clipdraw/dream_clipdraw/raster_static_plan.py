"""Render plans in buffers of fixed size, so that a CUDA graph can replay their drawing.

A graph replays kernels on fixed addresses and shapes, while a plan's size changes at every
render (how many layers, pieces and edge samples). So the plan is copied into buffers with
room to spare; the spare layers are padding that :func:`~dream_clipdraw.rasterizer.draw_plan`
draws in a tile outside the image (no effect on the image, zero gradient), and the spare edge
samples write into a padding layer. When a plan outgrows its buffers, larger ones are made,
and whoever replays a graph over them must record it again (``generation`` counts the sets).
"""
import math

from dream_clipdraw.rasterizer import RenderPlan

# Room made for a plan that outgrows the buffers, and the smallest buffers.
GROWTH = 1.25
MIN_LAYERS = 256
MIN_PIECES = 1024
MIN_HITS = 4096


class StaticPlan:
    """A :class:`RenderPlan`'s tensors, copied into buffers that keep their addresses.

    ``plan`` is the padded plan drawn from the buffers; ``load`` copies a fresh plan in.
    """

    def __init__(self):
        self.plan = None
        self.generation = 0

    def load(self, plan):
        """Copy ``plan`` into the buffers (new ones when it does not fit); returns whether
        the buffers are new (a graph recorded over the old ones must be recorded again)."""
        grown = not self._fits(plan)
        if grown:
            self._allocate(plan)
        self._copy(plan)
        return grown

    def _fits(self, plan):
        have = self.plan
        return have is not None and (
            have.grid.__dict__ == plan.grid.__dict__ and have.samples == plan.samples
            and have.base.dtype == plan.base.dtype and have.base.device == plan.base.device
            # At least one padding layer: the spare edge samples write there.
            and plan.layer_count < have.layer_count
            and all(plan.count(g) <= have.count(g) for g in ('pieces', 'hits')))

    def _allocate(self, plan):
        self.plan = RenderPlan.zeros(
            plan.grid, plan.samples, plan.base.dtype, plan.base.device,
            layers=_room(plan.layer_count + 1, MIN_LAYERS),
            pieces=_room(plan.count('pieces'), MIN_PIECES),
            hits=_room(plan.hit_count, MIN_HITS))
        self.generation += 1

    def _copy(self, plan):
        static = self.plan
        for group, names in RenderPlan.GROUPS.items():
            count = plan.count(group)
            for name in names:
                getattr(static, name)[:count].copy_(getattr(plan, name))
        # The rest is padding: layers in the tile past the grid, edge samples on the last
        # layer (a padding one), their pieces the first stroke's first point (a dot). The
        # coverage, positions and pieces left there by earlier plans are finite and count
        # for nothing; indices into other tensors are reset, as the strokes may differ.
        layers, hits = plan.layer_count, plan.hit_count
        static.layer_tile[layers:].fill_(static.grid.count)
        static.layer_stroke[layers:].fill_(0)
        static.piece_rows[plan.count('pieces'):].fill_(0)
        static.hit_target[hits:].fill_((static.layer_count - 1) * static.grid.per_tile)
        static.hit_piece[hits:].fill_(0)
        static.hit_stroke[hits:].fill_(0)


def _room(need, least):
    """Buffer size for ``need`` entries: a quarter more, rounded up to a power of two, so
    that a growing plan makes few new buffers (each a graph recorded again)."""
    return max(least, 1 << math.ceil(math.log2(max(1.0, need * GROWTH))))
