"""The replay player refuses a rate it cannot play before anything waits, and says so when
it plays to topics that nobody listens to."""
import math
import time

import pytest
import rclpy

from dream_session import command
from dream_session.bag_replay import BagPlayer
from dream_session.bag_writer import SessionBagWriter
from dream_session.interface_types import dream_typestore


@pytest.fixture
def bag(tmp_path):
    store = dream_typestore()
    with SessionBagWriter(tmp_path, 'played') as writer:
        for i in range(3):
            writer.write_message('bag_player_test/note', 'std_msgs/msg/String', 1_000 + i,
                                 store.types['std_msgs/msg/String'](data=f'note {i}'))
        return writer.path


@pytest.fixture
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('bag_player_test', context=context)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


@pytest.mark.parametrize('rate', ['nan', '0', '-1', '-inf'])
def test_a_rate_that_cannot_be_played_is_refused_at_once(bag, rate, capsys):
    t0 = time.monotonic()
    assert command.main(['replay', str(bag), f'--rate={rate}']) == 1
    assert time.monotonic() - t0 < 5      # not after the wait for subscribers
    err = capsys.readouterr().err
    assert '--rate must be a positive number (inf: as fast as possible)' in err
    assert 'Invalid value' not in err


def test_an_infinite_rate_plays_as_fast_as_possible(bag, node):
    player = BagPlayer(node, bag, rate=math.inf)
    t0 = time.monotonic()
    assert player.play() == 3
    assert time.monotonic() - t0 < 1


def test_playing_without_subscribers_is_told(bag, node, capfd):
    player = BagPlayer(node, bag)
    assert player.wait_for_subscribers(timeout=0.2) is False
    err = capfd.readouterr().err
    assert 'no subscriber on any topic after 0.2 s; playing anyway' in err
