"""`dream analyze` end to end on an archive with known answers, and the report in Chromium."""
import datetime
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from dream_analysis.groupings import CONFUSED, LOST, NOT_DRAWN, TEXT
from dream_analysis.synthetic_archive import (
    SyntheticSession, random_strokes, text_strokes, write_session_bag)
from dream_session.command import main as dream

T0 = datetime.datetime(2026, 7, 1, 18, 0, tzinfo=datetime.timezone.utc)
LONG_DREAM = ' '.join(['I walked through a house where every room was a different season.'] * 9)
SESSIONS = [
    # session id, what it holds, the grouping it must get (None: decided by CLIP alone)
    ('writes-fish', dict(text='a fish in the sea', strokes='fish', canvas=160), TEXT),
    ('scribble-1', dict(text='a horse on the beach at sunset'), None),
    ('scribble-2', dict(text='a ladder going up to the moon'), None),
    ('misheard', dict(text='a wail swimming through the crowds'), LOST),
    ('cut-prompt', dict(text=LONG_DREAM, prompt_handling='single'), LOST),
    ('truncated', dict(text='a tree', prompt_truncated=True), LOST),
    ('translated', dict(text='my abuela was baking bread in the cocina',
                        original_text='mi abuela cocinaba pan en la cocina', language='es',
                        translated=True), LOST),
    ('empty', dict(text='a bird flying in the sky', strokes=[]), CONFUSED),
    ('no-drawing', dict(text='a castle', strokes=None, fail_at='generating', error_code=4,
                        error_message='stand-in failure'), NOT_DRAWN),
    ('rejected', dict(text='', strokes=None, transcript_status=1, fail_at='transcribing',
                      error_code=2, error_message='no speech heard'), LOST),
]
REFERENCES = ('session_id\treference\nmisheard\ta whale swimming through the clouds\n'
              'nobody\tsomething said in no recorded session\n')


def snapshot(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob('*')}


@pytest.fixture(scope='module')
def analysed(tmp_path_factory, tiny_files, cache_dir):
    root = tmp_path_factory.mktemp('analyze')
    archive = root / 'sessions'
    rng = np.random.default_rng(7)
    for minute, (sid, values, _) in enumerate(SESSIONS):
        values = dict(values)
        if values.get('strokes') == 'fish':
            values['strokes'] = text_strokes('fish', values['canvas'])
        elif 'strokes' not in values:
            values['strokes'] = random_strokes(10, 64, rng)
            values['canvas'] = 64
        write_session_bag(archive, SyntheticSession(sid, **values),
                          start=T0 + datetime.timedelta(minutes=minute))
    partial = write_session_bag(root / 'live', SyntheticSession(
        'killed', 'a ship in a storm', strokes=random_strokes(6, 64, rng), canvas=64),
        start=T0 + datetime.timedelta(minutes=30), close=False)
    partial.flush()
    shutil.copytree(partial.path, archive / partial.path.name)
    partial.close()
    corrupt = archive / '20260701T190000Z_corrupt'
    corrupt.mkdir()
    (corrupt / 'metadata.yaml').write_text('rosbag2_bagfile_information: {version: 9')
    (corrupt / '20260701T190000Z_corrupt.mcap').write_bytes(b'\x00' * 64)
    refs = root / 'refs.tsv'
    refs.write_text(REFERENCES, encoding='utf-8')
    before = snapshot(archive)
    out = root / 'report'
    code = dream(['analyze', str(archive), '--out', str(out), '--reference', str(refs),
                  '--clip-model-config', tiny_files.config,
                  '--clip-pretrained', tiny_files.weights, '--cache-dir', cache_dir,
                  '--importance-strokes', '4'])
    assert code == 0
    assert snapshot(archive) == before, 'the analysis wrote into the archive'
    sessions = pd.read_parquet(out / 'data' / 'sessions.parquet')
    return out, sessions.set_index('session_id')


def test_known_answers(analysed):
    _, sessions = analysed
    for sid, _, expected in SESSIONS:
        if expected is not None:
            assert sessions.loc[sid, 'grouping'] == expected, \
                (sid, sessions.loc[sid, 'grouping_reason'])
    assert 'fish' in sessions.loc['writes-fish', 'ocr_matched']
    assert sessions.loc['misheard', 'wer'] == pytest.approx(2 / 6)
    assert sessions.loc['misheard', 'grouping_signals'] == 'wer'
    assert sessions.loc['cut-prompt', 'prompt_tokens'] > 77
    assert sessions.loc['cut-prompt', 'grouping_signals'] == 'prompt_cut'
    assert sessions.loc['truncated', 'grouping_signals'] == 'prompt_cut'
    assert sessions.loc['translated', 'untranslated'] == 'abuela, cocina'
    assert sessions.loc['empty', 'grouping_signals'] == 'empty_drawing'
    assert sessions.loc['rejected', 'grouping_signals'] == 'speech_failure'
    assert sessions.loc['killed', 'bag_state'] == 'recovered'


def test_every_measurement_has_its_reason_and_judge(analysed):
    _, sessions = analysed
    drawn = sessions[sessions['has_drawing'] & (sessions['n_strokes'] > 0)]
    assert len(drawn) == 8
    for column in ('agreement_reason', 'glyph_reason', 'ocr_reason', 'importance_reason',
                   'speech_reason', 'prompt_reason', 'grouping_reason', 'top_phrases'):
        assert drawn[column].str.len().gt(0).all(), column
    assert (drawn['agreement_candidates'] > 100).all()   # other dreams + shipped decoys
    assert drawn['judge'].str.contains('no judge configured').all()
    assert drawn['importance_evaluated'].max() == 4


def test_tables_are_written_as_csv_and_parquet(analysed):
    out, sessions = analysed
    assert len(sessions) == len(SESSIONS) + 1
    csv = pd.read_csv(out / 'data' / 'sessions.csv')
    assert csv['session_id'].tolist() == sessions.index.tolist()
    strokes = pd.read_parquet(out / 'data' / 'strokes.parquet')
    scored = strokes[strokes['ink_rank'] >= 0]
    assert scored.groupby('session_id').size().max() == 4
    assert strokes[strokes['ink_rank'] < 0]['score_drop'].isna().all()
    phrases = pd.read_parquet(out / 'data' / 'phrases.parquet')
    assert set(phrases['list']) == {'artists', 'movements', 'surfaces', 'mediums'}
    issues = pd.read_csv(out / 'data' / 'issues.csv')
    assert sorted(issues['kind']) == ['recovered', 'skipped']
    thresholds = pd.read_csv(out / 'data' / 'thresholds.csv').set_index('name')
    assert thresholds.loc['no_speech_prob', 'source'].startswith('fixed fallback')


def chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(chromium() is None, reason='chromium is not installed')
def test_report_loads_in_headless_chromium(analysed, tmp_path):
    out, sessions = analysed
    command = [chromium(), '--headless', '--no-sandbox', '--disable-gpu',
               '--disable-background-networking', '--disable-component-update',
               '--no-first-run', f'--user-data-dir={tmp_path / "profile"}',
               '--enable-logging=stderr', '--v=0',      # page console messages on stderr
               '--virtual-time-budget=5000', '--dump-dom', (out / 'index.html').as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, 'HOME': str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-loaded="yes"' in dom and 'data-broken-images="0"' in dom, dom[:500]
    images = int(dom.split('data-images="')[1].split('"')[0])
    assert images >= 2 * 8 + 3          # drawings, heat maps, three plots
    for group, count in sessions['grouping'].value_counts().items():
        assert f'data-grouping="{group}"><h2>{group} ({count})</h2>' in dom
    fish = dom.split('data-session="writes-fish"')[0].rsplit('data-grouping="', 1)[1]
    assert fish.startswith(TEXT)
    console = [line for line in done.stderr.splitlines() if ':CONSOLE' in line]
    assert not [line for line in console if 'Uncaught' in line or 'rror' in line], console


def test_analyze_prints_a_summary_and_reuses_its_folder(analysed, tiny_files, cache_dir,
                                                        capsys):
    out, _ = analysed
    archive = out.parent / 'sessions'
    code = dream(['analyze', str(archive), '--out', str(out), '--cache-dir', cache_dir,
                  '--no-ocr', '--reference', str(out.parent / 'refs.tsv'),
                  '--lists', 'mediums', '--importance-strokes', '0',
                  '--clip-model-config', tiny_files.config,
                  '--clip-pretrained', tiny_files.weights])
    captured = capsys.readouterr()
    assert code == 0
    assert '11 sessions (' in captured.out and '2 bag issue(s)' in captured.out
    assert 'test model with random weights' in captured.err
    assert 'skipped' in captured.err
    assert '1 reference(s) match no session: nobody' in captured.err
    again = pd.read_parquet(out / 'data' / 'phrases.parquet')
    assert set(again['list']) == {'mediums'}
    json.dumps(captured.out)


class NoModels:
    def judge_label(self):
        return 'no judge configured'


def write_empty_report(out, drawings=0):
    """A whole report of no sessions, with ``drawings`` images saved as the analysis would."""
    from dream_analysis.analyze_verb import analyse_nothing
    from dream_analysis.report import ReportWriter
    writer = ReportWriter(out)
    for index in range(drawings):
        writer.sink('drawing', index, np.zeros((8, 8, 3), np.uint8))
    return writer.write(analyse_nothing(NoModels(), None))


def broken_links(out):
    """Files index.html links to that are not there."""
    page = (out / 'index.html').read_text(encoding='utf-8')
    linked = re.findall(r'(?:src|href)="((?:images|plots|data)/[^"#]+)"', page)
    assert linked, 'index.html links to nothing'
    return [name for name in linked if not (out / name).is_file()]


def test_a_report_written_again_keeps_nothing_of_the_last(tmp_path):
    from dream_analysis.report import MARKER, STAGING, prepare_output
    out = prepare_output(tmp_path / 'report')
    write_empty_report(out, drawings=8)
    assert (out / 'images' / 'drawing-00007.png').is_file()
    again = prepare_output(tmp_path / 'report')
    assert write_empty_report(again, drawings=1) == again / 'index.html'
    assert [p.name for p in (again / 'images').iterdir()] == ['drawing-00000.png']
    assert (again / MARKER).is_file() and not (again / STAGING).exists()
    assert broken_links(again) == []
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('not a report')
    with pytest.raises(FileExistsError):
        prepare_output(tmp_path / 'mine')


def test_an_unfinished_run_leaves_the_last_report_whole(tmp_path):
    from dream_analysis.report import ReportWriter, prepare_output
    out = prepare_output(tmp_path / 'report')
    write_empty_report(out, drawings=2)
    before = snapshot(out)
    again = prepare_output(out)                       # a re-run starts...
    ReportWriter(again).sink('drawing', 0, np.ones((8, 8, 3), np.uint8))
    # ... and is interrupted while it measures the drawings
    assert broken_links(out) == []
    assert {k: v for k, v in snapshot(out).items() if not k.startswith('.')} == \
        {k: v for k, v in before.items() if not k.startswith('.')}


def test_analyze_interrupted_keeps_the_last_report(tmp_path, tiny_files, cache_dir, capsys,
                                                   monkeypatch):
    from dream_analysis import measurements
    root = tmp_path / 'sessions'
    strokes = random_strokes(6, 64, np.random.default_rng(3))
    write_session_bag(root, SyntheticSession('drawn', 'a lighthouse by the sea', strokes=strokes,
                                             canvas=64), start=T0)
    out = tmp_path / 'report'
    command = ['analyze', str(root), '--out', str(out), '--cache-dir', cache_dir, '--no-ocr',
               '--lists', 'mediums', '--importance-strokes', '0',
               '--clip-model-config', tiny_files.config, '--clip-pretrained', tiny_files.weights]
    assert dream(command) == 0, capsys.readouterr().err
    assert broken_links(out) == []

    def interrupted(table, models, *, sink, **_):
        sink('drawing', 0, np.zeros((8, 8, 3), np.uint8))
        raise KeyboardInterrupt

    monkeypatch.setattr(measurements, 'analyse', interrupted)
    assert dream(command) == 130
    assert 'interrupted' in capsys.readouterr().err
    assert broken_links(out) == []
