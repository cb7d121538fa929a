"""Launch the Dreaming Machine on a real ROS 2 install (Jazzy or Kilted).

    ros2 launch launch/dreaming_machine.launch.py driver:=grbl record:=true \
        config:=launch/dreaming_machine.yaml use_sim_time:=false

Nodes and parameters come from the same YAML that ``dream run`` reads
(dream_session.system_config), so the two ways of running never drift apart. Before any node
starts, the config is checked against the parameters the nodes declare (``dream params
--check``): ``ros2 launch`` would pass a misspelt one on and rclpy would ignore it.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from dream_session.params_verb import config_problems
from dream_session.system_config import load_system

HERE = os.path.dirname(os.path.abspath(__file__))
# Idle OpenMP threads sleep rather than spin: torch (CLIPDraw) and CTranslate2 (Whisper) share
# the cores with the other nodes, and a spinning thread starves the one doing the work
# (README, "Executors and threads"). A value already in the environment wins.
OMP_WAIT_POLICY = os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')


def _nodes(context):
    value = LaunchConfiguration
    driver = value('driver').perform(context)
    record = value('record').perform(context).lower() in ('1', 'true', 'yes')
    sim_time = value('use_sim_time').perform(context).lower() in ('1', 'true', 'yes')
    specs = load_system(value('config').perform(context), driver=driver, record=record)
    if value('check_params').perform(context).lower() in ('1', 'true', 'yes'):
        # rclpy ignores a parameter its node does not declare: a misspelt one would run
        # the machine with the default, unnoticed.
        problems = config_problems(specs)
        if problems:
            raise RuntimeError('the configuration does not fit its nodes:\n  '
                               + '\n  '.join(problems) + '\n(./dream params --check tells '
                               'the same; check_params:=false skips this check)')
    actions = []
    for spec in specs:
        params = [dict(spec.parameters, use_sim_time=sim_time)]
        if spec.lifecycle:
            actions.append(LifecycleNode(package=spec.package, executable=spec.executable,
                                         name=spec.name, namespace='', parameters=params,
                                         autostart=True, output='screen'))
        else:
            actions.append(Node(package=spec.package, executable=spec.executable,
                                name=spec.name, parameters=params, output='screen'))
    return actions


def generate_launch_description():
    return LaunchDescription([
        SetEnvironmentVariable('OMP_WAIT_POLICY', OMP_WAIT_POLICY),
        DeclareLaunchArgument('driver', default_value='sim',
                              description='plotter driver: sim, grbl, axidraw (see the YAML)'),
        DeclareLaunchArgument('record', default_value='true',
                              description='record every session to a bag'),
        DeclareLaunchArgument('config', default_value=os.path.join(HERE,
                                                                   'dreaming_machine.yaml'),
                              description='system configuration (nodes and parameters)'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='all nodes follow /clock (bag replay)'),
        DeclareLaunchArgument('check_params', default_value='true',
                              description='refuse a config that sets a parameter its node '
                                          'does not declare or refuses (builds each node '
                                          'once, without its resources, a few seconds)'),
        OpaqueFunction(function=_nodes),
    ])
