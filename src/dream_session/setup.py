from setuptools import find_packages, setup

package_name = 'dream_session'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Dreaming Machine developers',
    maintainer_email='dev@dreaming-machine.org',
    description='Session orchestration, per-session recording to rosbag2, replay, the single-process runner and the dream command.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'dream = dream_session.command:main',
            'session_manager_node = dream_session.session_manager_node:main',
            'recorder_node = dream_session.recorder_node:main',
            'stand_in_drawing_server = dream_session.stand_in_drawing_server:main',
            'recorded_drawing_server = dream_session.recorded_drawing_server:main',
            'stand_in_plotter = dream_session.stand_in_plotter:main',
        ],
        'dream.benchmarks': [
            'soak = dream_session.bench_soak:SoakBenchmark',
            'hearing = dream_session.bench_hearing:HearingBenchmark',
        ],
        'dream.verbs': [
            'bench = dream_session.bench_verb:BenchVerb',
            'demo = dream_session.demo_verb:DemoVerb',
            'run = dream_session.run_verb:RunVerb',
            'replay = dream_session.replay_verb:ReplayVerb',
            'bag = dream_session.bag_verb:BagVerb',
            'params = dream_session.params_verb:ParamsVerb',
        ],
    },
)
