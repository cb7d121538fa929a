"""``dream bag`` and ``dream replay`` name what is wrong with the path they were given."""
import os

import pytest

from dream_session import command
from dream_session.bag_recovery import bag_folder, NotABag
from dream_session.bag_writer import SessionBagWriter
from dream_session.interface_types import dream_typestore


@pytest.fixture
def bag(tmp_path):
    store = dream_typestore()
    with SessionBagWriter(tmp_path, 'named') as writer:
        writer.write_message('session/status_note', 'std_msgs/msg/String', 1_000,
                             store.types['std_msgs/msg/String'](data='hello'))
        return writer.path


def test_a_bag_is_named_by_its_folder_or_its_mcap_file(bag, tmp_path):
    assert bag_folder(bag) == bag
    assert bag_folder(next(bag.glob('*.mcap'))) == bag
    with pytest.raises(NotABag, match='no such session bag'):
        bag_folder(tmp_path / 'typo')
    (tmp_path / 'notes.txt').write_text('not a bag')
    with pytest.raises(NotABag, match='is a file, not a session bag'):
        bag_folder(tmp_path / 'notes.txt')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(NotABag, match='neither metadata.yaml nor a .mcap'):
        bag_folder(tmp_path / 'empty')


def test_bag_info_reports_each_bag_and_goes_on_past_bad_paths(bag, tmp_path, capsys):
    status = command.main(['bag', 'info', str(tmp_path / 'typo'), str(bag)])
    out, err = capsys.readouterr()
    assert status == 1
    assert f'no such session bag: {tmp_path / "typo"}' in err and 'recover' not in err
    assert f'bag: {bag}' in out and 'session/status_note' in out and 'messages: 1' in out


def test_an_unfinished_bag_is_sent_to_recovery(bag, capsys):
    (bag / 'metadata.yaml').unlink()          # as a killed recorder leaves it
    assert command.main(['bag', 'info', str(bag)]) == 1
    assert f'dream bag recover {bag}' in capsys.readouterr().err
    assert command.main(['replay', str(bag)]) == 1
    assert 'was not closed properly' in capsys.readouterr().err


@pytest.mark.parametrize('stage', [[], ['--from-stage', 'clipdraw']])
def test_replay_of_a_missing_bag_says_so(tmp_path, capsys, stage):
    assert command.main(['replay', str(tmp_path / 'typo')] + stage) == 1
    err = capsys.readouterr().err
    assert 'no such session bag' in err and 'recover' not in err


def _cut_off_bag(root, name='cut'):
    """A closed bag whose file lost its end (summary, footer) afterwards, metadata.yaml kept."""
    store = dream_typestore()
    with SessionBagWriter(root, name, flush_interval=0.0) as writer:
        for i in range(20):
            writer.write_message('session/status_note', 'std_msgs/msg/String', 1_000 + i,
                                 store.types['std_msgs/msg/String'](data='x' * 200))
    mcap = next(writer.path.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:mcap.stat().st_size * 6 // 10])
    return writer.path


def test_a_cut_off_bag_is_called_damaged_and_recovered(tmp_path, capsys):
    bag = _cut_off_bag(tmp_path)
    assert command.main(['bag', 'info', str(bag)]) == 1
    err = capsys.readouterr().err
    assert f'{bag}: damaged bag' in err and f'dream bag recover {bag}' in err
    assert command.main(['bag', 'recover', str(bag)]) == 0
    out = capsys.readouterr().out
    assert 'damaged bag' in out and 'nothing to recover' not in out
    assert [p.name for p in bag.glob('*.partial')] == [f'{bag.name}.mcap.partial']
    assert command.main(['bag', 'info', str(bag)]) == 0
    assert 'session/status_note' in capsys.readouterr().out
    assert command.main(['bag', 'recover', str(bag)]) == 0
    assert 'complete, nothing to recover' in capsys.readouterr().out


def test_each_unreadable_bag_is_named_and_the_rest_still_reported(bag, tmp_path, capsys):
    broken = _cut_off_bag(tmp_path / 'more')
    assert command.main(['bag', 'info', str(broken), str(bag)]) == 1
    out, err = capsys.readouterr()
    assert f'{broken}: damaged bag' in err and f'dream bag recover {broken}' in err
    assert f'bag: {bag}' in out and 'messages: 1' in out
    garbage = tmp_path / 'garbage'
    garbage.mkdir()
    (garbage / 'garbage.mcap').write_bytes(b'nothing')
    assert command.main(['bag', 'recover', str(garbage), str(bag)]) == 1
    out, err = capsys.readouterr()
    assert f'dream bag: error: {garbage}' in err
    assert f'{bag}: complete, nothing to recover' in out


def test_replay_of_a_damaged_bag_names_it_and_its_repair(tmp_path, capsys):
    broken = _cut_off_bag(tmp_path)
    assert command.main(['replay', str(broken)]) == 1
    err = capsys.readouterr().err
    assert f'{broken}: damaged bag' in err and f'dream bag recover {broken}' in err


def test_bag_info_says_how_the_session_ended(tmp_path, capsys):
    """Once, only an analysis told whether a bag's session was done, failed or cancelled."""
    from rclpy.serialization import serialize_message

    from dream_interfaces.msg import SessionStatus
    bags = []
    for sid, states in [('fine', [1, 5]), ('broke', [1, 3, 6]), ('cut', [1, 4])]:
        with SessionBagWriter(tmp_path, sid) as writer:
            writer.add_topic('session/status', 'dream_interfaces/msg/SessionStatus')
            for i, state in enumerate(states):
                msg = SessionStatus(session_id=sid, state=state,
                                    message='drawing failed: no CLIP' if state == 6 else '')
                writer.write('session/status', 1_000 + i, serialize_message(msg))
            bags.append(str(writer.path))
    assert command.main(['bag', 'info', *bags]) == 0
    out = capsys.readouterr().out
    assert 'session: fine, done\n' in out
    assert 'session: broke, failed: drawing failed: no CLIP' in out
    assert 'session: cut, no outcome recorded: the recording ends while plotting\n' in out


def test_recovery_of_a_renamed_folder_names_its_own_file(bag, capsys):
    (bag / 'metadata.yaml').unlink()          # killed, then the folder renamed
    renamed = bag.rename(bag.with_name('killed'))
    assert command.main(['bag', 'recover', str(renamed)]) == 0
    capsys.readouterr()
    assert command.main(['bag', 'info', str(renamed)]) == 0
    assert 'session/status_note' in capsys.readouterr().out


def test_a_bag_with_nothing_recoverable_is_not_sent_to_recovery(tmp_path, capsys):
    bag = _cut_off_bag(tmp_path)
    mcap = next(bag.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:12])     # cut off before any channel or message
    assert command.main(['bag', 'info', str(bag)]) == 1
    err = capsys.readouterr().err
    assert f'{bag}: damaged bag' in err and 'nothing in it can be recovered' in err
    assert 'dream bag recover' not in err
    (bag / 'metadata.yaml').unlink()             # the same, left by a killed recorder
    assert command.main(['bag', 'info', str(bag)]) == 1
    err = capsys.readouterr().err
    assert 'unfinished recording: nothing in it can be recovered' in err
    assert 'dream bag recover' not in err


def test_replay_of_an_unfinished_bag_suggests_recovery_only_when_it_can_help(tmp_path, capsys):
    bag = _cut_off_bag(tmp_path)
    (bag / 'metadata.yaml').unlink()             # left by a killed recorder
    assert command.main(['replay', str(bag)]) == 1
    err = capsys.readouterr().err
    assert f'{bag} was not closed properly' in err and f'dream bag recover {bag}" first' in err
    mcap = next(bag.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:12])     # cut off before any channel or message
    assert command.main(['replay', str(bag)]) == 1
    err = capsys.readouterr().err
    assert 'not closed properly' in err and 'nothing in it can be recovered' in err
    assert 'dream bag recover' not in err


def test_a_file_that_is_not_mcap_is_not_called_an_unfinished_recording(tmp_path, capsys):
    garbage = tmp_path / 'garbage.mcap'
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(NotABag, match='is not a readable MCAP file, so not a session bag'):
        bag_folder(garbage)
    for argv in (['bag', 'info'], ['bag', 'recover'], ['replay']):
        assert command.main([*argv, str(garbage)]) == 1
        err = capsys.readouterr().err
        assert f'{garbage} is not a readable MCAP file' in err
        assert 'unfinished' not in err and 'not closed properly' not in err


LIVE_WRITER = '''
import sys
from dream_session.bag_writer import SessionBagWriter
from dream_session.interface_types import dream_typestore
store = dream_typestore()
bag = SessionBagWriter(sys.argv[1], 'live', flush_interval=0.0)
bag.write_message('session/status_note', 'std_msgs/msg/String', 1_000,
                  store.types['std_msgs/msg/String'](data='hello'))
print(bag.path, flush=True)
sys.stdin.read()      # recording until the test kills it
'''


def test_a_live_bag_is_not_recovered_until_its_recorder_dies(tmp_path, capsys):
    """Once, recovery renamed the .mcap under a recorder still writing it."""
    import subprocess
    import sys
    recorder = subprocess.Popen([sys.executable, '-c', LIVE_WRITER, str(tmp_path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        bag = tmp_path / os.path.basename(recorder.stdout.readline().strip())
        mcap = next(bag.glob('*.mcap'))
        assert command.main(['bag', 'recover', str(bag)]) == 1
        err = capsys.readouterr().err
        assert f'being recorded (pid {recorder.pid})' in err and 'Traceback' not in err
        assert mcap.exists() and not list(bag.glob('*.partial'))   # left to its recorder
        assert command.main(['bag', 'info', str(bag)]) == 0
        out, err = capsys.readouterr()
        assert f'{bag}: being recorded (pid {recorder.pid})' in out
        assert 'dream bag recover' not in out + err and 'unfinished' not in out + err
        assert command.main(['replay', str(bag)]) == 1
        err = capsys.readouterr().err
        assert f'being recorded (pid {recorder.pid})' in err and 'bag recover' not in err
    finally:
        recorder.kill()
        recorder.wait(timeout=10)
    # Its recorder dead, the marker is stale: the bag is an unfinished one like any other.
    assert command.main(['bag', 'info', str(bag)]) == 1
    assert f'dream bag recover {bag}' in capsys.readouterr().err
    assert command.main(['bag', 'recover', str(bag)]) == 0
    assert 'unfinished recording: recovered 1 messages' in capsys.readouterr().out


def test_a_bag_recorded_on_another_host_is_recovered_only_with_force(tmp_path, capsys):
    """Its pid cannot be checked here (a sessions folder shared over the network): once, a
    marker from another host read as stale and recovery renamed the file under its writer."""
    import socket
    import subprocess
    import sys
    recorder = subprocess.Popen([sys.executable, '-c', LIVE_WRITER, str(tmp_path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        bag = tmp_path / os.path.basename(recorder.stdout.readline().strip())
        marker = bag / 'RECORDING'
        assert marker.read_text().splitlines()[1:] == [str(recorder.pid), socket.gethostname()]
    finally:
        recorder.kill()
        recorder.wait(timeout=10)
    marker.write_text(f'live\n{recorder.pid}\nrobot-host\n')   # written there, dead here
    assert command.main(['bag', 'info', str(bag)]) == 0
    out = capsys.readouterr().out
    assert (f'{bag}: being recorded (pid {recorder.pid} on host robot-host), or its recorder '
            f'died there: this machine cannot tell; once it has stopped, run "dream bag '
            f'recover --force {bag}"') in out
    assert command.main(['bag', 'recover', str(bag)]) == 1
    assert 'not recovered: this machine cannot tell whether' in capsys.readouterr().err
    assert command.main(['replay', str(bag)]) == 1
    assert 'not replayed: this machine cannot tell' in capsys.readouterr().err
    assert not list(bag.glob('*.partial'))
    assert command.main(['bag', 'recover', '--force', str(bag)]) == 0
    assert 'unfinished recording: recovered 1 messages' in capsys.readouterr().out
