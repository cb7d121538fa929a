"""Every node's console script runs its node through dream_runtime's run_node: a process
that SIGINT/SIGTERM shuts down in the signal (rclpy's handlers) cannot answer its running
goal or publish its last status."""
import importlib
import pathlib
import re

import pytest

pytest.importorskip('rclpy')
from rclpy.node import Node  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = re.compile(r"'(\w+) = ([\w.]+):main'")


def node_scripts():
    found = []
    for setup in sorted(ROOT.glob('src/*/setup.py')):
        found += [(name, module) for name, module in SCRIPT.findall(setup.read_text())
                  if name != 'dream']
    return found


def test_every_node_package_has_its_scripts_found():
    names = {name for name, _ in node_scripts()}
    assert {'audio_capture_node', 'vad_node', 'stt_node', 'clipdraw_node', 'sim_driver_node',
            'session_manager_node', 'recorder_node'} <= names


@pytest.mark.parametrize('name, module_name', node_scripts())
def test_a_node_script_runs_its_node_with_run_node(monkeypatch, name, module_name):
    module = importlib.import_module(module_name)
    calls = []
    monkeypatch.setattr(module, 'run_node',
                        lambda make_node, args=None, **kw: calls.append((make_node, kw)) or 0,
                        raising=True)
    assert module.main(args=[]) == 0
    [(make_node, kwargs)] = calls
    assert isinstance(make_node, type) and issubclass(make_node, Node), make_node
    if 'driver' in name:        # the pen is lifted and the port closed on the way out
        assert kwargs.get('finish') is make_node.shutdown_driver
