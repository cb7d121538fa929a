"""Shared fixtures: simulated devices and small plans (no ROS needed)."""
import pytest

from dream_plotter.planner import plan_drawing
from dream_plotter.random_drawings import random_drawing


@pytest.fixture(scope='session')
def small_plan():
    """20 random CLIPDraw-like strokes planned for A4 (default settings)."""
    return plan_drawing(random_drawing(20, seed=7))


@pytest.fixture(scope='session')
def tiny_plan():
    return plan_drawing(random_drawing(8, seed=11))
