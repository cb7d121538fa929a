"""Reading the archive: every session a row, failures kept, broken bags never fatal, and the
archive never modified."""
import datetime
import hashlib
import shutil

import pytest

from dream_analysis.archive import find_bags, read_archive
from dream_analysis.groupings import NOT_DRAWN, calibrate_thresholds, decide
from dream_analysis.session_bag import BagUnreadable, read_session_bag
from dream_analysis.synthetic_archive import SyntheticSession, random_strokes, write_session_bag

T0 = datetime.datetime(2026, 6, 1, 20, 0, tzinfo=datetime.timezone.utc)


def snapshot(root):
    """Every file under root with its content hash: to prove nothing was written."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_finished_and_failed_sessions_are_rows(tmp_path):
    import numpy as np
    strokes = random_strokes(5, 64, np.random.default_rng(0))
    write_session_bag(tmp_path, SyntheticSession(
        'ok-1', 'a house on a hill', strokes=strokes, canvas=64, audio_seconds=2.5,
        avg_logprob=-0.4, no_speech_prob=0.1), start=T0)
    write_session_bag(tmp_path, SyntheticSession(
        'fails', 'a cat', strokes=None, fail_at='generating', error_code=4,
        error_message='CLIP weights missing'), start=T0 + datetime.timedelta(minutes=1))
    write_session_bag(tmp_path, SyntheticSession(
        'rejected', '', transcript_status=1, fail_at='transcribing', error_code=2,
        error_message='no speech heard'), start=T0 + datetime.timedelta(minutes=2))
    table, issues = read_archive(tmp_path)
    assert issues == [] and table['session_id'].tolist() == ['ok-1', 'fails', 'rejected']
    ok, fails, rejected = table.to_dict('records')
    assert ok['final_state'] == 'done' and ok['start_time'] == T0
    assert (ok['listening_s'], ok['transcribing_s'], ok['generating_s'], ok['plotting_s'],
            ok['total_s']) == (3.0, 1.0, 40.0, 90.0, 134.0)
    assert ok['audio_s'] == pytest.approx(2.5) and ok['avg_logprob'] == pytest.approx(-0.4)
    assert ok['prompt'] == 'a house on a hill' and ok['n_strokes'] == 5
    assert np.allclose(ok['drawing'].strokes[2].points, strokes[2].points, atol=1e-4)
    assert ok['plot_error'] == 'none' and ok['strokes_plotted'] == 5
    assert (fails['final_state'], fails['error'], fails['failure_stage']) == \
        ('failed', 'generation', 'generating')
    assert table['failed'].tolist() == [False, True, True]
    assert fails['drawing'] is None and fails['prompt'] == 'a cat'
    assert fails['error_message'] == 'CLIP weights missing'
    assert fails['generation_error'] == 'internal'
    assert (rejected['error'], rejected['transcript_status']) == \
        ('speech rejected', 'rejected: no speech')


def test_idle_status_after_the_session_is_not_its_final_state(tmp_path):
    from dream_session.interface_types import dream_typestore
    store = dream_typestore()
    writer = write_session_bag(tmp_path, SyntheticSession('s', 'a dog', strokes=[]),
                               start=T0, close=False)
    time_type = store.types['builtin_interfaces/msg/Time']
    idle = store.types['dream_interfaces/msg/SessionStatus'](
        header=store.types['std_msgs/msg/Header'](stamp=time_type(sec=2_000_000_000,
                                                                  nanosec=0), frame_id=''),
        session_id='', state=0, previous_state=0, error_code=0, message='waiting',
        session_start=time_type(sec=0, nanosec=0), state_since=time_type(sec=0, nanosec=0))
    writer.write_message('session/status', 'dream_interfaces/msg/SessionStatus',
                         2_000_000_000 * 10**9, idle)
    writer.close()
    table, _ = read_archive(tmp_path)
    assert table['final_state'][0] == 'done' and table['total_s'][0] == 134.0


def test_rendered_images_column(tmp_path):
    import numpy as np
    from dream_analysis.archive import with_images
    write_session_bag(tmp_path, SyntheticSession(
        'a', 'x', strokes=random_strokes(3, 64, np.random.default_rng(0)), canvas=64),
        start=T0)
    write_session_bag(tmp_path, SyntheticSession('b', 'y', strokes=None, fail_at='generating'),
                      start=T0 + datetime.timedelta(minutes=1))
    table = with_images(read_archive(tmp_path)[0], size=32)
    assert table['image'][0].shape == (32, 32, 3) and table['image'][0].min() < 255
    assert table['image'][1] is None


def test_unfinished_recording_is_mended_in_a_copy(tmp_path):
    archive = tmp_path / 'archive'
    writer = write_session_bag(tmp_path / 'live', SyntheticSession(
        'killed', 'a ship in a storm', strokes=[]), start=T0, close=False)
    writer.flush()
    # What a killed recorder leaves: flushed chunks, no summary, no metadata.yaml.
    shutil.copytree(writer.path, archive / writer.path.name)
    writer.close()
    assert (archive / writer.path.name / 'RECORDING').exists()
    before = snapshot(archive)
    table, issues = read_archive(archive)
    assert snapshot(archive) == before                       # nothing written, nothing mended
    assert sorted(p.name for p in archive.iterdir()) == [writer.path.name]
    assert table['session_id'].tolist() == ['killed']
    assert table['bag_state'][0] == 'recovered' and table['text'][0] == 'a ship in a storm'
    assert [i.kind for i in issues] == ['recovered'] and 'temporary copy' in issues[0].message


def test_damaged_bag_is_read_as_far_as_it_goes(tmp_path):
    archive = tmp_path / 'archive'
    bag = write_session_bag(archive, SyntheticSession('cut', 'a long road', strokes=[],
                                                      audio_seconds=0.1),
                            start=T0, flush_each=True).path
    mcap = next(bag.glob('*.mcap'))
    data = mcap.read_bytes()
    mcap.write_bytes(data[:len(data) * 7 // 10])     # the end of the file (and index) lost
    before = snapshot(archive)
    table, issues = read_archive(archive)
    assert snapshot(archive) == before
    assert table['session_id'].tolist() == ['cut'] and table['bag_state'][0] == 'recovered'
    assert table['text'][0] == 'a long road'
    assert 'damaged bag' in issues[0].message and 'salvaged' in issues[0].message


def test_corrupt_bags_are_reported_and_skipped(tmp_path):
    write_session_bag(tmp_path, SyntheticSession('good', 'a red fish', strokes=[]), start=T0)
    garbage = tmp_path / 'garbage'
    garbage.mkdir()
    (garbage / 'garbage.mcap').write_bytes(b'\x89MCAP0\r\n' + b'\x00' * 50)
    broken_meta = tmp_path / 'broken-meta'
    broken_meta.mkdir()
    (broken_meta / 'metadata.yaml').write_text('rosbag2_bagfile_information: [not, valid')
    (broken_meta / 'broken-meta.mcap').write_bytes(b'nothing')
    (tmp_path / 'notes').mkdir()                              # not a bag: ignored
    (tmp_path / 'notes' / 'readme.txt').write_text('hi')
    table, issues = read_archive(tmp_path)
    assert table['session_id'].tolist() == ['good']
    assert sorted((i.bag.split('/')[-1], i.kind) for i in issues) == [
        ('broken-meta', 'skipped'), ('garbage', 'skipped')]
    assert all(i.message for i in issues)
    with pytest.raises(BagUnreadable, match='not a rosbag2'):
        read_session_bag(tmp_path / 'notes')


def test_bag_discovery(tmp_path):
    with pytest.raises(FileNotFoundError):
        find_bags(tmp_path / 'missing')
    (tmp_path / 'file').write_text('x')
    with pytest.raises(NotADirectoryError):
        find_bags(tmp_path / 'file')
    bag = write_session_bag(tmp_path / 'a' / 'b', SyntheticSession('deep', 'x', strokes=[]),
                            start=T0).path
    (tmp_path / '.hidden').mkdir()
    shutil.copytree(bag, tmp_path / '.hidden' / bag.name)
    assert find_bags(tmp_path) == [bag]
    assert find_bags(bag) == [bag]


def test_unfinished_recording_in_a_renamed_folder_is_mended(tmp_path):
    writer = write_session_bag(tmp_path / 'live', SyntheticSession(
        'killed', 'a ship in a storm', strokes=[]), start=T0, close=False)
    writer.flush()
    shutil.copytree(writer.path, tmp_path / 'archive' / 'renamed')   # .mcap keeps its name
    writer.close()
    table, issues = read_archive(tmp_path / 'archive')
    assert table['session_id'].tolist() == ['killed'] and issues[0].kind == 'recovered'


def test_a_bag_copied_under_another_name_counts_once(tmp_path):
    bag = write_session_bag(tmp_path / 'archive', SyntheticSession('s1', 'a cat', strokes=[]),
                            start=T0).path
    shutil.copytree(bag, tmp_path / 'archive' / 'backup')
    table, issues = read_archive(tmp_path / 'archive')
    assert table['session_id'].tolist() == ['s1']
    assert [i.kind for i in issues] == ['skipped'] and 'a copy of' in issues[0].message
    # Another recording of the same session id (a re-recorded replay) is a second row.
    write_session_bag(tmp_path / 'archive' / 'replayed', SyntheticSession(
        's1', 'a dog', strokes=[]), start=T0 + datetime.timedelta(minutes=5))
    table, issues = read_archive(tmp_path / 'archive')
    assert len(table) == 2 and table['session_id'].nunique() == 2
    assert sorted(table['prompt']) == ['a cat', 'a dog'] and len(issues) == 1


def test_the_recorders_own_folder_is_kept_and_a_mended_bag_matches_its_raw_backup(tmp_path):
    from dream_session.bag_recovery import recover_bag
    archive = tmp_path / 'archive'
    kept = write_session_bag(archive, SyntheticSession('s2', 'a ship', strokes=[]),
                             start=T0).path
    shutil.copytree(kept, archive / '0_usb_copy')                  # sorts before the original
    killed = SyntheticSession('killed', 'a storm', strokes=[])
    writer = write_session_bag(tmp_path / 'live', killed,
                               start=T0 + datetime.timedelta(minutes=1), close=False)
    writer.flush()                                     # the recorder killed here: unfinished
    shutil.copytree(writer.path, archive / writer.path.name)
    shutil.copytree(writer.path, archive / 'raw_backup_of_killed')
    writer.close()
    recover_bag(archive / writer.path.name)            # in place: the original kept as .partial
    assert list((archive / writer.path.name).glob('*.partial'))
    table, issues = read_archive(archive)
    assert sorted(table['session_id']) == ['killed', 's2']
    assert table.set_index('session_id')['bag_name']['s2'] == kept.name
    assert sorted((i.bag.split('/')[-1], i.kind) for i in issues) == [
        ('0_usb_copy', 'skipped'), ('raw_backup_of_killed', 'skipped')]


def test_a_bag_of_another_project_is_skipped_as_such(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_HUMBLE)
    with Writer(tmp_path / 'other_project', version=8,
                storage_plugin=StoragePlugin.MCAP) as writer:
        topic = writer.add_connection('/chatter', 'std_msgs/msg/String', typestore=store)
        writer.write(topic, 1, store.serialize_cdr(store.types['std_msgs/msg/String'](
            data='hello'), 'std_msgs/msg/String'))
    write_session_bag(tmp_path, SyntheticSession('ours', 'a cat', strokes=[]), start=T0)
    table, issues = read_archive(tmp_path)
    assert table['session_id'].tolist() == ['ours']
    assert [i.kind for i in issues] == ['skipped']
    assert 'not a Dreaming Machine session bag' in issues[0].message
    assert 'std_msgs/msg/String' in issues[0].message


def test_unreadable_folders_and_files_are_issues_not_errors(tmp_path, monkeypatch):
    import os
    from dream_analysis import session_bag
    write_session_bag(tmp_path, SyntheticSession('ours', 'a cat', strokes=[]), start=T0)
    locked = tmp_path / 'locked'
    locked.mkdir()
    scandir = os.scandir

    def denying(path='.'):
        if isinstance(path, (str, os.PathLike)) and os.fspath(path) == str(locked):
            raise PermissionError(13, 'Permission denied', str(locked))
        return scandir(path)
    with monkeypatch.context() as patch:
        patch.setattr(os, 'scandir', denying)      # as chmod 000 does for a non-root user
        table, issues = read_archive(tmp_path)
    assert table['session_id'].tolist() == ['ours']
    assert [(i.bag, i.kind) for i in issues] == [(str(locked), 'skipped')]
    assert 'Permission denied' in issues[0].message

    writer = write_session_bag(tmp_path / 'live', SyntheticSession('k', 'x', strokes=[]),
                               start=T0, close=False)
    writer.flush()

    def copy_fails(src, dst, **_):
        raise shutil.Error([(f'{src}/x.mcap', f'{dst}/x.mcap', '[Errno 13] Permission denied')])
    monkeypatch.setattr(session_bag.shutil, 'copytree', copy_fails)
    with pytest.raises(BagUnreadable, match=r'cannot be copied to be mended: x.mcap: '
                                            r'\[Errno 13\] Permission denied'):
        read_session_bag(writer.path)
    writer.close()


def test_a_prompt_the_blocklist_refused_is_not_called_rejected_speech(tmp_path):
    from dream_session.prompt_policy import PromptPolicy
    refusal = PromptPolicy(['spider']).refusal('a spider in the attic')
    write_session_bag(tmp_path, SyntheticSession(
        'refused', 'a spider in the attic', strokes=None, fail_at='transcribing', error_code=2,
        error_message=f'speech rejected: {refusal}'), start=T0)
    write_session_bag(tmp_path, SyntheticSession(
        'mumbled', '', transcript_status=2, strokes=None, fail_at='transcribing', error_code=2,
        error_message='speech rejected again: low confidence'),
        start=T0 + datetime.timedelta(minutes=1))
    table, _ = read_archive(tmp_path)
    assert table['error'].tolist() == ['prompt refused', 'speech rejected']


def recorded(bag):
    """(topic, msgtype, log time ns, raw bytes, message) of every message of a bag."""
    from rosbags.rosbag2 import Reader
    from dream_session.interface_types import dream_typestore
    store = dream_typestore()
    with Reader(bag) as reader:
        return [(c.topic, c.msgtype, t, raw, store.deserialize_cdr(raw, c.msgtype))
                for c, t, raw in reader.messages()]


def record_again(root, session_id, messages, *, started, later_s, close=True):
    """What a (re)started recorder writes: these messages' bytes as published, in a bag of
    its own named for ``started``, logged ``later_s`` after the first recording."""
    from dream_session.bag_writer import SessionBagWriter
    writer = SessionBagWriter(root, session_id, started=started, flush_interval=3600)
    for topic, msgtype, t, raw, _ in messages:
        writer.add_topic(topic, msgtype)
        writer.write(topic, t + int(later_s * 1e9), raw)
    if close:
        writer.close()
    return writer


def is_status(item, *states):
    """Whether a recorded() item is a session/status in one of these states."""
    from dream_analysis.synthetic_archive import STATES
    _, msgtype, _, _, message = item
    return msgtype.endswith('/SessionStatus') and message.state in [STATES[s] for s in states]


def test_a_session_split_by_a_restarted_recorder_is_one_row(tmp_path):
    import numpy as np
    archive = tmp_path / 'archive'
    whole = write_session_bag(tmp_path / 'whole', SyntheticSession(
        's7', 'a lighthouse', strokes=random_strokes(5, 64, np.random.default_rng(0)),
        canvas=64), start=T0).path
    messages = recorded(whole)
    plotting = next(m[2] for m in messages if is_status(m, 'plotting'))
    # The recorder killed once the session was plotting: its bag unfinished, mended on read.
    killed = record_again(archive, 's7', [m for m in messages if m[2] <= plotting],
                          started=T0, later_s=0, close=False)
    killed.flush()
    # The restarted recorder: the latched statuses again, then the rest (result, done).
    record_again(archive, 's7', [m for m in messages if m[0] == 'session/status'] +
                 [m for m in messages if m[2] > plotting and m[0] != 'session/status'],
                 started=T0 + datetime.timedelta(minutes=2), later_s=60)
    table, issues = read_archive(archive)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row['session_id'], row['final_state'], row['failed'], row['error']) == \
        ('s7', 'done', False, 'none')
    assert (row['n_strokes'], row['strokes_plotted'], row['total_s']) == (5, 5, 134.0)
    assert row['plotting_s'] == 90.0
    assert row['messages'] == len(messages)           # latched statuses counted once
    bags = sorted(p.name for p in archive.iterdir())
    assert row['bag'] == '; '.join(str(archive / name) for name in bags)
    assert row['bag_name'] == bags[0] and row['bag_state'] == 'recovered'
    assert 'one session recorded in 2 bags' in row['bag_notes']
    assert [(i.bag, i.kind) for i in issues] == [(str(archive / bags[0]), 'recovered')]


def test_a_finished_sessions_status_tail_in_a_bag_of_its_own_counts_once(tmp_path):
    import numpy as np
    archive = tmp_path / 'archive'
    drawn = write_session_bag(archive, SyntheticSession(
        'drawn', 'a boat', strokes=random_strokes(3, 64, np.random.default_rng(1)),
        canvas=64), start=T0).path
    failed = write_session_bag(archive, SyntheticSession(
        'fails', 'a cat', strokes=None, fail_at='generating', error_code=4,
        error_message='CLIP weights missing'), start=T0 + datetime.timedelta(minutes=5)).path
    write_session_bag(archive, SyntheticSession('other', 'a dog', strokes=[]),
                      start=T0 + datetime.timedelta(minutes=10))
    # A recorder restarted later gets the last statuses of each from the latched topic.
    for bag, sid, last in ((drawn, 'drawn', ('plotting', 'done')),
                           (failed, 'fails', ('generating', 'failed'))):
        record_again(archive, sid, [m for m in recorded(bag) if is_status(m, *last)],
                     started=T0 + datetime.timedelta(minutes=30), later_s=1800)
    table, issues = read_archive(archive)
    assert issues == [] and table['session_id'].tolist() == ['drawn', 'fails', 'other']
    assert table['final_state'].tolist() == ['done', 'failed', 'done']
    assert table['failed'].tolist() == [False, True, False]
    assert table['n_strokes'].tolist() == [3, 0, 0]
    assert table['messages'][0] == len(recorded(drawn))
    assert table['error_message'][1] == 'CLIP weights missing'
    assert table['bag'][0].split('; ')[0] == str(drawn) and ';' in table['bag'][1]


def test_a_session_without_a_last_status_says_so(tmp_path):
    archive = tmp_path / 'archive'
    whole = write_session_bag(tmp_path / 'whole', SyntheticSession(
        'cut', 'a bridge', strokes=[]), start=T0).path
    record_again(archive, 'cut', [m for m in recorded(whole) if not is_status(m, 'done')],
                 started=T0, later_s=0)
    listening = write_session_bag(tmp_path / 'whole', SyntheticSession(
        'early', '', strokes=None, audio_seconds=0), start=T0 + datetime.timedelta(minutes=5))
    record_again(archive, 'early', [m for m in recorded(listening.path)
                                    if is_status(m, 'listening')],
                 started=T0 + datetime.timedelta(minutes=5), later_s=0)
    table, _ = read_archive(archive)
    cut, early = table.to_dict('records')
    assert (cut['final_state'], cut['finished'], cut['failed'], cut['error']) == \
        ('plotting', False, True, 'no outcome')
    assert cut['error_message'] == ('no outcome recorded: the recording ends while plotting; '
                                    'its session manager or recorder stopped')
    assert (early['final_state'], early['error']) == ('listening', 'no outcome')
    # Not drawn, and why: not a speech failure (nothing failed; the machine stopped).
    import pandas as pd
    fallbacks = calibrate_thresholds(pd.DataFrame({'has_drawing': [], 'n_strokes': []}))
    grouping, signals, reason = decide(dict(early, has_drawing=False), fallbacks)
    assert (grouping, signals) == (NOT_DRAWN, 'no_drawing')
    assert 'no outcome recorded: the recording ends while listening' in reason
