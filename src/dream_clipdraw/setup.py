from setuptools import find_packages, setup

package_name = 'dream_clipdraw'

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
    description='CLIPDraw: a differentiable Bezier-stroke rasterizer in PyTorch and CLIP-guided optimisation of line drawings.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'clipdraw_node = dream_clipdraw.clipdraw_node:main',
        ],
        'dream.verbs': [
            'draw = dream_clipdraw.draw_verb:DrawVerb',
        ],
        'dream.benchmarks': [
            'clipdraw = dream_clipdraw.bench_clipdraw:ClipDrawBench',
            'rasterizer = dream_clipdraw.bench_rasterizer:RasterizerBenchmark',
        ],
    },
)
