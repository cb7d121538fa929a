"""The nodes' processes end cleanly when SIGTERM shuts their context down mid-spin."""
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.node import Node  # noqa: E402

from dream_audio import audio_capture_node, vad_node  # noqa: E402

MAINS = [(audio_capture_node, 'AudioCaptureNode'), (vad_node, 'VadNode')]


class Quiet(Node):
    def __init__(self):
        super().__init__('quiet')


@pytest.mark.parametrize('module, node_class', MAINS)
def test_a_spin_failing_after_the_shutdown_is_a_clean_exit(monkeypatch, module, node_class):
    def spin_then_fail(node, executor=None):
        rclpy.shutdown()       # what rclpy's SIGTERM handler does, between two waits
        raise RuntimeError('failed to initialize wait set: the given context is not valid')
    monkeypatch.setattr(module, node_class, Quiet)
    monkeypatch.setattr(module.rclpy, 'spin', spin_then_fail)
    assert module.main(args=[]) == 0


@pytest.mark.parametrize('module, node_class', MAINS)
def test_a_failure_while_the_context_is_valid_is_raised(monkeypatch, module, node_class):
    def fail(node, executor=None):
        raise RuntimeError('a real bug')
    monkeypatch.setattr(module, node_class, Quiet)
    monkeypatch.setattr(module.rclpy, 'spin', fail)
    with pytest.raises(RuntimeError, match='a real bug'):
        module.main(args=[])
    assert not rclpy.ok()
