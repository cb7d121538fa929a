"""Presets: faithful is CLIPDraw's recipe, overrides are validated, the lr drops by fraction."""
import pytest

from dream_clipdraw.errors import InvalidOptions
from dream_clipdraw.presets import MARKER_PALETTE, PRESETS, lr_at, make_preset


def test_faithful_is_the_clipdraw_recipe():
    p = PRESETS['faithful']
    assert (p.num_paths, p.max_segments, p.iterations, p.canvas_size) == (256, 3, 1000, 224)
    # Our widths are full widths; the notebook's diffvg stroke_width is a half-width, so its
    # width lr 0.1, init 1 and clamp [1, 50] are 0.2, 2 and [2, 100] here.
    assert (p.lr_points, p.lr_widths, p.lr_colors) == (1.0, 0.2, 0.01)
    assert p.augmentations == 4 and p.distortion == 0.5 and p.crop_scale == (0.7, 0.9)
    assert (p.width_min, p.width_max, p.init_width) == (2.0, 100.0, 2.0)
    assert p.negative_weight == 0.3 and p.normalize_input and p.samples == 2
    assert p.render_size in (0, 224) and not p.plotter


def test_points_lr_drops_by_fraction_of_the_run_once_each():
    p = make_preset('faithful', iterations=1000)
    assert [lr_at(p, i) for i in (0, 1, 499, 500, 749, 750, 999)] == \
        [1.0, 1.0, 1.0, 0.4, 0.4, 0.1, 0.1]
    short = make_preset('faithful', iterations=10)
    assert [lr_at(short, i) for i in range(10)] == [1.0] * 5 + [0.4] * 3 + [0.1] * 2


def test_cpu_preset_is_lighter_than_faithful():
    cpu, faithful = PRESETS['cpu'], PRESETS['faithful']
    work = (lambda p: p.iterations * p.augmentations)
    assert work(cpu) * 10 <= work(faithful)
    assert cpu.num_paths < faithful.num_paths


def test_plotter_preset_uses_pens():
    p = PRESETS['plotter']
    assert p.plotter and p.num_pens == 1 and p.palette() == (MARKER_PALETTE[0],)
    assert p.palette()[0] == (0.0, 0.0, 0.0)
    assert make_preset('plotter', num_pens=8).palette() == MARKER_PALETTE


def test_overrides_apply_and_none_keeps_the_preset_value():
    p = make_preset('cpu', num_paths=12, iterations=None)
    assert p.num_paths == 12 and p.iterations == PRESETS['cpu'].iterations
    assert make_preset(p, iterations=3).num_paths == 12


@pytest.mark.parametrize('overrides', [
    {'num_paths': 0}, {'num_paths': -5}, {'iterations': -1}, {'num_paths': 2.5},
    {'canvas_size': 4}, {'augmentations': 0}, {'lr_points': float('nan')}, {'samples': 0},
    {'crop_scale': (0.9, 0.7)}, {'min_alpha': 1.0}])
def test_absurd_options_are_rejected(overrides):
    with pytest.raises(InvalidOptions):
        make_preset('cpu', **overrides)


@pytest.mark.parametrize('overrides', [
    {'num_pens': 9}, {'num_pens': 0}, {'pen_width': 0.0}, {'path_length_budget': -1.0}])
def test_absurd_pen_settings_are_rejected(overrides):
    with pytest.raises(InvalidOptions):
        make_preset('plotter', **overrides)


@pytest.mark.parametrize('setting', [('num_pens', 3), ('pen_width', 4.0),
                                     ('path_length_budget', 500.0)])
@pytest.mark.parametrize('preset', ['cpu', 'faithful'])
def test_pen_settings_belong_to_the_plotter_preset(preset, setting):
    name, value = setting
    with pytest.raises(InvalidOptions, match=f"{name} apply to the plotter preset only"):
        make_preset(preset, **{name: value})
    assert getattr(make_preset('plotter', **{name: value}), name) == value


def test_unknown_preset_and_option_names_are_rejected():
    with pytest.raises(InvalidOptions, match='faithful'):
        make_preset('photoreal')
    with pytest.raises(InvalidOptions, match='colour_depth'):
        make_preset('cpu', colour_depth=3)
