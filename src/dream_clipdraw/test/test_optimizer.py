"""The CLIPDraw loop with a tiny CLIP on a small canvas: recipe, seeds, cancel, NaNs, pens."""
import threading

import pytest
import torch

from dream_clipdraw.clip_model import load_clip
from dream_clipdraw.errors import InvalidOptions, InvalidPrompt, NumericalError
from dream_clipdraw.optimizer import ClipDrawRun, generate_drawing
from dream_clipdraw.presets import MARKER_PALETTE
from dream_clipdraw.rasterizer import render
from dream_clipdraw.tiny_clip import shared_tiny_clip

SMALL = dict(canvas_size=64, render_size=0, num_paths=8, iterations=6)


pytestmark = pytest.mark.usefixtures('one_torch_thread')   # conftest.py


@pytest.fixture(scope='module')
def clip():
    return load_clip(**shared_tiny_clip().load_kwargs())


def test_a_drawing_has_the_recipes_strokes_within_their_bounds(clip):
    drawing = generate_drawing(clip, 'a red whale', preset='faithful', seed=3, **SMALL)
    assert len(drawing.strokes) == 8 and drawing.iterations == 6
    assert drawing.canvas_width == drawing.canvas_height == 64
    for s in drawing.strokes:
        assert len(s.points) in (4, 7, 10)
        assert 1.0 <= s.width <= 50.0
        assert all(0.0 <= c <= 1.0 for c in s.color)
    assert drawing.preset == 'faithful' and drawing.seed == 3
    assert drawing.clip_model == clip.name and drawing.renderer == 'torch'
    assert -1.0 <= drawing.score <= 1.0 and drawing.generation_time > 0
    assert drawing.prompt_handling == 'single' and not drawing.prompt_truncated
    assert not drawing.cancelled and not drawing.random_weights
    assert drawing.settings['lr_points'] == 1.0 and drawing.settings['augmentations'] == 4


def test_same_seed_same_strokes_other_seed_other_strokes(clip):
    a = generate_drawing(clip, 'a red whale', seed=11, **SMALL)
    b = generate_drawing(clip, 'a red whale', seed=11, **SMALL)
    c = generate_drawing(clip, 'a red whale', seed=12, **SMALL)
    assert a.strokes == b.strokes
    assert a.strokes != c.strokes


def test_no_seed_draws_one_and_reports_it(clip):
    drawing = generate_drawing(clip, 'a whale', seed=-1, **SMALL)
    again = generate_drawing(clip, 'a whale', seed=drawing.seed, **SMALL)
    assert again.strokes == drawing.strokes


def test_a_step_raises_the_cosine_on_the_same_augmentations(clip):
    """Gradient ascent on cos(text, augmented render): replay one step's warps after it."""
    run = ClipDrawRun(clip, 'a red whale', seed=5, canvas_size=64, render_size=0,
                      num_paths=16, iterations=10, lr_points=0.05, lr_widths=0.01,
                      lr_colors=0.002)

    @torch.no_grad()
    def objective(state):
        run.generator.set_state(state)
        batch = run.augment(run.render(), run.preset.augmentations)
        return float((clip.encode_image(batch) @ run.text).mean())

    for _ in range(3):
        state = run.generator.get_state()
        before = objective(state)
        run.generator.set_state(state)
        run.step()
        assert objective(state) > before


def test_negative_prompts_change_the_result(clip):
    plain = generate_drawing(clip, 'a red whale', seed=7, **SMALL)
    steered = generate_drawing(clip, 'a red whale', seed=7, negatives=['a badly drawn sketch'],
                               **SMALL)
    assert steered.negative_prompts == ['a badly drawn sketch']
    assert plain.strokes != steered.strokes
    blank = generate_drawing(clip, 'a red whale', seed=7, negatives=['', '  '], **SMALL)
    assert blank.strokes == plain.strokes and blank.negative_prompts == []


def test_progress_reports_every_iteration_with_a_preview(clip):
    seen = []
    generate_drawing(clip, 'a whale', seed=1, progress=seen.append, **SMALL)
    assert [p.iteration for p in seen] == list(range(1, 7))
    assert all(p.total == 6 and p.phase == 'optimise' for p in seen)
    assert seen[0].image.shape == (3, 64, 64)
    assert seen[-1].elapsed >= seen[0].elapsed


def test_cancel_mid_run_returns_the_current_drawing_marked_cancelled(clip):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    drawing = generate_drawing(clip, 'a whale', seed=1, cancel=cancel,
                               **{**SMALL, 'iterations': 50})
    assert drawing.cancelled and drawing.iterations == 3 and drawing.total_iterations == 50
    assert len(drawing.strokes) == 8


def test_cancel_event_set_before_the_start_gives_the_initial_scene(clip):
    event = threading.Event()
    event.set()
    drawing = generate_drawing(clip, 'a whale', seed=1, cancel=event, **SMALL)
    assert drawing.cancelled and drawing.iterations == 0
    untouched = generate_drawing(clip, 'a whale', seed=1, **{**SMALL, 'iterations': 0})
    assert drawing.strokes == untouched.strokes


def _nan_on(calls_to_poison):
    count = [0]

    def poisoned(points, widths, colors, size, **kwargs):
        count[0] += 1
        image = render(points, widths, colors, size, **kwargs)
        return image * float('nan') if count[0] in calls_to_poison else image
    return poisoned


def test_a_nan_step_is_skipped_and_never_reaches_the_strokes(clip):
    run = ClipDrawRun(clip, 'a whale', seed=2, renderer=_nan_on({2}), **SMALL)
    run.step()
    before = [p.detach().clone() for p in run.points]
    colors = run.colors.detach().clone()
    score = run.step()
    assert score != score   # NaN reported for the skipped step
    assert run.nonfinite_steps == 1
    assert all(torch.equal(a, b) for a, b in zip(before, run.points))
    assert torch.equal(colors, run.colors)
    run.step()
    assert not all(torch.equal(a, b) for a, b in zip(before, run.points))
    drawing = run.drawing()
    assert drawing.nonfinite_steps == 1
    assert all(v == v for s in drawing.strokes for p in s.points for v in p)


def test_every_stroke_is_a_view_of_one_optimised_tensor(clip):
    """One leaf for all points: one gradient accumulation and one Adam tensor per step."""
    run = ClipDrawRun(clip, 'a whale', seed=2, **SMALL)
    before = run.point_data.detach().clone()
    run.step()
    assert run.point_optimizer.param_groups[0]['params'] == [run.point_data]
    assert run.point_data.grad is not None and bool(run.point_data.grad.abs().sum() > 0)
    assert not torch.equal(before, run.point_data)
    assert [tuple(q.shape) for q in run.points] == [(n, 2) for n in run.point_counts]
    assert torch.equal(torch.cat(run.points), run.point_data)
    drawing = run.drawing()
    assert [s.points for s in drawing.strokes] == [q.tolist() for q in run.points]


def test_a_loss_that_stays_nan_is_a_numerical_error(clip):
    with pytest.raises(NumericalError, match='NaN or infinite'):
        generate_drawing(clip, 'a whale', seed=2, renderer=_nan_on(set(range(100))),
                         max_nonfinite=4, **{**SMALL, 'iterations': 20})


def test_plotter_strokes_are_opaque_black_of_the_pen_width(clip):
    drawing = generate_drawing(clip, 'a whale', preset='plotter', seed=4, canvas_size=64,
                               num_paths=12, iterations=6, finetune_iterations=3,
                               pen_width=3.0)
    assert drawing.palette == [(0.0, 0.0, 0.0, 1.0)]
    assert drawing.iterations == 9 and drawing.total_iterations == 9
    assert 0 < len(drawing.strokes) <= 12
    for s in drawing.strokes:
        assert s.color == (0.0, 0.0, 0.0, 1.0) and s.width == 3.0 and s.pen == 0
        assert all(0 <= v <= 64 for p in s.points for v in p)


def test_plotter_drops_exactly_the_faint_strokes(clip):
    run = ClipDrawRun(clip, 'a whale', preset='plotter', seed=4, canvas_size=64,
                      num_paths=20, iterations=2, min_alpha=0.5)
    run.step()
    faint = int((run.alpha < 0.5).sum())
    assert 0 < faint < 20
    run.snap_to_pens()
    assert len(run.points) == 20 - faint
    assert bool((run.alpha == 1).all())


def test_plotter_keeps_the_most_opaque_stroke_when_every_one_is_faint(clip):
    """Once a drawing of 0 strokes was a success (and failed at the plotter)."""
    run = ClipDrawRun(clip, 'a whale', preset='plotter', seed=4, canvas_size=64,
                      num_paths=6, iterations=0, finetune_iterations=0, min_alpha=0.99)
    strongest = int(run.alpha.argmax())
    expected = run.points[strongest].detach().clone()
    assert bool((run.alpha < 0.99).all())
    drawing = run.run()
    assert len(drawing.strokes) == 1
    assert drawing.strokes[0].points == expected.tolist()


def test_plotter_with_several_pens_snaps_colours_to_the_palette(clip):
    drawing = generate_drawing(clip, 'a whale', preset='plotter', seed=4, canvas_size=64,
                               num_paths=16, iterations=4, num_pens=4, min_alpha=0.0)
    palette = [tuple(c) + (1.0,) for c in MARKER_PALETTE[:4]]
    assert drawing.palette == palette
    assert len(drawing.strokes) == 16
    for s in drawing.strokes:
        assert 0 <= s.pen < 4
        assert s.color == palette[s.pen]     # exactly (once float32 copies: 0.8500000238)
    assert len({s.pen for s in drawing.strokes}) > 1


def test_plotter_path_length_budget_is_honoured(clip):
    free = generate_drawing(clip, 'a whale', preset='plotter', seed=4, canvas_size=64,
                            num_paths=16, iterations=3, min_alpha=0.0)
    budget = free.total_length() / 3
    for penalty in (0.5, 0.0):   # with the penalty, and by pruning alone
        capped = generate_drawing(clip, 'a whale', preset='plotter', seed=4, canvas_size=64,
                                  num_paths=16, iterations=3, min_alpha=0.0,
                                  path_length_budget=budget, length_penalty=penalty)
        assert 0 < capped.total_length() <= budget
    assert len(capped.strokes) < len(free.strokes)


def test_a_budget_shorter_than_every_stroke_is_an_error_not_an_empty_page(clip):
    with pytest.raises(InvalidOptions, match='shorter than every stroke'):
        generate_drawing(clip, 'a whale', preset='plotter', seed=4, canvas_size=64,
                         num_paths=8, iterations=1, path_length_budget=0.5)


def test_a_long_prompt_is_recorded_in_the_drawing(clip):
    text = ' '.join(f'In the dream number {i} a whale sang to a red lighthouse.'
                    for i in range(12))
    drawing = generate_drawing(clip, text, seed=1, **{**SMALL, 'iterations': 1})
    assert drawing.prompt_handling.startswith('sentences-mean:')
    assert int(drawing.prompt_handling.split(':')[1]) >= 2
    assert not drawing.prompt_truncated and drawing.prompt == text


def test_random_weight_drawings_are_flagged(clip):
    random_clip = load_clip(config_file=shared_tiny_clip().config, random_weights=True)
    drawing = generate_drawing(random_clip, 'a whale', seed=1, **SMALL)
    assert drawing.random_weights and drawing.clip_pretrained == 'random'


@pytest.mark.parametrize('prompt', ['', '   '])
def test_empty_prompts_are_rejected(clip, prompt):
    with pytest.raises(InvalidPrompt):
        generate_drawing(clip, prompt, **SMALL)


@pytest.mark.parametrize('overrides', [{'num_paths': 0}, {'iterations': -3},
                                       {'preset': 'nope'}, {'renderer': 'nope'},
                                       {'seed': 2 ** 40}])
def test_absurd_options_are_rejected(clip, overrides):
    with pytest.raises(InvalidOptions):
        generate_drawing(clip, 'a whale', **{**SMALL, **overrides})


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
@pytest.mark.parametrize('preset', ['faithful', 'plotter'])
def test_a_run_on_cuda_steps_and_moves_the_strokes(preset):
    """The GPU path (fused Adam, batched clamps and finiteness checks) really optimises."""
    clip = load_clip(**shared_tiny_clip().load_kwargs(), device='cuda')
    run = ClipDrawRun(clip, 'a red whale', preset=preset, seed=5, **SMALL)
    before = [q.detach().clone() for q in run.points]
    scores = [run.step() for _ in range(4)]
    assert all(-1.0 <= s <= 1.0 for s in scores) and run.nonfinite_steps == 0
    assert any(not torch.equal(a, b) for a, b in zip(before, run.points))
    assert all(bool(((q >= 0) & (q <= 64)).all()) for q in run.points) or preset != 'plotter'
