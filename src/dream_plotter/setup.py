from setuptools import find_packages, setup

package_name = 'dream_plotter'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml', 'DRIVER_CONTRACT.md']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Dreaming Machine developers',
    maintainer_email='dev@dreaming-machine.org',
    description=('Stroke planning for paper and DrawStrokes action servers: simulated '
                 'plotter, GRBL and AxiDraw drivers.'),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sim_driver_node = dream_plotter.sim_driver_node:main',
            'grbl_driver_node = dream_plotter.grbl_driver_node:main',
            'axidraw_driver_node = dream_plotter.axidraw_driver_node:main',
        ],
        'dream.verbs': [
            'plot = dream_plotter.plot_verb:PlotVerb',
        ],
        'dream.benchmarks': [
            'plot = dream_plotter.plot_bench:PlotBenchmark',
        ],
    },
)
