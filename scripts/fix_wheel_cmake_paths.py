"""Point the ROS 2 wheels' CMake exports at this interpreter.

The wheels are built in a manylinux container, so their exported targets name
``/opt/python/cp311-cp311/...`` include directories that do not exist here, and CMake refuses
to generate a build that links against them.
"""
import pathlib
import re
import sys
import sysconfig

import numpy

WHEEL_PYTHON = re.compile(r'/opt/python/cp3\d+-cp3\d+/include/python3\.\d+')
WHEEL_NUMPY = re.compile(
    r'/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include')


def main(prefix):
    python_include = sysconfig.get_paths()['include']
    numpy_include = numpy.get_include()
    changed = 0
    for path in pathlib.Path(prefix, 'share').rglob('*.cmake'):
        text = path.read_text()
        if '/opt/python/' not in text:
            continue
        text = WHEEL_NUMPY.sub(numpy_include, text)
        text = WHEEL_PYTHON.sub(python_include, text)
        path.write_text(text)
        changed += 1
    print(f'rewrote {changed} CMake export files -> {python_include}, {numpy_include}')


if __name__ == '__main__':
    main(sys.argv[1])
