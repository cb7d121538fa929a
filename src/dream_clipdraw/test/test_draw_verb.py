"""``dream draw`` and ``dream bench clipdraw`` through the dream command, in process."""
import json
import xml.etree.ElementTree as ET

import pytest
import torch

from dream_clipdraw.drawing_io import load_json
from dream_clipdraw.tiny_clip import shared_tiny_clip

command = pytest.importorskip('dream_session.command')


pytestmark = pytest.mark.usefixtures('one_torch_thread')   # conftest.py


@pytest.fixture(scope='module')
def tiny():
    return shared_tiny_clip()


def dream(*argv):
    return command.main([str(a) for a in argv])


def tiny_args(tiny):
    return ['--clip-model-config', tiny.config, '--clip-pretrained', tiny.weights,
            '--canvas-size', 64, '--strokes', 6, '--iterations', 3]


def test_draw_writes_svg_png_and_json_and_prints_a_summary(tiny, tmp_path, capsys):
    svg, png, data = tmp_path / 'whale.svg', tmp_path / 'whale.png', tmp_path / 'whale.json'
    status = dream('draw', 'a red whale flying over a city at night', '--out', svg,
                   '--png', png, '--json-out', data, '--seed', 9, '--negative', 'a sketch',
                   '--json', *tiny_args(tiny))
    out, err = capsys.readouterr()
    assert status == 0, err
    summary = json.loads(out)
    assert summary['strokes'] == 6 and summary['iterations'] == 3 and summary['seed'] == 9
    assert summary['files'] == [str(svg), str(png), str(data)]
    assert summary['prompt_truncated'] is False and summary['prompt_handling'] == 'single'
    assert 'drawing' in err     # the progress bar went to stderr
    drawing = load_json(data)
    assert drawing.negative_prompts == ['a sketch'] and len(drawing.strokes) == 6
    paths = ET.parse(svg).getroot().findall('.//{http://www.w3.org/2000/svg}path')
    assert len(paths) == 6
    assert png.stat().st_size > 0


def test_clip_weights_env_var_is_the_default(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('CLIP_WEIGHTS', tiny.weights)
    status = dream('draw', 'a whale', '--out', tmp_path / 'w.json', '--clip-model-config',
                   tiny.config, '--canvas-size', 64, '--strokes', 4, '--iterations', 1,
                   '--preset', 'plotter')
    _, err = capsys.readouterr()
    assert status == 0, err
    drawing = load_json(tmp_path / 'w.json')
    assert drawing.preset == 'plotter' and drawing.palette == [(0.0, 0.0, 0.0, 1.0)]


@pytest.mark.parametrize('args, message', [
    (['   '], 'the prompt is empty'),
    (['a whale', '--strokes', '0'], 'strokes must be'),
    (['a whale', '--iterations', '-2'], 'iterations must be'),
    (['a whale', '--clip-model', 'ViT-Q-99'], 'unknown CLIP model'),
    (['a whale', '--clip-pretrained', '/no/such/file.pt'], 'not found'),
])
def test_bad_input_is_one_clear_line_without_traceback(tmp_path, capsys, args, message):
    status = dream('draw', *args, '--out', tmp_path / 'x.svg')
    _, err = capsys.readouterr()
    assert status == 1
    assert 'dream draw: error: ' in err and message in err
    assert 'Traceback' not in err
    assert not (tmp_path / 'x.svg').exists()


@pytest.mark.parametrize('args, message', [
    (['--step-graph', 'on', '--clip-compile', 'reduce-overhead'], 'graphs of its own'),
    (['--step-graph', 'on', '--preset', 'plotter'], 'plotter preset'),
    (['--pens', '3'], 'apply to the plotter preset only'),
    (['--preset', 'plotter', '--pens', '0'], 'needs 1 to 8 pens'),
    (['--negative', 'a sketch'] * 17, 'at most 16 negative prompts'),
    (['--seed', str(2 ** 32)], 'below 2^32'),
    (['--renderer', 'watercolour'], 'unknown renderer'),
])
def test_options_are_refused_before_clip_loads(tmp_path, capsys, args, message):
    """The weights named do not exist: an error about the options shows they were judged
    before CLIP was loaded (or compiled, which takes a GPU half a minute)."""
    status = dream('draw', 'a whale', '--out', tmp_path / 'x.svg', '--clip-pretrained',
                   tmp_path / 'missing.pt', *args)
    _, err = capsys.readouterr()
    assert status == 1 and message in err, err


def test_an_output_folder_that_takes_no_file_is_refused_before_drawing(tmp_path, capsys):
    unwritable = '/proc/dream-draw-test.svg'    # a folder that exists but takes no file
    status = dream('draw', 'a whale', '--out', tmp_path / 'x.svg', '--png', '/proc/x.png',
                   '--clip-pretrained', tmp_path / 'missing.pt')
    _, err = capsys.readouterr()
    assert status == 1 and "cannot write '/proc/x.png'" in err, err
    status = dream('draw', 'a whale', '--out', unwritable, '--clip-pretrained',
                   tmp_path / 'missing.pt')
    _, err = capsys.readouterr()
    assert status == 1 and f"cannot write '{unwritable}'" in err, err
    assert list(tmp_path.iterdir()) == []       # the trial file is gone


def test_bfloat16_clip_on_the_cpu_is_a_clear_error(tiny, tmp_path, capsys):
    status = dream('draw', 'a whale', '--clip-model-config', tiny.config,
                   '--clip-pretrained', tiny.weights, '--clip-precision', 'bfloat16',
                   '--out', tmp_path / 'x.svg')
    _, err = capsys.readouterr()
    assert status == 1 and 'bfloat16 CLIP needs a CUDA device' in err
    assert 'Traceback' not in err and not (tmp_path / 'x.svg').exists()


def test_an_output_that_cannot_be_written_fails_before_drawing(tiny, tmp_path, capsys):
    status = dream('draw', 'a whale', '--out', tmp_path / 'x.pdf', *tiny_args(tiny))
    _, err = capsys.readouterr()
    assert status == 1 and '.svg' in err and 'CLIP' not in err.split('error:')[0]


def test_bench_reports_a_breakdown_and_extrapolates_when_too_long(tiny, capsys):
    status = dream('bench', 'clipdraw', '--clip-model-config', tiny.config,
                   '--presets', 'faithful,plotter', '--iterations', 2, '--warmup', 0,
                   '--canvas-size', 64, '--full-limit', 0)
    out, err = capsys.readouterr()
    assert status == 0, err
    report = json.loads(out)
    assert report['weights'].startswith('random: timings only')
    assert set(report['presets']) == {'faithful', 'plotter'}
    for entry in report['presets'].values():
        ms = entry['per_iteration_ms']
        assert set(ms) == {'render', 'augment', 'clip_forward_backward',
                           'augment_render_backward', 'step', 'total'}
        assert ms['total'] > 0
        assert entry['operators_per_iteration'] > entry['operators_outside_clip'] > 100
        # The renderer's binning waits for the device a handful of times per render.
        assert 3 <= entry['host_syncs_per_iteration'] < entry['operators_outside_clip']
        assert entry['time_to_drawing'].startswith('extrapolated')
    faithful = report['presets']['faithful']
    assert faithful['settings']['iterations'] == 1000
    assert faithful['time_to_drawing_s'] >= 1000 * faithful['per_iteration_ms']['total'] / 1000


def test_bench_can_time_a_compiled_clip(tiny, capsys, monkeypatch):
    from dream_clipdraw.clip_model import ClipModel
    compile_for_real = ClipModel.compile_image_encoder
    asked = []

    def quick(self, mode=None, backend='inductor'):   # no minutes of code generation here
        asked.append(mode)
        return compile_for_real(self, mode, backend='aot_eager')
    monkeypatch.setattr(ClipModel, 'compile_image_encoder', quick)
    status = dream('bench', 'clipdraw', '--clip-model-config', tiny.config,
                   '--presets', 'cpu', '--iterations', 1, '--warmup', 1,
                   '--canvas-size', 32, '--full-limit', 0, '--clip-compile', 'reduce-overhead')
    out, err = capsys.readouterr()
    assert status == 0, err
    report = json.loads(out)
    assert asked == ['reduce-overhead'] and report['compiled'] == 'aot_eager:reduce-overhead'
    assert report['clip_precision'] == 'float32'     # auto, on the CPU
    entry = report['presets']['cpu']
    assert entry['per_iteration_ms']['total'] > 0 and entry['operators_per_iteration'] is None
    assert entry['warmup_iterations'] == 1 and entry['warmup_s'] > 0


def test_bench_measures_a_drawing_when_it_is_short(tiny, capsys):
    status = dream('bench', 'clipdraw', '--clip-model-config', tiny.config,
                   '--presets', 'plotter', '--iterations', 1, '--warmup', 0,
                   '--canvas-size', 32, '--threads', 1)
    out, err = capsys.readouterr()
    assert status == 0, err
    entry = json.loads(out)['presets']['plotter']
    assert entry['time_to_drawing'] == 'measured' and entry['time_to_drawing_s'] > 0
    assert json.loads(out)['torch_threads'] == 1
    assert torch.get_num_threads() == 1   # the module's setting, restored by the bench


def test_draw_with_a_step_graph_and_its_refusals(tiny, tmp_path, capsys):
    out_file = tmp_path / 'whale.json'
    status = dream('draw', 'a red whale', '--out', out_file, '--seed', 4, '--step-graph', 'on',
                   '--preset', 'faithful', *tiny_args(tiny))
    _, err = capsys.readouterr()
    assert status == 0, err
    assert len(load_json(out_file).strokes) == 6
    status = dream('draw', 'a red whale', '--out', out_file, '--step-graph', 'on',
                   '--preset', 'plotter', *tiny_args(tiny))
    _, err = capsys.readouterr()
    assert status != 0 and '--step-graph on: the plotter preset' in err
    assert 'Traceback' not in err


def test_bench_counts_the_operators_left_outside_a_step_graph(tiny, capsys):
    outside = {}
    for mode in ('off', 'on'):
        status = dream('bench', 'clipdraw', '--clip-model-config', tiny.config,
                       '--presets', 'faithful', '--iterations', 1, '--warmup', 0,
                       '--canvas-size', 64, '--full-limit', 0, '--step-graph', mode)
        out, err = capsys.readouterr()
        assert status == 0, err
        report = json.loads(out)
        assert report['step_graph'] == mode and report['compiled'] is None
        entry = report['presets']['faithful']
        outside[mode] = entry['operators_outside_clip']
        # On the CPU the step graph runs eagerly: nothing is recorded.
        assert entry['step_graph_recordings'] == (0 if mode == 'on' else None)
    # What stays eager: the augmentations' parameters, reading the checks, Adam.
    assert 20 < outside['on'] < 0.2 * outside['off']


@pytest.mark.parametrize('signum, status', [('SIGINT', 130), ('SIGTERM', 143)])
def test_a_signal_stops_the_drawing_and_keeps_it(tiny, tmp_path, signum, status):
    """Once SIGTERM (a supervisor stopping it) lost the work that Ctrl-C kept."""
    import signal
    import subprocess
    import sys
    args = [str(a) for a in tiny_args(tiny)]
    args[args.index('--iterations') + 1] = '100000'
    out = tmp_path / 'stopped.json'
    proc = subprocess.Popen([sys.executable, '-m', 'dream_session.command', 'draw', 'a whale',
                             '--out', str(out), *args], stderr=subprocess.PIPE, text=True)
    try:
        seen = ''
        while '10/100000' not in seen:          # the bar shows iterations done
            chunk = proc.stderr.read(1)
            assert chunk, 'dream draw ended early:\n' + seen
            seen += chunk
        proc.send_signal(getattr(signal, signum))
        err = seen + proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == status, err[-2000:]
    assert 'stopping after this iteration' in err and 'cancelled after' in err
    drawing = load_json(out)
    assert drawing.cancelled and 10 <= drawing.iterations < 100000
