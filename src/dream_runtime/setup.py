from setuptools import find_packages, setup

package_name = 'dream_runtime'

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
    description=('How each Dreaming Machine node runs as a process: SIGINT/SIGTERM wind it '
                 'down while the graph still works, then it exits.'),
    license='Apache-2.0',
)
