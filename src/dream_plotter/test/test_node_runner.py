"""A driver node's process ends cleanly when SIGTERM shuts its context down mid-spin."""
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402

from dream_plotter import node_runner  # noqa: E402


class Quiet(Node):
    def __init__(self):
        super().__init__('quiet')

    def shutdown_driver(self):
        pass


def test_an_executor_failing_after_the_shutdown_is_a_clean_exit(monkeypatch):
    def spin_then_fail(self):
        rclpy.shutdown()       # what rclpy's SIGTERM handler does, between two waits
        raise RuntimeError('failed to initialize wait set: the given context is not valid')
    monkeypatch.setattr(SingleThreadedExecutor, 'spin', spin_then_fail)
    assert node_runner.spin_node(Quiet, args=[]) == 0


def test_a_failure_while_the_context_is_valid_is_raised(monkeypatch):
    def fail(self):
        raise RuntimeError('a real bug')
    monkeypatch.setattr(SingleThreadedExecutor, 'spin', fail)
    with pytest.raises(RuntimeError, match='a real bug'):
        node_runner.spin_node(Quiet, args=[])
    assert not rclpy.ok()
