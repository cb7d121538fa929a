"""``dream bag`` and ``dream replay`` name what is wrong with the path they were given."""
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
