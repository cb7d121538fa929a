"""The driver nodes' paper parameter: a name or WxH in mm, checked at start and when set."""
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from dream_plotter.axidraw_driver_node import AxiDrawDriverNode  # noqa: E402
from dream_plotter.grbl_driver_node import GrblDriverNode  # noqa: E402
from dream_plotter.node_parameters import paper_error  # noqa: E402
from dream_plotter.sim_driver_node import SimDriverNode  # noqa: E402


@pytest.fixture(scope='module')
def context():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def test_paper_error_takes_what_paper_size_takes():
    assert [paper_error(p) for p in ('A4', 'letter', ' a3 ', '300x200', '210 x 297')] \
        == [''] * 5
    assert 'use one of A3, A4' in paper_error('B5')
    assert 'use one of A3, A4' in paper_error('')
    assert 'positive' in paper_error('0x297') and 'positive' in paper_error('1.2.3x4')


@pytest.mark.parametrize('node_cls', [SimDriverNode, GrblDriverNode, AxiDrawDriverNode])
def test_an_unknown_paper_fails_the_start(context, node_cls):
    with pytest.raises(InvalidParameterValueException, match='unknown paper .B5.: use one of'):
        node_cls(context=context, parameter_overrides=[Parameter('paper', value='B5')])


def test_an_unknown_paper_is_refused_when_set(context):
    node = SimDriverNode(context=context, parameter_overrides=[Parameter('paper', value='A3')])
    try:
        [result] = node.set_parameters([Parameter('paper', value='A9')])
        assert not result.successful and 'A4' in result.reason and 'WIDTHxHEIGHT' in result.reason
        assert node.get_parameter('paper').value == 'A3'
        assert node.set_parameters([Parameter('paper', value='letter')])[0].successful
        assert node.get_parameter('paper').value == 'letter'
    finally:
        node.shutdown_driver()
        node.destroy_node()


@pytest.mark.parametrize('node_cls', [SimDriverNode, GrblDriverNode, AxiDrawDriverNode])
def test_every_driver_declares_min_opacity_in_0_1(context, node_cls):
    from dream_plotter.node_parameters import plan_settings
    node = node_cls(context=context, parameter_overrides=[Parameter('min_opacity', value=0.3)])
    try:
        [descriptor] = node.describe_parameters(['min_opacity'])
        assert 'transparency' in descriptor.description
        [bounds] = descriptor.floating_point_range
        assert (bounds.from_value, bounds.to_value) == (0.0, 1.0)
        assert plan_settings(node).min_opacity == 0.3
        assert not node.set_parameters([Parameter('min_opacity', value=1.5)])[0].successful
    finally:
        if hasattr(node, 'shutdown_driver'):
            node.shutdown_driver()
        node.destroy_node()
