"""The CLIPDraw optimisation: strokes moved by gradients of CLIP's text-image cosine.

Each step renders the strokes, makes augmented copies, embeds them with CLIP and follows
``-sum cos(text, copy) + w * sum cos(negative, copy)`` with three Adam optimisers (points,
widths, colours). Everything random comes from one CPU torch.Generator seeded by the
caller, so a seed reproduces a drawing on the CPU. The backward pass is split at the
augmented batch (CLIP's part, then the renderer's and the warps'), so the benchmark times the
two halves apart; the loss and every gradient are checked before anything reaches the strokes.
With ``step_graph='on'`` everything in a step but Adam is recorded once as a CUDA graph and
replayed (``step_graph``), the render plan computed in fixed sizes (``raster_fixed_plan``).

A NaN or infinite loss or gradient skips the step (counted in ``nonfinite_steps``);
``max_nonfinite`` of them in a row raise NumericalError. Cancellation (a threading.Event or
a callable) is checked before every iteration and returns the current drawing marked
``cancelled``.
"""
import json
import secrets
import time
from dataclasses import dataclass

import torch

from dream_clipdraw.augment import Augmenter
from dream_clipdraw.bezier import stroke_lengths
from dream_clipdraw.clip_acceleration import STEP_GRAPH_MODES, records_graphs
from dream_clipdraw.drawing import Drawing, Stroke
from dream_clipdraw.errors import InvalidOptions, NumericalError
from dream_clipdraw.presets import lr_at, make_preset
from dream_clipdraw.prompt_embedding import embed_prompt
from dream_clipdraw.raster_flatten import PackedPoints
from dream_clipdraw.raster_fixed_plan import Capacity, fit_plan, plan_render_fixed
from dream_clipdraw.raster_tiles import TileGrid
from dream_clipdraw.rasterizer import draw_plan, TILE_PIXELS
from dream_clipdraw.step_graph import StepGraph, unwatched

# Learning rate of the pen-choice logits (plotter preset with several pens): logits move on
# a scale of ~1, colours of ~0.01, so they get their own rate.
PEN_LOGIT_LR = 0.1
MAX_NEGATIVES = 16
# Tries of a step graph's render plan with more room before giving up (a defect, if ever).
_PLAN_ROUNDS = 12


@dataclass
class Progress:
    """What a progress callback receives after each iteration."""

    iteration: int        # iterations done (1-based)
    total: int            # iterations planned, fine-tuning included
    score: float          # mean cosine(text, augmented copy) at this iteration
    elapsed: float        # seconds since the run started
    image: torch.Tensor   # (3, H, W) render of this iteration, detached (a preview)
    phase: str            # 'optimise' or 'finetune'


def generate_drawing(clip, prompt, *, negatives=(), preset='cpu', seed=None, renderer='torch',
                     progress=None, cancel=None, session_id='', step_graph='off', **overrides):
    """Run CLIPDraw for ``prompt`` with ``clip`` (a ClipModel); return a Drawing.

    preset: a name or Preset; overrides: Preset fields (None = the preset's value).
    seed: None or negative draws one (reported in the drawing). progress: called with a
    Progress after each iteration. cancel: threading.Event or callable, checked every
    iteration; a cancelled run returns the current strokes with ``cancelled=True``.
    step_graph: 'on' replays each step's differentiable half as one CUDA graph (see
    ``step_graph``), 'off' runs it eagerly.
    """
    run = ClipDrawRun(clip, prompt, negatives=negatives, preset=preset, seed=seed,
                      renderer=renderer, step_graph=step_graph, **overrides)
    return run.run(progress=progress, cancel=cancel, session_id=session_id)


def check_run_options(preset, *, negatives=(), seed=None, renderer='torch', step_graph='off',
                      clip_compile='off', clip_precision='float32', clip_image_size=None):
    """InvalidOptions for what a run would refuse, judged from the options alone: commands
    call it before loading (and compiling) CLIP, a run with CLIP's own figures.

    preset: a Preset; clip_compile: the compile mode (or 'backend:mode') the image tower
    has or will have; clip_image_size: None when not known yet.
    """
    negatives = _nonblank(negatives)
    if len(negatives) > MAX_NEGATIVES:
        raise InvalidOptions(f'at most {MAX_NEGATIVES} negative prompts, got {len(negatives)}')
    if seed is not None and int(seed) >= 2 ** 32:
        raise InvalidOptions(f'seed must be below 2^32 (Drawing.seed is uint32), got {seed}')
    renderer_name, _ = _renderer(renderer)
    if step_graph not in STEP_GRAPH_MODES:
        raise InvalidOptions(f'step graph must be one of {", ".join(STEP_GRAPH_MODES)}, '
                             f'got {step_graph!r}')
    if step_graph == 'off':
        return
    render_size = min(preset.render_size or preset.canvas_size, preset.canvas_size)
    why = None
    if preset.plotter:
        why = 'the plotter preset (pens, snapping, fine-tuning) runs eagerly'
    elif renderer_name != 'torch':
        why = f'it draws with the torch renderer, not {renderer_name!r}'
    elif clip_image_size is not None and render_size > clip_image_size:
        why = (f'it needs a render size no larger than CLIP\'s input ({clip_image_size}; '
               f'the crops of a {render_size} px render are filtered per copy)')
    elif records_graphs(clip_compile):
        why = (f'CLIP\'s image tower is compiled with CUDA graphs of its own '
               f'({clip_compile}): run with --clip-compile default or off (auto is '
               'default on a GPU with --step-graph on)')
    elif clip_precision != 'float32':
        why = f'it records CLIP in float32, not {clip_precision}'
    if why:
        raise InvalidOptions(f'--step-graph on: {why}')


def _nonblank(negatives):
    """Blank negatives (an empty ROS string array entry) mean nothing: dropped."""
    return [n for n in negatives or () if not (isinstance(n, str) and not n.strip())]


def _is_cancelled(cancel):
    if cancel is None:
        return False
    is_set = getattr(cancel, 'is_set', None)
    return bool(is_set() if is_set is not None else cancel())


class ClipDrawRun:
    """One optimisation, step by step (the benchmark times these very steps)."""

    # Wait for the device at every phase of a step so that ``timings`` are per phase (the
    # benchmark); otherwise a GPU runs ahead of the host and ``timings`` are launch times.
    time_phases = False

    def __init__(self, clip, prompt, *, negatives=(), preset='cpu', seed=None,
                 renderer='torch', step_graph='off', **overrides):
        self.started = time.perf_counter()
        self.preset = make_preset(preset, **overrides)
        p = self.preset
        negatives = _nonblank(negatives)
        check_run_options(p, negatives=negatives, seed=seed, renderer=renderer,
                          step_graph=step_graph, clip_compile=clip.compiled or 'off',
                          clip_precision=clip.precision, clip_image_size=clip.image_size)
        self.clip = clip
        self.device = clip.device
        self.prompt = embed_prompt(clip, prompt, first_weight=p.first_chunk_weight)
        self.negatives = [embed_prompt(clip, n, what='negative prompt') for n in negatives]
        self.text = self.prompt.features
        self.negative_features = torch.stack([n.features for n in self.negatives]) \
            if self.negatives else None
        self.renderer_name, self.render_fn = _renderer(renderer)
        if seed is None or int(seed) < 0:
            seed = secrets.randbelow(2 ** 31)
        self.seed = int(seed)
        self.generator = torch.Generator(device='cpu').manual_seed(self.seed)
        self.canvas = p.canvas_size
        self.render_size = min(p.render_size or p.canvas_size, p.canvas_size)
        self.augment = Augmenter(clip.image_size, distortion=p.distortion,
                                 crop_scale=p.crop_scale, generator=self.generator)
        self._init_scene()
        self.step_graph = self._make_step_graph(step_graph)
        self._next_params = None
        self.iteration = 0
        self.nonfinite_steps = 0
        self._nonfinite_run = 0
        self.timings = {}
        self.last_image = None

    # -- scene and parameters ------------------------------------------------------------
    def _init_scene(self):
        from dream_clipdraw.scene_init import clipdraw_init

        p = self.preset
        points, widths, colors = clipdraw_init(
            p.num_paths, (self.canvas, self.canvas), generator=self.generator,
            max_segments=p.max_segments, width=p.init_width, jitter=p.init_jitter,
            device=self.device)
        self._set_points([q.detach() for q in points])
        self.palette = torch.tensor(p.palette(), dtype=torch.float32, device=self.device)
        groups = []
        adam = _adam_for(self.device)
        if p.plotter:
            self.widths = torch.full((p.num_paths,), float(p.pen_width), device=self.device)
            self.alpha = colors[:, 3].clone().requires_grad_(True)
            colour_params = [{'params': [self.alpha], 'lr': p.lr_colors}]
            if p.num_pens > 1:
                logits = torch.randn(p.num_paths, p.num_pens, generator=self.generator)
                self.pen_logits = logits.to(self.device).requires_grad_(True)
                colour_params.append({'params': [self.pen_logits], 'lr': PEN_LOGIT_LR})
            else:
                self.pen_logits = None
            groups = [adam(colour_params)]
        else:
            self.widths = widths.clone().requires_grad_(True)
            self.colors = colors.clone().requires_grad_(True)
            groups = [adam([self.widths], lr=p.lr_widths),
                      adam([self.colors], lr=p.lr_colors)]
        self.point_optimizer = adam([self.point_data], lr=p.lr_points)
        self.optimizers = [self.point_optimizer] + groups
        self.snapped = False

    def _set_points(self, points):
        """All strokes' points as one leaf tensor (``point_data``) cut per stroke.

        One tensor, not one per stroke: the renderer's backward ends in one gradient
        accumulation instead of one per stroke, and Adam, the clamps and the finiteness check
        each touch one tensor (on a GPU every per-stroke operation is a kernel launch).
        """
        self.point_counts = [int(q.shape[0]) for q in points]
        data = torch.cat(points) if points else torch.zeros(0, 2, device=self.device)
        self.point_data = data.clone().requires_grad_(True)

    @property
    def points(self):
        """Each stroke's (3k+1, 2) points: views of ``point_data`` (gradients reach it)."""
        return list(torch.split(self.point_data, self.point_counts))

    def current_colors(self):
        """(N, 4) RGBA the renderer gets: free colours, or pen colours with optimised alpha."""
        if not self.preset.plotter:
            return self.colors
        if self.snapped or self.pen_logits is None:
            rgb = self.palette[self.pens()] if self.snapped else \
                self.palette[0].expand(len(self.point_counts), 3)
        else:
            rgb = torch.softmax(self.pen_logits, 1) @ self.palette
        return torch.cat([rgb, self.alpha[:, None]], 1)

    def pens(self):
        if self.pen_logits is None:
            return torch.zeros(len(self.point_counts), dtype=torch.long, device=self.device)
        return self.pen_logits.detach().argmax(1)

    def render(self, size=None, samples=None):
        """(3, S, S) image of the current strokes at ``size`` (default: the render size)."""
        size = size or self.render_size
        points, widths = self._scaled(size)
        # One black pen: the torch renderer's multiplicative mode is exact for black, cheaper.
        black = self.preset.plotter and self.preset.num_pens == 1 and \
            self.renderer_name == 'torch'
        return self.render_fn(points, widths, self.current_colors(), (size, size),
                              samples=samples or self.preset.samples, black_ink=black)

    def _scaled(self, size):
        """The strokes' points (PackedPoints) and widths at a render ``size``."""
        scale = size / self.canvas
        data = self.point_data if scale == 1 else self.point_data * scale
        widths = self.widths if scale == 1 else self.widths * scale
        return PackedPoints(data, self.point_counts), widths

    def _make_step_graph(self, mode):
        """The StepGraph for ``step_graph='on'`` (checked by ``check_run_options``), or None."""
        if mode == 'off':
            return None
        p = self.preset
        self._background = torch.ones(3, device=self.device)
        self._grid = TileGrid(self.render_size, self.render_size, p.samples, TILE_PIXELS)
        self.capacity = Capacity.least()
        return StepGraph(self._differentiate_step, self._trainable(),
                         record=self.device.type == 'cuda')

    # -- one step -------------------------------------------------------------------------
    def step(self, points_only=False):
        """One optimisation step; returns the mean augmented cosine (NaN if skipped)."""
        p = self.preset
        clock = _Clock(self.device, sync=self.time_phases)
        self.point_optimizer.param_groups[0]['lr'] = lr_at(p, self.iteration) \
            if not points_only else p.lr_schedule[-1][1] if p.lr_schedule else p.lr_points
        if self.step_graph is not None:
            image, cosines, finite = self._graph_step(clock)
            image = image.clone()     # the graph's own buffer changes at the next replay
        else:
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            image = self.render()
            clock.lap('render')
            batch = self.augment(image, p.augmentations)
            clock.lap('augment')
            loss, cosines, clip_grad = self._differentiate(batch, clock)
            finite = bool(self._finite(loss, clip_grad))
        clock.lap('backward')
        self.last_image = image.detach()
        self.iteration += 1
        if not finite:
            self.nonfinite_steps += 1
            self._nonfinite_run += 1
            if self._nonfinite_run >= p.max_nonfinite:
                raise NumericalError(
                    f'the loss or its gradient was NaN or infinite for {self._nonfinite_run} '
                    f'steps in a row (iteration {self.iteration}); the strokes were never '
                    'updated with them: try another seed or lower learning rates')
            self.timings = clock.laps
            return float('nan')
        self._nonfinite_run = 0
        optimizers = [self.point_optimizer] if points_only else self.optimizers
        for opt in optimizers:
            opt.step()
        self._clamp()
        clock.lap('step')
        self.timings = clock.laps
        return float(cosines.detach().mean())

    def _differentiate(self, batch, clock=None):
        """The loss of the augmented ``batch`` and its backward pass, split at the batch
        (CLIP's part, then the warps' and the renderer's); returns (loss, cosines, CLIP's
        gradient w.r.t. the batch), detached."""
        p = self.preset
        leaf = batch.detach().requires_grad_(True)
        with unwatched():       # under the watch a compiled CLIP would run eagerly
            features = self.clip.encode_image(leaf, normalize_input=p.normalize_input)
            cosines = features @ self.text
            loss = -cosines.sum()
            if self.negative_features is not None and p.negative_weight > 0:
                loss = loss + p.negative_weight * (features @ self.negative_features.T).sum()
            loss.backward()
        if clock is not None:
            clock.lap('clip')
        surrogate = (batch * leaf.grad).sum()
        if p.path_length_budget > 0 and p.length_penalty > 0:
            total = stroke_lengths(self.points).sum()
            over = torch.relu(total / p.path_length_budget - 1)
            surrogate = surrogate + p.length_penalty * p.augmentations * over
        surrogate.backward()
        return loss.detach(), cosines.detach(), leaf.grad

    def _finite(self, loss, clip_grad):
        """Whether the loss, CLIP's gradient and the strokes' gradients are finite: a tensor,
        one device sync to read (a NaN in CLIP's gradient where no stroke is drawn leaves
        the strokes' finite)."""
        tensors = [loss, clip_grad] + [t.grad for t in self._trainable() if t.grad is not None]
        return torch.isfinite(torch.cat([t.reshape(-1) for t in tensors])).all()

    def _graph_step(self, clock):
        """The augmentations' parameters (drawn on the host during the previous step's
        replay), then the rest of the step (plan, drawing, warps, CLIP, backward, checks)
        replayed, redone with more room until the plan fits; returns (image, cosines,
        whether the loss and gradients are finite)."""
        clock.lap('render')                 # nothing of it is left outside the graph
        params, self._next_params = self._next_params, None
        if params is None:
            params = self._draw_params()
        params = params.to(device=self.device, dtype=torch.float32)
        clock.lap('augment')
        # Each list's room, once grown, holds what it needs; a list's need can grow with the
        # room of the lists before it (pieces, then pairs, ...): a handful of rounds at most,
        # planned alone before recording (one recording per growth).
        for round_ in range(_PLAN_ROUNDS):
            if self.step_graph.will_record:
                self._fit_plan()
            image, cosines, needs = self.step_graph(params)
            if self._next_params is None:    # the next step's, while the device works
                self._next_params = self._draw_params()
            needs = needs.tolist()           # the step's one wait for the device
            *sizes, invalid, nonfinite = needs
            if invalid:
                raise ValueError('the strokes contain NaN or infinity, or a negative width')
            if self.capacity.fits(sizes):
                break
            if round_ == _PLAN_ROUNDS - 1:
                raise RuntimeError(f'the render plan still needs {sizes}, more than its room '
                                   f'{tuple(self.capacity)}, after {_PLAN_ROUNDS} rounds')
            self.capacity = self.capacity.grown(sizes)
            self.step_graph.invalidate()
        clock.lap('clip')
        return image, cosines, not nonfinite

    def _draw_params(self):
        """The augmentations' random parameters for a step, on the host, in the order the
        eager step draws them."""
        return self.augment.draw(self.preset.augmentations, self.render_size,
                                 self.render_size)[0]

    def _fit_plan(self):
        """Grow the capacity until the strokes' plan fits, planning eagerly (a few device
        reads): found by replays, each round would cost a recording."""
        points, widths = self._scaled(self.render_size)
        _, _, self.capacity = fit_plan(points.data, self.point_counts, widths, self._grid,
                                       self.capacity, _PLAN_ROUNDS)

    def _differentiate_step(self, params):
        """What the step graph records: plan and draw the strokes, warp the copies ``params``
        describes, then ``_differentiate`` and the checks; returns (image, cosines, needs:
        the plan's true sizes, then 1 if the inputs are invalid, 1 if the loss or a gradient
        is not finite)."""
        points, widths = self._scaled(self.render_size)
        colors = self.current_colors()
        plan, needs = plan_render_fixed(points.data, self.point_counts, widths, self._grid,
                                        self.capacity)
        image = draw_plan(plan, points.data, widths, colors, self._background)
        loss, cosines, clip_grad = self._differentiate(self.augment.warp(image, params))
        with torch.no_grad():
            valid = (torch.isfinite(points.data).all() & torch.isfinite(widths).all()
                     & torch.isfinite(colors).all() & (widths >= 0).all())
            flags = torch.stack([~valid, ~self._finite(loss, clip_grad)]).long()
        return image.detach(), cosines, torch.cat([needs, flags])

    def _trainable(self):
        tensors = [self.point_data]
        if self.preset.plotter:
            tensors.append(self.alpha)
            if self.pen_logits is not None:
                tensors.append(self.pen_logits)
        else:
            tensors += [self.widths, self.colors]
        return tensors

    @torch.no_grad()
    def _clamp(self):
        p = self.preset
        if p.plotter:
            self.alpha.clamp_(0, 1)
            self.point_data.clamp_(0.0, float(self.canvas))  # a pen cannot leave the paper
        else:
            self.widths.clamp_(p.width_min, p.width_max)
            self.colors.clamp_(0, 1)

    # -- the whole run ----------------------------------------------------------------------
    def run(self, progress=None, cancel=None, session_id=''):
        p = self.preset
        total = p.iterations + (p.finetune_iterations if p.plotter else 0)
        cancelled = False
        for _ in range(p.iterations):
            if _is_cancelled(cancel):
                cancelled = True
                break
            score = self.step()
            self._report(progress, total, score, 'optimise')
        if p.plotter:
            self.snap_to_pens()
            for _ in range(p.finetune_iterations if self.point_counts and not cancelled else 0):
                if _is_cancelled(cancel):
                    cancelled = True
                    break
                score = self.step(points_only=True)
                self._report(progress, total, score, 'finetune')
            self.keep_within_budget()
        return self.drawing(cancelled=cancelled, session_id=session_id, total=total)

    def _report(self, progress, total, score, phase):
        if progress is not None:
            progress(Progress(self.iteration, total, score,
                              time.perf_counter() - self.started, self.last_image, phase))

    @torch.no_grad()
    def snap_to_pens(self):
        """Plotter: drop faint strokes, make the rest opaque in their nearest pen's colour.
        When every stroke is faint the most opaque one stays: an empty page is no drawing."""
        if self.snapped:
            return
        keep = (self.alpha >= self.preset.min_alpha).nonzero().flatten().tolist()
        if not keep and self.point_counts:
            keep = [int(self.alpha.argmax())]
        self._keep(keep)
        self.alpha.fill_(1.0)
        self.snapped = True

    @torch.no_grad()
    def keep_within_budget(self):
        """Plotter: keep as many strokes as fit the path-length budget, shortest first;
        InvalidOptions when not even the shortest fits (an empty page is no drawing)."""
        budget = self.preset.path_length_budget
        if budget <= 0 or not self.point_counts:
            return
        lengths = stroke_lengths([q.detach() for q in self.points]).tolist()
        if sum(lengths) <= budget:
            return
        if min(lengths) > budget:
            raise InvalidOptions(f'the path-length budget ({budget:g} px) is shorter than '
                                 f'every stroke (the shortest is {min(lengths):.0f} px): '
                                 'nothing would be drawn')
        keep, used = [], 0.0
        for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
            if used + lengths[i] <= budget:
                keep.append(i)
                used += lengths[i]
        self._keep(sorted(keep))

    def _keep(self, keep):
        """Restrict the scene to strokes ``keep`` (order kept); rebuild the points optimiser."""
        if len(keep) == len(self.point_counts):
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        points = self.points
        self._set_points([points[i].detach() for i in keep])
        self.widths = self.widths[index]
        self.alpha = self.alpha.detach()[index].clone().requires_grad_(True)
        if self.pen_logits is not None:
            self.pen_logits = self.pen_logits.detach()[index].clone()
        self.optimizers = []
        if self.point_counts:
            self.point_optimizer = _adam_for(self.device)([self.point_data],
                                                          lr=self.preset.lr_points)
            self.optimizers = [self.point_optimizer]

    @torch.no_grad()
    def score(self):
        """cosine(text, un-augmented render at the canvas size)."""
        if not self.point_counts:
            image = torch.ones(3, self.canvas, self.canvas, device=self.device)
        else:
            image = self.render(size=self.canvas, samples=2)
        features = self.clip.encode_image(image[None],
                                          normalize_input=self.preset.normalize_input)
        return float(features[0] @ self.text)

    def drawing(self, *, cancelled=False, session_id='', total=None):
        """The current strokes as a Drawing (with the un-augmented score)."""
        p = self.preset
        drawn = bool(self.point_counts)
        colors = self.current_colors().detach().cpu().tolist() if drawn else []
        widths = self.widths.detach().cpu().tolist() if drawn else []
        pens = self.pens().cpu().tolist() if p.plotter and drawn else [0] * len(colors)
        palette = [tuple(rgb) + (1.0,) for rgb in p.palette()] if p.plotter else []
        if palette and self.snapped:   # exactly the palette's colours, not float32 copies
            colors = [palette[pen] for pen in pens]
        points = torch.split(self.point_data.detach().cpu(), self.point_counts)  # one copy
        strokes = [Stroke(points=q.tolist(), width=float(w),
                          color=tuple(float(c) for c in rgba), pen=int(pen))
                   for q, w, rgba, pen in zip(points, widths, colors, pens)]
        return Drawing(
            strokes=strokes, canvas_width=self.canvas, canvas_height=self.canvas,
            prompt=self.prompt.text, negative_prompts=[n.text for n in self.negatives],
            palette=palette, seed=self.seed, preset=p.name, clip_model=self.clip.name,
            clip_pretrained=self.clip.pretrained if not self.clip.random_weights else 'random',
            renderer=self.renderer_name, iterations=self.iteration,
            total_iterations=total if total is not None else p.iterations,
            score=self.score(), prompt_truncated=self.prompt.truncated,
            prompt_handling=self.prompt.handling,
            generation_time=time.perf_counter() - self.started, cancelled=cancelled,
            nonfinite_steps=self.nonfinite_steps, random_weights=self.clip.random_weights,
            session_id=session_id, settings=json.loads(json.dumps(p.as_dict())))


def _adam_for(device):
    """Adam; on CUDA the fused kernel: a launch or two per optimizer instead of a dozen small
    ones (a GPU step is launch-bound)."""
    fused = device.type == 'cuda'
    return lambda params, **kw: torch.optim.Adam(params, fused=fused or None, **kw)


def _renderer(renderer):
    if callable(renderer):
        return getattr(renderer, '__name__', 'custom'), renderer
    from dream_clipdraw.rasterizer import available_renderers, get_renderer
    try:
        return str(renderer), get_renderer(renderer)
    except ValueError as exc:
        raise InvalidOptions(f'{exc} (available here: {", ".join(available_renderers())})') \
            from exc


class _Clock:
    """Lap times of one step's phases (with ``sync``, CUDA's real ones)."""

    def __init__(self, device, sync):
        self.cuda = sync and device.type == 'cuda'
        self.laps = {}
        self._last = self._now()

    def _now(self):
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def lap(self, name):
        now = self._now()
        self.laps[name] = now - self._last
        self._last = now
