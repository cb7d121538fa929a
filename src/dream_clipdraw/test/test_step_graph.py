"""Render plans in fixed buffers and the step graph built on them: the same images,
gradients and drawings as the eager step, and nothing a CUDA graph could not replay."""
import contextlib
from unittest import mock

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from dream_clipdraw.bench_clipdraw import waits_for_device
from dream_clipdraw.clip_acceleration import clip_compile_mode
from dream_clipdraw.clip_model import load_clip
from dream_clipdraw.errors import InvalidOptions
from dream_clipdraw.optimizer import ClipDrawRun, generate_drawing
from dream_clipdraw.raster_fixed_plan import Capacity, fit_plan
from dream_clipdraw.raster_flatten import piece_ends
from dream_clipdraw.raster_tiles import TileGrid
from dream_clipdraw.rasterizer import draw_plan, plan_render, TILE_PIXELS
from dream_clipdraw.scene_init import clipdraw_init
from dream_clipdraw.step_graph import unwatched
from dream_clipdraw.tiny_clip import shared_tiny_clip

SMALL = dict(canvas_size=64, render_size=0, num_paths=8, iterations=6)

pytestmark = pytest.mark.usefixtures('one_torch_thread')   # conftest.py


@pytest.fixture(scope='module')
def clip():
    return load_clip(**shared_tiny_clip().load_kwargs())


def scene(count, seed, widest, shift=0.0, size=48, device='cpu'):
    generator = torch.Generator().manual_seed(seed)
    points, _, colors = clipdraw_init(count, (size, size), generator=generator)
    widths = 1 + torch.rand(count, generator=generator) * (widest - 1)
    data = torch.cat(points) + shift
    return [t.to(device).requires_grad_(True) for t in (data, widths, colors)], \
        [p.shape[0] for p in points]


def fixed_plan(leaves, counts, size, capacity):
    """The fixed plan, redone with more room until it fits; its needs and room."""
    grid = TileGrid(size, size, 2, TILE_PIXELS)
    plan, needs, room = fit_plan(leaves[0], counts, leaves[1], grid, capacity, rounds=12)
    assert room.fits(needs)
    return plan, needs, room


def test_room_grows_in_powers_of_two_with_a_quarter_to_spare_in_every_list():
    room = Capacity(pieces=8, pairs=8, ramp=8, layers=8, hits=8)
    assert room.fits([8, 8, 8, 8, 8]) and not room.fits([8, 9, 1, 1, 1])
    # The overflowing list, and those with less than a quarter to spare, grow together.
    assert room.grown([9, 7, 6, 2, 8]) == Capacity(16, 16, 8, 8, 16)
    assert room.grown([40, 1, 1, 1, 1]) == Capacity(64, 8, 8, 8, 8)   # never smaller


def draw_with_gradients(plan, leaves, seed=0):
    """The image of ``plan`` and the gradients of a fixed random weighting of it."""
    data, widths, colors = leaves
    for leaf in leaves:
        leaf.grad = None
    image = draw_plan(plan, data, widths, colors, torch.ones(3, device=data.device))
    weights = torch.rand(image.shape, generator=torch.Generator().manual_seed(seed))
    weights = weights.to(data.device)
    (image * weights).sum().backward()
    return image.detach(), [leaf.grad.clone() for leaf in leaves]


NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
CUDA = pytest.param('cuda', marks=NO_CUDA)


@pytest.mark.parametrize('device', ['cpu', CUDA])
@pytest.mark.parametrize('count, seed, widest, size', [
    (12, 2, 3.0, 48), (40, 1, 12.0, 48), (160, 3, 20.0, 48), (256, 4, 30.0, 224)])
def test_a_fixed_plan_is_the_plan_padded(count, seed, widest, size, device):
    leaves, counts = scene(count, seed, widest, size=size, device=device)
    plan = plan_render(leaves[0].detach(), counts, leaves[1].detach(), (size, size), 2)
    small = Capacity(pieces=64, pairs=256, ramp=1024, layers=16, hits=256)
    fixed, needs, room = fixed_plan(leaves, counts, size, small)
    assert room != small and room.fits(needs)           # it grew, and fits now
    assert not small.fits(needs)
    layers, hits = plan.layer_count, plan.hit_count
    assert needs[0] == plan.piece_count and needs[3:] == [layers + 1, hits]
    # The same layers in the same order, then padding layers in the tile past the grid.
    for name in ('base', 'layer_tile', 'layer_stroke'):
        assert torch.equal(getattr(fixed, name)[:layers], getattr(plan, name)), name
    assert bool((fixed.layer_tile[layers:] == fixed.grid.count).all())
    # The same edge samples, in the same order, with the same nearest pieces.
    for name in ('hit_target', 'hit_where', 'hit_stroke'):
        assert torch.equal(getattr(fixed, name)[:hits], getattr(plan, name)), name
    assert torch.equal(
        piece_ends(leaves[0], fixed.piece_rows, fixed.piece_knots)[fixed.hit_piece[:hits]],
        piece_ends(leaves[0], plan.piece_rows, plan.piece_knots)[plan.hit_piece])
    padded_image, padded_grads = draw_with_gradients(fixed, leaves)
    image, grads = draw_with_gradients(plan, leaves)
    assert torch.equal(padded_image, image)
    for padded, plain in zip(padded_grads, grads):
        assert torch.allclose(padded, plain, atol=1e-6, rtol=1e-5)


def test_a_fixed_plan_of_nothing_on_the_canvas_draws_the_background():
    leaves, counts = scene(6, 4, 3.0, shift=500.0)       # every stroke far off the canvas
    plan, needs, _ = fixed_plan(leaves, counts, 48, Capacity.least())
    assert needs[3:5] == [1, 0]                          # no layer but the padding, no hit
    image, grads = draw_with_gradients(plan, leaves)
    assert torch.equal(image, torch.ones(3, 48, 48))
    assert all(not bool(g.any()) for g in grads)


def test_a_stroke_with_a_nan_point_is_no_error_in_a_fixed_plan(clip):
    leaves, counts = scene(8, 5, 4.0)
    with torch.no_grad():
        leaves[0][2] = float('nan')                      # in stroke 0's first segment
        leaves[0][counts[0]:counts[0] + counts[1]] = float('nan')   # stroke 1, every point
    plan, needs, _ = fixed_plan(leaves, counts, 48, Capacity.least())
    drawn = plan.layer_stroke[:needs[3] - 1]
    assert 0 < drawn.numel() and not bool((drawn == 1).any())
    run = ClipDrawRun(clip, 'a whale', preset='faithful', seed=1, step_graph='on', **SMALL)
    with torch.no_grad():
        run.point_data[1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):         # as the eager renderer's check
        run.step()


def test_a_step_graph_run_follows_the_eager_run(clip):
    """On the CPU the step graph runs eagerly on its buffers: what a replay computes."""
    runs = [ClipDrawRun(clip, 'a red whale', negatives=['a ship'], preset='faithful', seed=7,
                        step_graph=mode, **SMALL) for mode in ('off', 'on')]
    scores = [[run.step() for _ in range(6)] for run in runs]
    eager, graph = runs
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)
    for a, b in ((eager.point_data, graph.point_data), (eager.widths, graph.widths),
                 (eager.colors, graph.colors), (eager.last_image, graph.last_image)):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)
    assert not torch.equal(graph.point_data, ClipDrawRun(
        clip, 'a red whale', preset='faithful', seed=7, **SMALL).point_data)   # it moved
    assert graph.step_graph.recordings == 0          # on the CPU: run eagerly


def test_a_drawing_made_with_the_step_graph(clip):
    drawing = generate_drawing(clip, 'a red whale', preset='cpu', seed=2, step_graph='on',
                               **SMALL)
    eager = generate_drawing(clip, 'a red whale', preset='cpu', seed=2, **SMALL)
    assert drawing.iterations == 6 and len(drawing.strokes) == 8
    assert drawing.score == pytest.approx(eager.score, abs=1e-5)


def test_the_next_steps_parameters_are_drawn_while_the_device_works(clip, monkeypatch):
    run = ClipDrawRun(clip, 'a red whale', preset='faithful', seed=7, step_graph='on', **SMALL)
    events = []
    draw, replay = run.augment.draw, run.step_graph.__call__

    class Needs:                              # the step's read of the device, observed
        def __init__(self, tensor):
            self.tensor = tensor

        def tolist(self):
            events.append('read')
            return self.tensor.tolist()

    def drawing(*args):
        events.append('draw')
        return draw(*args)

    def replaying(params):
        events.append('replay')
        image, cosines, needs = replay(params)
        return image, cosines, Needs(needs)
    monkeypatch.setattr(run.augment, 'draw', drawing)
    monkeypatch.setattr(run, 'step_graph', mock.Mock(side_effect=replaying, will_record=False))
    run.step()
    assert events == ['draw', 'replay', 'draw', 'read']
    events.clear()
    run.step()
    assert events == ['replay', 'draw', 'read']


class _Watch(TorchDispatchMode):
    """Operators that a CUDA graph cannot replay: a wait for the device, or host data."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.refused = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        name = func.overloadpacket.__name__
        if waits_for_device(func, args, kwargs) or name in ('lift_fresh', 'lift_fresh_copy'):
            self.refused.append(name)
        return func(*args, **(kwargs or {}))


def test_the_recorded_half_of_a_step_neither_waits_for_the_device_nor_reads_the_host(clip):
    run = ClipDrawRun(clip, 'a red whale', negatives=['a ship'], preset='faithful', seed=7,
                      step_graph='on', **SMALL)
    run.step()                     # as the warm-up runs before recording: caches filled
    graph = run.step_graph
    watch = _Watch()
    with watch:
        graph.differentiate(graph.params)
    assert watch.refused == []
    assert watch.count > 100       # it saw the drawing, CLIP and the backward pass
    # The eager render, for contrast, does wait (sizes of its lists).
    watch = _Watch()
    with watch:
        run.render()
    assert 'nonzero' in watch.refused


@pytest.mark.parametrize('options, why', [
    (dict(preset='plotter'), 'plotter preset'),
    (dict(canvas_size=128), 'render size no larger'),
    (dict(renderer=lambda *a, **k: None), 'torch renderer'),
    (dict(step_graph='maybe'), 'must be one of off, on'),
])
def test_a_step_graph_refuses_what_it_cannot_record(clip, options, why):
    options = {**SMALL, 'step_graph': 'on', **options}
    with pytest.raises(InvalidOptions, match=why):
        ClipDrawRun(clip, 'a whale', **options)


def test_a_step_graph_takes_a_clip_compiled_without_graphs_of_its_own():
    compiled = load_clip(**shared_tiny_clip().load_kwargs())
    compiled.compile_image_encoder(backend='aot_eager')
    assert not compiled.records_graphs
    ClipDrawRun(compiled, 'a whale', step_graph='on', **SMALL)
    graphs = load_clip(**shared_tiny_clip().load_kwargs())
    graphs.compile_image_encoder('reduce-overhead')         # compiles at its first call
    assert graphs.records_graphs
    with pytest.raises(InvalidOptions, match='graphs of its own.*--clip-compile default'):
        ClipDrawRun(graphs, 'a whale', step_graph='on', **SMALL)
    assert clip_compile_mode('auto', 'on', 'cuda') == 'default'
    assert clip_compile_mode('auto', 'on', 'cpu') == 'off'
    assert clip_compile_mode('auto', 'off', 'cuda') == 'auto'
    assert clip_compile_mode('reduce-overhead', 'on', 'cuda') == 'reduce-overhead'


class _EmulatedGraph(TorchDispatchMode):
    """torch.cuda.CUDAGraph's contract, on the CPU: a replay runs the recorded operators
    again on the very tensors they ran on when recorded, and leaves each result where the
    recording left it. A step that reads anything but those tensors (a tensor made anew,
    a value fixed in Python) replays stale values here, as on a GPU."""

    def __init__(self):
        super().__init__()
        self.operators = []
        self.replays = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        self.operators.append((func, args, kwargs or {}, result))
        return result

    def replay(self):
        self.replays += 1
        # Kernels only, as a graph replays them: below autograd, which recorded its part.
        with torch._C._AutoDispatchBelowAutograd():
            for func, args, kwargs, recorded in self.operators:
                fresh = func(*args, **kwargs)
                for old, new in zip(tree_flatten(recorded)[0], tree_flatten(fresh)[0]):
                    if isinstance(old, torch.Tensor) and (old.untyped_storage().data_ptr()
                                                          != new.untyped_storage().data_ptr()):
                        old.copy_(new)     # not a view or an in-place result: copy it back


class _Stream:
    def wait_stream(self, other):
        pass


@pytest.fixture
def emulated_cuda_graphs(monkeypatch):
    """StepGraph's CUDA calls, served on the CPU by :class:`_EmulatedGraph`."""
    graphs = []

    def make_graph():
        graphs.append(_EmulatedGraph())
        return graphs[-1]
    monkeypatch.setattr(torch.cuda, 'CUDAGraph', make_graph)
    monkeypatch.setattr(torch.cuda, 'graph', lambda graph: graph)   # records while entered
    monkeypatch.setattr(torch.cuda, 'Stream', _Stream)
    monkeypatch.setattr(torch.cuda, 'current_stream', _Stream)
    monkeypatch.setattr(torch.cuda, 'stream', lambda stream: contextlib.nullcontext())
    return graphs


@pytest.mark.parametrize('compiled', [False, True])
def test_a_recorded_step_graph_replays_what_the_eager_step_computes(clip, emulated_cuda_graphs,
                                                                    compiled):
    if compiled:                              # recorded outside the watch on reads
        clip = load_clip(**shared_tiny_clip().load_kwargs())
        clip.compile_image_encoder(backend='aot_eager')
    runs = [ClipDrawRun(clip, 'a red whale', negatives=['a ship'], preset='faithful', seed=7,
                        step_graph=mode, **SMALL) for mode in ('off', 'on')]
    eager, graph = runs
    graph.step_graph.record = True            # as on CUDA
    for step in range(8):
        if step == 4:                         # wider strokes: the plan outgrows its buffers
            for run in runs:
                with torch.no_grad():
                    run.widths.fill_(20.0)
        scores = [run.step() for run in runs]
        assert scores[0] == pytest.approx(scores[1], abs=1e-6)
    for a, b in ((eager.point_data, graph.point_data), (eager.widths, graph.widths),
                 (eager.colors, graph.colors), (eager.last_image, graph.last_image)):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)
    recorded = emulated_cuda_graphs
    assert graph.step_graph.recordings == len(recorded) == 2
    # Every step replayed; the step that outgrew the first graph's plan, in both.
    assert [g.replays for g in recorded] == [5, 4]
    assert len(recorded[1].operators) > 200


def test_room_is_found_by_planning_before_recording(clip, emulated_cuda_graphs):
    runs = [ClipDrawRun(clip, 'a red whale', preset='faithful', seed=3, step_graph=mode,
                        **SMALL) for mode in ('off', 'on')]
    eager, graph = runs
    graph.step_graph.record = True            # as on CUDA
    graph.capacity = Capacity(pieces=8, pairs=8, ramp=8, layers=2, hits=8)   # far too small
    assert graph.step() == pytest.approx(eager.step(), abs=1e-6)
    # Found by replays, each of the rounds the room took to grow would be a recording.
    assert graph.step_graph.recordings == len(emulated_cuda_graphs) == 1
    assert emulated_cuda_graphs[0].replays == 1
    assert graph.capacity.pieces > 8 and graph.capacity.hits > 8
    assert torch.allclose(eager.point_data, graph.point_data, atol=1e-5, rtol=0)


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_bad_points_neither_grow_the_room_nor_reach_the_strokes(clip, emulated_cuda_graphs, bad):
    run = ClipDrawRun(clip, 'a whale', preset='faithful', seed=1, step_graph='on', **SMALL)
    run.step_graph.record = True              # as on CUDA: planned before recording
    with torch.no_grad():
        run.point_data[1] = bad
    before = run.point_data.detach().clone()
    with pytest.raises(ValueError, match='NaN or infinity'):
        run.step()
    assert run.capacity == Capacity.least() and run.step_graph.recordings == 1
    assert torch.allclose(run.point_data, before, rtol=0, atol=0, equal_nan=True)


class _Unreplayed:
    """A CUDA graph that records nothing and whose replays change nothing."""

    def replay(self):
        pass


def counting_backend(runs):
    """torch.compile through AOT autograd, counting the runs of the compiled forward and
    backward code (which torch skips for the eager code under a dispatch mode)."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    def compiler(kind):
        def compile_graph(graph, example_inputs):
            def run(*args):
                runs[kind] += 1
                return graph(*args)
            return make_boxed_func(run)
        return compile_graph
    return aot_autograd(fw_compiler=compiler('forward'), bw_compiler=compiler('backward'))


def test_a_compiled_clip_is_recorded_as_its_compiled_code(emulated_cuda_graphs, monkeypatch):
    """The recording watches what operators read through a dispatch mode; under one a
    compiled function runs its eager code instead, so CLIP runs outside that watch."""
    monkeypatch.setattr(torch.cuda, 'CUDAGraph', _Unreplayed)
    monkeypatch.setattr(torch.cuda, 'graph', lambda graph: contextlib.nullcontext())
    runs = {'forward': 0, 'backward': 0}
    clip = load_clip(**shared_tiny_clip().load_kwargs())
    clip.compile_image_encoder(backend=counting_backend(runs))
    run = ClipDrawRun(clip, 'a red whale', preset='faithful', seed=7, step_graph='on', **SMALL)
    run.step_graph.record = True              # as on CUDA
    run.step()
    assert run.step_graph.recordings == 1
    # Two eager runs before recording, then the recording: the compiled code each time.
    assert runs == {'forward': 3, 'backward': 3}
    with unwatched():                         # outside a recording: nothing to lift
        assert clip.encode_image(torch.rand(1, 3, 64, 64)).shape[0] == 1
    assert runs['forward'] == 4


@NO_CUDA
@pytest.mark.parametrize('compile', ['off', 'default'])     # default: inductor, no graphs
def test_a_recorded_step_graph_on_cuda_follows_the_eager_run(compile):
    clip = load_clip(**shared_tiny_clip().load_kwargs(), device='cuda')
    clip.accelerate(compile=compile)
    runs = [ClipDrawRun(clip, 'a red whale', preset='faithful', seed=5, step_graph=mode,
                        **{**SMALL, 'num_paths': 32}) for mode in ('off', 'on')]
    for _ in range(8):
        scores = [run.step() for run in runs]
        assert scores[0] == pytest.approx(scores[1], abs=1e-4)
    eager, graph = runs
    assert graph.step_graph.recordings >= 1
    assert torch.allclose(eager.point_data, graph.point_data, atol=1e-3, rtol=0)
    assert torch.allclose(eager.widths, graph.widths, atol=1e-3, rtol=0)


def test_a_step_graph_that_cannot_be_recorded_runs_eagerly(clip, monkeypatch, caplog):
    run = ClipDrawRun(clip, 'a red whale', preset='faithful', seed=7, step_graph='on',
                      **SMALL)
    graph = run.step_graph

    def refuse():
        raise RuntimeError('operation not permitted when stream is capturing\nmore')
    monkeypatch.setattr(graph, '_record', refuse)
    graph.record = True                       # as on CUDA
    eager = ClipDrawRun(clip, 'a red whale', preset='faithful', seed=7, **SMALL)
    assert run.step() == pytest.approx(eager.step(), abs=1e-6)
    assert 'running it eagerly' in caplog.text and 'not permitted' in caplog.text
    assert not graph.record and graph.graph is None
    assert run.step() == pytest.approx(eager.step(), abs=1e-6)     # and goes on


def test_a_plan_that_never_fits_ends_the_run_with_an_error(clip, monkeypatch):
    run = ClipDrawRun(clip, 'a whale', preset='faithful', seed=1, step_graph='on', **SMALL)
    run.capacity = Capacity(pieces=2, pairs=2, ramp=2, layers=2, hits=2)
    monkeypatch.setattr(Capacity, 'grown', lambda self, needs: self)   # a broken growth
    with pytest.raises(RuntimeError, match='after 12 rounds'):
        run.step()
