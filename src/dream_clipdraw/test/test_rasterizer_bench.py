"""``dream bench rasterizer`` runs and prints its figures as JSON."""
import argparse
import json

import pytest
import torch

from dream_clipdraw.bench_rasterizer import RasterizerBenchmark


def run(capsys, *argv):
    bench = RasterizerBenchmark()
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    threads = torch.get_num_threads()
    try:
        status = bench.main(parser.parse_args(list(argv)))
    finally:
        torch.set_num_threads(threads)  # the benchmark sets it for the whole process
    return status, capsys.readouterr()


def test_benchmark_prints_json_figures(capsys):
    status, out = run(capsys, '--strokes', '3,6', '--repeats', '2', '--size', '32',
                      '--scenes', 'init,late', '--threads', '1')
    assert status == 0
    report = json.loads(out.out)
    assert report['threads'] == 1 and report['size'] == 32 and report['samples'] == 2
    assert report['torch'] and 'load_average_1min' in report and 'omp_wait_policy' in report
    rows = report['results']
    assert {(r['scene'], r['strokes'], r['mode']) for r in rows} == {
        (scene, n, mode) for scene in ('init', 'late') for n in (3, 6)
        for mode in ('over', 'black_ink')}
    assert all(r['forward_ms'] > 0 and r['forward_backward_ms'] > 0 for r in rows)
    assert 'late, 6 strokes' in out.err


def test_benchmark_rejects_bad_arguments(capsys):
    with pytest.raises(ValueError, match='unknown scene'):
        run(capsys, '--scenes', 'early', '--strokes', '2')
    with pytest.raises(ValueError, match='--strokes'):
        run(capsys, '--strokes', 'many')
    with pytest.raises(ValueError, match='--strokes needs positive integers'):
        run(capsys, '--strokes', '0')
    with pytest.raises(ValueError, match='--scenes names no scene'):
        run(capsys, '--scenes', ',', '--strokes', '2')


@pytest.mark.parametrize('size', ['100000', '4097', '7', '0'])
def test_canvas_sizes_clipdraw_cannot_use_are_refused_before_allocating(capsys, size):
    with pytest.raises(ValueError, match=rf'--size must be in \[8, 4096\] pixels, got {size}'):
        run(capsys, '--size', size, '--strokes', '2')


def test_benchmark_errors_name_the_bench_verb(capsys):
    command = pytest.importorskip('dream_session.command')
    assert command.main(['bench', 'rasterizer', '--strokes', '0']) == 1
    assert 'dream bench rasterizer: error: --strokes' in capsys.readouterr().err


@pytest.mark.parametrize('samples', ['1000', '9', '0'])
def test_sample_counts_outside_the_presets_bound_are_refused(capsys, samples):
    """Once --samples 1000 went on to allocate a million samples per pixel."""
    with pytest.raises(ValueError, match=rf'--samples must be in \[1, 8\] per axis, got '
                                         rf'{samples}'):
        run(capsys, '--samples', samples, '--strokes', '2', '--size', '32')
