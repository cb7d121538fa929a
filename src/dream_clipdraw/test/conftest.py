"""Shared by the clipdraw tests: one torch thread, and a client that hears every output."""
import pytest
import torch


@pytest.fixture(scope='module')
def one_torch_thread():
    """Tiny models and renders gain nothing from threads, and on a busy 2-core machine OpenMP
    threads waiting for each other make every small op many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope='session')
def hear_outputs():
    """``subscribe(client)`` -> {name: [messages]}, filled from the node's five outputs."""
    def subscribe(client):
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from visualization_msgs.msg import MarkerArray

        from dream_interfaces.msg import Drawing, GenerationFeedback, GenerationResult

        heard = {name: [] for name in ('feedback', 'result', 'drawing', 'preview', 'markers')}
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        for name, kind, topic, qos in [
                ('feedback', GenerationFeedback, 'generate_drawing/feedback_mirror', reliable),
                ('result', GenerationResult, 'generate_drawing/result_mirror', reliable),
                ('drawing', Drawing, 'drawing', latched),
                ('preview', Image, 'drawing/preview', reliable),
                ('markers', MarkerArray, 'drawing/markers', latched)]:
            client.create_subscription(kind, topic, heard[name].append, qos)
        return heard
    return subscribe
