"""Session bags: readable with our definitions inside, safe names, and recoverable after a kill."""
import datetime
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader

from dream_session.bag_recovery import needs_recovery, recover_bag
from dream_session.bag_writer import UNFINISHED_MARKER, SessionBagWriter
from dream_session.interface_types import dream_typestore
from dream_session.session_paths import safe_session_name, session_dir_name

TRANSCRIPT = 'dream_interfaces/msg/Transcript'


def transcript(store, session_id, text):
    msg = store.types[TRANSCRIPT]
    header = store.types['std_msgs/msg/Header'](
        stamp=store.types['builtin_interfaces/msg/Time'](sec=5, nanosec=7), frame_id='')
    return msg(header=header, session_id=session_id, utterance_index=0, is_final=True,
               status=0, status_message='', text=text, original_text=text, language='en',
               language_probability=0.5, task=0, avg_logprob=-0.25, no_speech_prob=0.0,
               compression_ratio=1.5, segments=[], model='tiny.en', audio_duration=2.0,
               processing_time=0.5)


@pytest.mark.parametrize('raw', ['../../etc/passwd', 'a b/c', '', '.', 'x' * 500, 'ok-id_1',
                                 'nul\x00byte', 'ünïcødé'])
def test_safe_names_never_escape_or_collide(raw):
    name = safe_session_name(raw)
    assert name and len(name) <= 60
    assert all(c.isascii() and (c.isalnum() or c in '-_') for c in name)
    assert name != safe_session_name(raw + '/')


def test_session_dir_name_sorts_by_time():
    t = datetime.datetime(2026, 11, 22, 13, 5, 9, tzinfo=datetime.timezone.utc)
    assert session_dir_name('s1', t) == '20261122T130509Z_s1'


def test_bag_is_readable_without_our_packages(tmp_path):
    store = dream_typestore()
    with SessionBagWriter(tmp_path, 'dream/../42', started=None) as bag:
        bag.write_message('speech/transcript', TRANSCRIPT, 1_000, transcript(store, 's', 'a'))
        bag.write_message('speech/transcript', TRANSCRIPT, 2_000, transcript(store, 's', 'b'))
        path = bag.path
    assert path.parent == tmp_path and '..' not in path.name
    assert not (path / UNFINISHED_MARKER).exists()
    meta = (path / 'metadata.yaml').read_text()
    assert 'storage_identifier: mcap' in meta and 'message_count: 2' in meta
    # AnyReader rebuilds the types from the definitions stored in the bag alone.
    with AnyReader([path]) as reader:
        texts = [reader.deserialize(raw, conn.msgtype).text
                 for conn, _, raw in reader.messages()]
        assert 'MSG: dream_interfaces/TranscriptSegment' in reader.connections[0].msgdef.data
    assert texts == ['a', 'b']


def test_flush_is_driven_by_the_clock(tmp_path):
    now = [0.0]
    store = dream_typestore()
    bag = SessionBagWriter(tmp_path, 's', flush_interval=1.0, clock=lambda: now[0])
    mcap = next(bag.path.glob('*.mcap'))
    size0 = mcap.stat().st_size
    bag.write_message('t', TRANSCRIPT, 1, transcript(store, 's', 'x'))
    assert mcap.stat().st_size == size0          # still buffered in the open chunk
    now[0] = 1.5
    bag.write_message('t', TRANSCRIPT, 2, transcript(store, 's', 'y'))
    assert mcap.stat().st_size > size0           # flushed once the interval passed
    bag.close()


KILLED_WRITER = textwrap.dedent('''
    import os, signal, sys
    from dream_session.bag_writer import SessionBagWriter
    from dream_session.interface_types import dream_typestore
    sys.path.insert(0, sys.argv[2])
    from test_recording import transcript
    store = dream_typestore()
    bag = SessionBagWriter(sys.argv[1], 'killed', flush_interval=3600)
    for i in range(40):
        bag.write_message('speech/transcript', 'dream_interfaces/msg/Transcript', i,
                          transcript(store, 'killed', str(i)))
        if i == 29:
            bag.flush()
    print(bag.path, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
''')


def test_killed_recording_is_recovered_up_to_the_last_flush(tmp_path):
    proc = subprocess.run([sys.executable, '-c', KILLED_WRITER, str(tmp_path),
                           os.path.dirname(__file__)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    bag = tmp_path / os.path.basename(proc.stdout.strip())
    assert needs_recovery(bag)
    with pytest.raises(Exception):
        Reader(bag).open()
    report = recover_bag(bag)
    assert report['messages'] == 30
    assert not needs_recovery(bag)
    with AnyReader([bag]) as reader:
        texts = [reader.deserialize(raw, c.msgtype).text for c, _, raw in reader.messages()]
    assert texts == [str(i) for i in range(30)]
