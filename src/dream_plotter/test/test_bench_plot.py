"""``dream bench plot`` refuses bad options in one line, before any drawing is planned."""
import argparse

import pytest

from dream_plotter.plot_bench import PlotBenchmark

command = pytest.importorskip('dream_session.command')


@pytest.mark.parametrize('argv, message', [
    (['--drawings', '0'], '--drawings must be in [1, 1000], got 0'),
    (['--drawings', '-1'], '--drawings must be in [1, 1000], got -1'),
    (['--drawings', '1001'], '--drawings must be in [1, 1000], got 1001'),
    (['--repeats', '0'], '--repeats must be in [1, 100], got 0'),
    (['--repeats', '-1'], '--repeats must be in [1, 100], got -1'),
    (['--repeats', '101'], '--repeats must be in [1, 100], got 101'),
    (['--strokes', '0'], '--strokes must be in [1, 10000], got 0'),
    (['--strokes', '1000000000'], '--strokes must be in [1, 10000], got 1000000000'),
    (['--timing-strokes', '0'], '--timing-strokes must be in [1, 10000], got 0'),
    (['--timing-strokes', '10001'], '--timing-strokes must be in [1, 10000], got 10001'),
    (['--seed', '-1'], '--seed must be >= 0'),
    (['--paper', ''], "--paper: unknown paper '': use one of A3, A4"),
    (['--paper', 'B9'], "--paper: unknown paper 'B9'"),
])
def test_bad_options_are_one_line_errors(argv, message, capsys):
    assert command.main(['bench', 'plot', *argv]) == 1
    printed = capsys.readouterr()
    assert f'dream bench plot: error: {message}' in printed.err
    assert 'drawing 1/' not in printed.err and printed.out == ''


def test_every_option_tells_its_default():
    parser = argparse.ArgumentParser()
    PlotBenchmark().add_arguments(parser)
    options = [a for a in parser._actions if a.option_strings and a.dest != 'help']
    assert options and all('default %(default)s' in (a.help or '') for a in options)


def test_every_method_has_every_figure(capsys):
    import json
    parser = argparse.ArgumentParser()
    bench = PlotBenchmark()
    bench.add_arguments(parser)
    args = parser.parse_args(['--drawings', '2', '--strokes', '12', '--timing-strokes', '8',
                              '--repeats', '1'])
    assert bench.main(args) == 0
    figures = json.loads(capsys.readouterr().out)
    methods = set(figures['pen_up_mm'])
    assert 'vpype_greedy' in methods
    for table in ('pen_up_ratio_vs_generation_order', 'pen_up_ratio_vs_vpype_greedy',
                  'estimated_duration_s'):
        assert set(figures[table]) == methods, table
    durations = figures['estimated_duration_s']
    # the same strokes drawn in another order: only the pen-up travel time differs
    assert 0 < durations['vpype_greedy'] <= durations['generation_order']
