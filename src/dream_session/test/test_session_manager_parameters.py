"""The session manager's paper and generation_preset: checked at start and when set."""
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from dream_session.session_manager_node import SessionManagerNode  # noqa: E402


@pytest.fixture(scope='module')
def context():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


@pytest.mark.parametrize('name, value, reason', [
    ('paper', 'A9', "unknown paper 'A9': use one of A3, A4"),
    ('generation_preset', 'photoreal', 'one of cpu, faithful, plotter or empty'),
])
def test_a_word_out_of_its_set_fails_the_start_and_is_refused_when_set(
        context, name, value, reason):
    with pytest.raises(InvalidParameterValueException, match=reason):
        SessionManagerNode(context=context, parameter_overrides=[Parameter(name, value=value)])
    node = SessionManagerNode(context=context)
    try:
        [result] = node.set_parameters([Parameter(name, value=value)])
        assert not result.successful and reason in result.reason
    finally:
        node.destroy_node()


def test_good_words_and_empty_ones_are_taken(context):
    node = SessionManagerNode(context=context, parameter_overrides=[
        Parameter('paper', value='300x200'), Parameter('generation_preset', value='plotter')])
    try:
        for name, value in [('paper', 'letter'), ('paper', ''), ('generation_preset', ''),
                            ('generation_preset', 'faithful')]:
            assert node.set_parameters([Parameter(name, value=value)])[0].successful
            assert node.get_parameter(name).value == value
    finally:
        node.destroy_node()
