from setuptools import find_packages, setup

package_name = 'dream_analysis'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={package_name: ['data/*.txt', 'data/phrases/*.txt']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml', 'MEASUREMENTS.md']),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='Dreaming Machine developers',
    maintainer_email='dev@dreaming-machine.org',
    description='Reads the archive of session bags and explains what CLIP saw: measurements, groupings, phrase ranking, reports.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [],
        'dream.verbs': [
            'analyze = dream_analysis.analyze_verb:AnalyzeVerb',
            'gaze = dream_analysis.gaze_verb:GazeVerb',
        ],
        'dream.benchmarks': [
            'analysis = dream_analysis.bench_analysis:AnalysisBench',
        ],
    },
)
