"""Our message definitions as a rosbags typestore, so bags can be written and read without ROS.

The definitions are read from the ``.msg`` files (installed share directory, or the source tree
beside this package), never restated in Python: the bag then stores exactly what
``dream_interfaces`` declares, and ``ros2 bag`` on a real ROS 2 reads it with our types.
"""
import functools
import os
import pathlib

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

PACKAGE = 'dream_interfaces'


def interface_dir():
    """Where ``dream_interfaces``' ``msg/`` directory lies."""
    candidates = []
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            candidates.append(pathlib.Path(prefix, 'share', PACKAGE))
    candidates.append(pathlib.Path(__file__).resolve().parents[2] / PACKAGE)
    for candidate in candidates:
        if (candidate / 'msg').is_dir():
            return candidate
    raise FileNotFoundError(
        f'cannot find the {PACKAGE} message definitions (looked in: '
        + ', '.join(str(c) for c in candidates) + '); run make setup')


@functools.lru_cache(maxsize=1)
def dream_typestore():
    """ROS 2 Kilted's standard types plus ours."""
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in sorted((interface_dir() / 'msg').glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(), f'{PACKAGE}/msg/{path.stem}'))
    store.register(types)
    return store
