from setuptools import find_packages, setup

package_name = 'dream_stt'

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
    description='Speech to text with Whisper (faster-whisper): transcription and translation to English, with confidence signals.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'stt_node = dream_stt.stt_node:main',
        ],
        'dream.verbs': [
            'transcribe = dream_stt.transcribe_verb:TranscribeVerb',
        ],
        'dream.benchmarks': [
            'stt = dream_stt.stt_benchmark:SttBenchmark',
        ],
    },
)
