"""``dream plot`` (driver cores, no ROS graph) and ``dream bench plot``."""
import argparse
import io
import json

import pytest

from dream_plotter.drawing_files import drawing_to_dict
from dream_plotter.grbl_simulator import GrblSimulator
from dream_plotter.plot_bench import PlotBenchmark
from dream_plotter.plot_verb import PlotVerb
from dream_plotter.random_drawings import random_drawing


def run(verb, argv):
    parser = argparse.ArgumentParser()
    verb.add_arguments(parser)
    return verb.main(parser.parse_args(argv))


@pytest.fixture
def drawing_file(tmp_path):
    path = tmp_path / 'drawing.json'
    data = drawing_to_dict(random_drawing(25, seed=9))
    data['palette'] = [[0, 0, 0, 1], [0.8, 0.1, 0.1, 1]]
    for i, stroke in enumerate(data['strokes']):
        stroke['pen'] = i % 2
    path.write_text(json.dumps(data))
    return path


def test_sim_plot_writes_the_drawing_and_reports_json(drawing_file, tmp_path, capsys):
    out = tmp_path / 'out' / 'sim.png'
    assert run(PlotVerb(), [str(drawing_file), '--out', str(out), '--json']) == 0
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    assert report['outcome']['error_name'] == 'NONE'
    assert 'done: drew strokes 0..24 (strokes done 25/25' in printed.err
    assert report['outcome']['strokes_done'] == 25
    assert report['estimate']['pen_changes'] == 1
    assert out.is_file() and out.with_suffix('.svg').is_file()


def test_dry_run_moves_nothing_and_honours_the_paper(drawing_file, capsys):
    assert run(PlotVerb(), [str(drawing_file), '--dry-run', '--json', '--paper', 'A5',
                            '--orientation', 'landscape']) == 0
    report = json.loads(capsys.readouterr().out)
    assert 'outcome' not in report and report['paper'].startswith('A5 landscape')


def test_grbl_plot_through_the_simulator(drawing_file, capsys, monkeypatch):
    monkeypatch.setattr('sys.stdin', io.StringIO())     # no terminal: nobody to ask
    sim = GrblSimulator().start()
    try:
        code = run(PlotVerb(), [str(drawing_file), '--driver', 'grbl', '--port', sim.url,
                                '--json', '--pen-change-wait', '0.2'])
    finally:
        sim.stop()
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    assert code == 0 and report['outcome']['strokes_done'] == 25
    assert len(sim.episodes) == report['paths'] and not sim.pen_down
    assert report['outcome']['pen_changes'] == 1 and sim.lines.count('G4P0.2') == 1
    assert 'pen change: load pen 1 (#cc1a1a); plotting goes on in 0.2 s' in printed.err


def test_pen_changes_without_a_terminal_are_refused_before_plotting(drawing_file, capsys,
                                                                    monkeypatch):
    monkeypatch.setattr('sys.stdin', io.StringIO())
    sim = GrblSimulator().start()
    try:
        with pytest.raises(ValueError, match='--pen-change-wait SECONDS'):
            run(PlotVerb(), [str(drawing_file), '--driver', 'grbl', '--port', sim.url])
        with pytest.raises(ValueError, match='--pen-change-wait must be'):
            run(PlotVerb(), [str(drawing_file), '--driver', 'grbl', '--port', sim.url,
                             '--pen-change-wait', '-1'])
        assert sim.lines == [] and sim.episodes == []         # not even connected
        one_pen = drawing_file.with_name('one_pen.json')
        one_pen.write_text(json.dumps(drawing_to_dict(random_drawing(5, seed=9))))
        assert run(PlotVerb(), [str(one_pen), '--driver', 'grbl', '--port', sim.url]) == 0
    finally:
        sim.stop()


def test_bad_input_gives_a_clear_error(tmp_path):
    from dream_plotter.outcome import PlotError
    bad = tmp_path / 'bad.json'
    bad.write_text('{"strokes": []}')
    with pytest.raises(PlotError, match='no strokes'):
        run(PlotVerb(), [str(bad)])
    with pytest.raises(ValueError):
        run(PlotVerb(), [])


def test_benchmark_figures(capsys):
    assert run(PlotBenchmark(), ['--drawings', '2', '--strokes', '64', '--timing-strokes',
                                 '128', '--repeats', '1']) == 0
    figures = json.loads(capsys.readouterr().out)
    pen_up = figures['pen_up_ratio_vs_generation_order']
    assert pen_up['ours'] < pen_up['vpype_greedy'] < 1.0
    assert figures['planning_time']['ours']['median_s'] > 0


def test_ctrl_c_cancels_the_plot_with_the_pen_up(drawing_file, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    script = ('import argparse, sys; from dream_plotter.plot_verb import PlotVerb; '
              'p = argparse.ArgumentParser(); v = PlotVerb(); v.add_arguments(p); '
              'sys.exit(v.main(p.parse_args(sys.argv[1:])))')
    proc = subprocess.Popen([sys.executable, '-c', script, str(drawing_file), '--time-scale',
                             '3', '--json'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for _ in range(10):                     # the plan summary comes before the plot starts
        if proc.stderr.readline().startswith('estimate:'):
            break
    time.sleep(1.0)                         # the plot takes ~13 s at this time scale
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err[-2000:]
    report = json.loads(out)
    assert report['outcome']['error_name'] == 'CANCELLED'
    assert report['outcome']['pen_up'] is True
    assert report['outcome']['next_stroke'] < 25


def test_the_progress_bar_shows_the_pen_and_time_left_during_a_long_stroke():
    import io

    from tqdm import tqdm

    from dream_plotter.outcome import Progress
    out = io.StringIO()
    bar = tqdm(total=1, file=out)
    PlotVerb._update_bar(bar, Progress(strokes_total=1, pen_down=False, time_left=10))
    PlotVerb._update_bar(bar, Progress(strokes_total=1, pen_down=True, time_left=4))
    assert out.getvalue().rstrip().endswith('down, 4 s left]')


PLOT_SCRIPT = ('import argparse, sys; from dream_plotter.plot_verb import PlotVerb; '
               'p = argparse.ArgumentParser(); v = PlotVerb(); v.add_arguments(p); '
               'sys.exit(v.main(p.parse_args(sys.argv[1:])))')


@pytest.mark.parametrize('signame,code', [('SIGTERM', 143), ('SIGHUP', 129)])
def test_sigterm_and_sighup_cancel_a_grbl_plot_with_the_pen_up(tmp_path, signame, code):
    import signal
    import subprocess
    import sys
    import time
    path = tmp_path / 'one_pen.json'
    path.write_text(json.dumps(drawing_to_dict(random_drawing(25, seed=9))))
    sim = GrblSimulator(time_factor=1.0).start()       # real time: ~20 s of drawing
    try:
        proc = subprocess.Popen([sys.executable, '-c', PLOT_SCRIPT, str(path), '--driver',
                                 'grbl', '--port', sim.url, '--json'],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while len(sim.episodes) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sim.pen_down or sim.episodes, 'the plot did not start'
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err[-2000:]
        report = json.loads(out)
        assert report['outcome']['error_name'] == 'CANCELLED'
        assert report['outcome']['pen_up'] is True and not sim.pen_down
        assert report['outcome']['next_stroke'] < 25
    finally:
        sim.stop()


@pytest.fixture
def no_plotting(monkeypatch):
    """A driver that fails the test if it is ever started."""
    def refuse(self, args):
        raise AssertionError('the plot started before the options were checked')
    monkeypatch.setattr(PlotVerb, '_driver', refuse)


def test_strokes_past_the_paper_are_clipped_unless_refused(tmp_path, capsys):
    from dream_plotter.outcome import PlotError
    path = tmp_path / 'wide.json'
    path.write_text(json.dumps({'canvas_width': 100, 'canvas_height': 100, 'strokes': [
        {'control_points': [[10, 50], [90, 50]]}, {'control_points': [[-500, 20], [600, 20]]}]}))
    assert run(PlotVerb(), [str(path)]) == 0            # as a session does: clip_to_paper
    assert '1 stroke(s) clipped to the work area' in capsys.readouterr().err
    with pytest.raises(PlotError, match='Leave out --no-clip to clip them') as err:
        run(PlotVerb(), [str(path), '--no-clip'])
    assert 'out_of_bounds=' not in str(err.value)
    assert run(PlotVerb(), [str(path), '--clip']) == 0


def test_out_is_checked_before_the_plot(drawing_file, tmp_path, no_plotting):
    with pytest.raises(ValueError, match=r'ending in \.png'):
        run(PlotVerb(), [str(drawing_file), '--out', str(tmp_path / 'out.txt')])
    with pytest.raises(ValueError, match='is not a folder'):
        run(PlotVerb(), [str(drawing_file), '--out', str(drawing_file / 'sim.png')])
    (tmp_path / 'sim.svg').mkdir()
    with pytest.raises(ValueError, match='is a folder'):
        run(PlotVerb(), [str(drawing_file), '--out', str(tmp_path / 'sim.png')])
    with pytest.raises(ValueError, match='sim driver only'):
        run(PlotVerb(), [str(drawing_file), '--driver', 'grbl', '--out', 'x.png'])


def test_unknown_paper_and_a_folder_are_clear_usage_errors(drawing_file, tmp_path,
                                                           no_plotting):
    from dream_plotter.outcome import PlotError
    with pytest.raises(ValueError, match="--paper: unknown paper 'Z9': use one of A3") as err:
        run(PlotVerb(), [str(drawing_file), '--paper', 'Z9'])
    assert 'OUT_OF_BOUNDS' not in str(err.value)
    with pytest.raises(ValueError, match='--margin must be a finite number'):
        run(PlotVerb(), [str(drawing_file), '--margin', 'nan'])
    with pytest.raises(PlotError, match='is a folder'):
        run(PlotVerb(), [str(tmp_path)])


def test_invisible_svg_strokes_are_not_plotted(tmp_path, capsys):
    svg = tmp_path / 'vis.svg'
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
                   '<line x1="10" y1="10" x2="90" y2="10" stroke="black"/>'
                   '<line x1="10" y1="30" x2="90" y2="30" stroke="black" stroke-opacity="0"/>'
                   '<line x1="10" y1="50" x2="90" y2="50" stroke="black" opacity="0"/>'
                   '<line x1="10" y1="70" x2="90" y2="70" stroke="black" visibility="hidden"/>'
                   '<line x1="10" y1="90" x2="90" y2="90" stroke="black" opacity="0.3"/>'
                   '</svg>')
    assert run(PlotVerb(), [str(svg), '--dry-run', '--json']) == 0
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    assert report['paths'] == 2
    assert ('warning: 2 stroke(s) fainter than min_opacity 0.1 are not drawn and count as '
            'done first (first: 1, 2)') in printed.err
    assert run(PlotVerb(), [str(svg), '--dry-run', '--json', '--min-opacity', '0.5']) == 0
    assert json.loads(capsys.readouterr().out)['paths'] == 1
    with pytest.raises(ValueError, match=r'--min-opacity must be in \[0, 1\], got 1.5'):
        run(PlotVerb(), [str(svg), '--dry-run', '--min-opacity', '1.5'])


def test_a_resume_at_the_end_says_nothing_was_left_to_draw(drawing_file, capsys):
    assert run(PlotVerb(), [str(drawing_file), '--start-stroke', '25']) == 0
    err = capsys.readouterr().err
    assert 'done: nothing left to draw from stroke 25 of 25 (strokes done 25/25' in err
    assert '25..24' not in err


def test_machine_travel_cuts_a_larger_work_area_with_a_warning(drawing_file, capsys):
    assert run(PlotVerb(), [str(drawing_file), '--dry-run', '--json', '--paper', '2000x2000',
                            '--driver', 'axidraw', '--machine', '300x218']) == 0
    printed = capsys.readouterr()
    assert 'work area x 10..300 y 10..218 mm' in json.loads(printed.out)['paper']
    assert ('warning: the work area of 2000x2000 with 10 mm margins is larger than the '
            'machine travel (300x218 mm') in printed.err
    for bad in ('abc', '0x200', '300x', '1.2.3x4', '6000x100', 'axidraw-a4'):
        with pytest.raises(ValueError, match=f"--machine '{bad}': give the travel as "
                                             'WIDTHxHEIGHT in mm'):
            run(PlotVerb(), [str(drawing_file), '--dry-run', '--machine', bad])


def test_axidraw_travel_is_its_models_v3_unless_given(drawing_file, capsys):
    def work(*options):
        assert run(PlotVerb(), [str(drawing_file), '--dry-run', '--json', '--paper',
                                '2000x2000', *options]) == 0
        return json.loads(capsys.readouterr().out)['paper']
    assert 'work area x 10..300 y 10..218 mm' in work('--driver', 'axidraw')
    assert 'work area x 10..430 y 10..297 mm' in work('--driver', 'axidraw', '--machine',
                                                      'axidraw-a3')
    assert 'work area x 10..1990 y 10..1990 mm' in work('--driver', 'axidraw', '--machine',
                                                        'none')
    assert 'work area x 10..1990 y 10..1990 mm' in work('--driver', 'grbl')
    assert 'work area x 10..160 y 10..101.6 mm' in work('--machine', 'MiniKit')


def test_a_near_zero_work_area_is_refused_naming_paper_and_margin(drawing_file):
    with pytest.raises(ValueError, match=r'--paper/--margin/--machine: paper 100x100 '
                                         r'\(100x100 mm\) with 49.9 mm margins leaves a work '
                                         r'area of 0.2x0.2 mm: it must be at least 10 mm'):
        run(PlotVerb(), [str(drawing_file), '--dry-run', '--paper', '100x100',
                         '--margin', '49.9'])


def test_margin_0_means_no_margin(drawing_file, capsys):
    """Once --margin 0 drew with 10 mm margins (a request's 0 means "the default")."""
    assert run(PlotVerb(), [str(drawing_file), '--dry-run', '--json', '--margin', '0',
                            '--paper', 'A4']) == 0
    report = json.loads(capsys.readouterr().out)
    assert 'work area x 0..210 y 0..297 mm' in report['paper'], report['paper']
