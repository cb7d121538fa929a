"""The verbs: clear errors instead of random weights, `dream gaze`, `dream bench analysis`."""
import datetime
import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dream_analysis.phrase_ranking import load_phrase_list
from dream_analysis.synthetic_archive import SyntheticSession, random_strokes, write_session_bag
from dream_session.command import main as dream

T0 = datetime.datetime(2026, 8, 1, 9, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp('verbs') / 'sessions'
    rng = np.random.default_rng(1)
    drawn = write_session_bag(root, SyntheticSession(
        'drawn', 'a lighthouse by the sea', strokes=random_strokes(8, 64, rng), canvas=64),
        start=T0).path
    failed = write_session_bag(root, SyntheticSession(
        'failed', 'a storm', strokes=None, fail_at='generating', error_code=4),
        start=T0 + datetime.timedelta(minutes=1)).path
    return root, drawn, failed


def tiny_args(tiny_files):
    return ['--clip-model-config', tiny_files.config, '--clip-pretrained', tiny_files.weights]


def test_analyze_without_weights_fails_clearly_and_writes_nothing(archive, tmp_path, capsys,
                                                                  monkeypatch):
    root, _, _ = archive
    monkeypatch.delenv('CLIP_WEIGHTS', raising=False)
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))      # no ~/.cache/clip here
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    out = tmp_path / 'report'
    assert dream(['analyze', str(root), '--out', str(out), '--no-cache']) == 1
    error = capsys.readouterr().err
    assert 'error:' in error and 'no weights for CLIP model' in error
    assert '--clip-pretrained' in error
    assert not out.exists()
    assert dream(['analyze', str(root), '--out', str(out), '--no-cache',
                  '--clip-pretrained', str(tmp_path / 'missing.pt')]) == 1
    assert 'CLIP weights file not found' in capsys.readouterr().err


def test_analyze_judge_weights_missing(archive, tmp_path, tiny_files, capsys):
    root, _, _ = archive
    out = tmp_path / 'report'
    code = dream(['analyze', str(root), '--out', str(out), '--no-cache', *tiny_args(tiny_files),
                  '--judge-model-config', tiny_files.config,
                  '--judge-pretrained', str(tmp_path / 'judge.pt')])
    assert code == 1 and 'judge.pt' in capsys.readouterr().err
    assert not (out / 'index.html').exists()


@pytest.mark.parametrize('extra, message', [
    (['--out', '{root}/report'], 'inside the archive'),
    (['--out', '{tmp}/report', '--lists', 'colours'], 'unknown phrase list'),
    (['--out', '{tmp}/report', '--reference', '{tmp}/none.tsv'], 'reference file not found'),
    (['--out', '{tmp}/report', '--importance-strokes', '-1'], 'importance-strokes'),
])
def test_analyze_bad_requests(archive, tmp_path, capsys, extra, message):
    root, _, _ = archive
    extra = [e.format(root=root, tmp=tmp_path) for e in extra]
    assert dream(['analyze', str(root), '--no-cache', *extra]) == 1
    assert message in capsys.readouterr().err


def test_analyze_refuses_an_archive_inside_its_report_folder(archive, tmp_path, tiny_files,
                                                             capsys):
    from dream_analysis.report import prepare_output
    root, _, _ = archive
    out = prepare_output(tmp_path / 'report')
    copy = out / 'images' / 'sessions'
    shutil.copytree(root, copy)
    before = sorted(p.relative_to(copy) for p in copy.rglob('*'))
    for target in (out, out / 'images'):
        assert dream(['analyze', str(copy), '--out', str(target), '--no-cache',
                      *tiny_args(tiny_files)]) == 1
        error = capsys.readouterr().err
        assert 'inside the report folder' in error and len(error.strip().splitlines()) == 2
        assert sorted(p.relative_to(copy) for p in copy.rglob('*')) == before


def test_analyze_refuses_a_folder_of_other_files(archive, tmp_path, capsys):
    root, _, _ = archive
    (tmp_path / 'mine.txt').write_text('precious')
    assert dream(['analyze', str(root), '--out', str(tmp_path)]) == 1
    assert 'not a dream report' in capsys.readouterr().err
    assert dream(['analyze', str(tmp_path / 'nothing'), '--out', str(tmp_path / 'r')]) == 1
    assert 'not found' in capsys.readouterr().err


def test_analyze_with_a_judge_records_it(archive, tmp_path, tiny_files, cache_dir, capsys):
    import pandas as pd
    root, _, _ = archive
    out = tmp_path / 'report'
    code = dream(['analyze', str(root), '--out', str(out), '--cache-dir', cache_dir, '--no-ocr',
                  '--importance-strokes', '2', *tiny_args(tiny_files),
                  '--judge-model-config', tiny_files.config,
                  '--judge-pretrained', tiny_files.weights])
    assert code == 0, capsys.readouterr().err
    sessions = pd.read_csv(out / 'data' / 'sessions.csv').set_index('session_id')
    assert sessions.loc['drawn', 'judge'].startswith('judge dream-tiny-clip')
    assert sessions.loc['failed', 'grouping'] == 'not drawn'


def picture(path):
    image = Image.new('RGB', (90, 60), 'white')
    ImageDraw.Draw(image).ellipse((10, 10, 50, 50), outline='black', width=3)
    image.save(path)
    return path


def test_gaze_ranks_phrases_relative_to_each_list(tmp_path, tiny_files, capsys):
    image = picture(tmp_path / 'circle.png')
    one = tmp_path / 'one.txt'
    one.write_text('a circle\n', encoding='utf-8')
    code = dream(['gaze', str(image), '--lists', f'mediums,{one}', '--top', '2',
                  '--cache-dir', str(tmp_path / 'cache'), *tiny_args(tiny_files)])
    out = capsys.readouterr().out
    assert code == 0
    assert 'relative to each list' in out and 'not absolute' in out
    mediums = out.split('mediums (')[1].split('\n\n')[0].strip().splitlines()
    assert len(mediums) == 1 + 2 and all(line.strip()[0].isdigit() for line in mediums[1:])
    assert 'one (1 phrase: trivially 100%' in out and '100.0%  a circle' in out


def test_gaze_ranks_lists_that_share_a_name_apart(tmp_path, tiny_files, capsys):
    image = picture(tmp_path / 'circle.png')
    for folder, phrases in (('a', 'crayon\nbiro\n'), ('b', 'ink\nchalk\ncharcoal\n')):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / 'mediums.txt').write_text(phrases, encoding='utf-8')
    first, second = tmp_path / 'a' / 'mediums.txt', tmp_path / 'b' / 'mediums.txt'
    code = dream(['gaze', str(image), '--lists', f'mediums,{first},{second}', '--json',
                  '--top', '9', '--no-cache', *tiny_args(tiny_files)])
    lists = json.loads(capsys.readouterr().out)['lists']
    assert code == 0
    assert {name: entry['phrases'] for name, entry in lists.items()} == {
        'mediums': len(load_phrase_list('mediums').phrases), str(first): 2, str(second): 3}
    assert {p['phrase'] for p in lists[str(second)]['top']} == {'ink', 'chalk', 'charcoal'}


@pytest.mark.parametrize('target, message', [
    ('drawing.svg', 'SVG is not read here'), ('missing.png', 'no such image file')])
def test_gaze_refuses_what_it_cannot_read(tmp_path, tiny_files, capsys, target, message):
    if target.endswith('.svg'):
        (tmp_path / target).write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    code = dream(['gaze', str(tmp_path / target), '--no-cache', *tiny_args(tiny_files)])
    assert code == 1 and message in capsys.readouterr().err


def test_gaze_json_and_bag_targets(archive, tmp_path, tiny_files, cache_dir, capsys):
    _, drawn, failed = archive
    code = dream(['gaze', str(drawn), '--json', '--lists', 'surfaces,artists', '--top', '3',
                  '--cache-dir', cache_dir, *tiny_args(tiny_files)])
    assert code == 0
    found = json.loads(capsys.readouterr().out)
    assert found['prompt'] == 'a lighthouse by the sea' and 'relative' in found['note']
    for name in ('surfaces', 'artists'):
        top = found['lists'][name]['top']
        assert len(top) == 3 and 0 < sum(p['probability'] for p in top) <= 1
        assert [p['probability'] for p in top] == sorted((p['probability'] for p in top),
                                                         reverse=True)
    recording = next(drawn.glob('*.mcap'))      # a bag named by its recording
    assert dream(['gaze', str(recording), '--json', '--lists', 'surfaces', '--cache-dir',
                  cache_dir, *tiny_args(tiny_files)]) == 0
    assert json.loads(capsys.readouterr().out)['prompt'] == 'a lighthouse by the sea'
    assert dream(['gaze', str(failed), *tiny_args(tiny_files)]) == 1
    assert 'holds no drawing' in capsys.readouterr().err
    junk = tmp_path / 'junk.png'
    junk.write_bytes(b'not an image')
    assert dream(['gaze', str(junk), '--no-cache', *tiny_args(tiny_files)]) == 1
    assert 'not a readable image' in capsys.readouterr().err


def test_bench_prints_json_figures(tiny_files, capsys):
    code = dream(['bench', 'analysis', '--sessions', '2', '--strokes', '6', '--canvas', '64',
                  '--model', tiny_files.model_name, '--no-ocr', '--importance-strokes', '2'])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    figures = json.loads(captured.out)
    assert figures['sessions'] == 2 and figures['random_weights'] is True
    assert figures['sessions_per_minute'] > 0 and figures['cpu_seconds'] > 0
    assert 'timings only' in figures['note']
    assert {'render', 'clip', 'texts'} <= set(figures['stage_seconds'])


def test_analyze_one_refused_session(tmp_path, tiny_files, capsys):
    import pandas as pd

    from dream_session.prompt_policy import PromptPolicy
    refusal = PromptPolicy(['city']).refusal('a whale over the city')
    root = tmp_path / 'sessions'
    write_session_bag(root, SyntheticSession(
        'refused', 'a whale over the city', strokes=None, fail_at='transcribing',
        error_code=2, error_message=f'speech rejected again: {refusal}'), start=T0)
    out = tmp_path / 'report'
    assert dream(['analyze', str(root), '--out', str(out), '--no-cache', '--no-ocr',
                  '--importance-strokes', '0', *tiny_args(tiny_files)]) == 0
    assert capsys.readouterr().out.startswith('1 session (not drawn: 1);')
    row = pd.read_csv(out / 'data' / 'sessions.csv').iloc[0]
    assert row['grouping_signals'] == 'policy_refusal' and refusal in row['grouping_reason']
    assert '; 1 session; ' in (out / 'index.html').read_text()
