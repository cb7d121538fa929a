from setuptools import find_packages, setup

package_name = 'dream_audio'

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
    description='Audio capture (microphone and files), voice activity detection and utterances for the Dreaming Machine.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'audio_capture_node = dream_audio.audio_capture_node:main',
            'vad_node = dream_audio.vad_node:main',
        ],
        'dream.verbs': [],
    },
)
