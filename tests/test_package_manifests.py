"""Each package.xml names what its Python imports: rosdep or a binary install relies on it."""
import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = sorted(p for p in (ROOT / 'src').iterdir() if (p / p.name).is_dir())
# rosdep keys of the Python modules Debian/ROS package
ROSDEP = {'numpy': 'python3-numpy', 'scipy': 'python3-scipy', 'soundfile': 'python3-soundfile',
          'yaml': 'python3-yaml', 'serial': 'python3-serial', 'PIL': 'python3-pil',
          'tqdm': 'python3-tqdm', 'pandas': 'python3-pandas',
          'matplotlib': 'python3-matplotlib', 'sklearn': 'python3-sklearn'}
# the rest comes from PyPI: named in the manifest's pip comment
PIP = {'open_clip': 'open_clip_torch', 'faster_whisper': 'faster-whisper',
       'silero_vad': 'silero-vad', 'rapidocr_onnxruntime': 'rapidocr-onnxruntime',
       'vpype_cli': 'vpype', 'whisper_normalizer': 'whisper-normalizer'}
OPTIONAL = {'pydiffvg'}          # a second renderer, used only when importable


def imported_modules(package):
    found = set()
    for path in (package / package.name).rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split('.')[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split('.')[0])
    return found - set(sys.stdlib_module_names) - {package.name} - OPTIONAL


def is_ros_package(module):
    return module == 'rclpy' or module.startswith('dream_') or \
        module.endswith(('_msgs', '_interfaces'))


@pytest.mark.parametrize('package', PACKAGES, ids=lambda p: p.name)
def test_every_import_is_declared(package):
    manifest = (package / 'package.xml').read_text()
    declared = set(re.findall(r'<(?:exec_)?depend>([^<]+)</(?:exec_)?depend>', manifest))
    comments = ' '.join(re.findall(r'<!--(.*?)-->', manifest, re.S))
    missing = []
    for module in sorted(imported_modules(package)):
        if is_ros_package(module) or module in ROSDEP:
            if ROSDEP.get(module, module) not in declared:
                missing.append(f'<exec_depend>{ROSDEP.get(module, module)}</exec_depend>')
        elif not re.search(rf'\b{re.escape(PIP.get(module, module))}\b', comments):
            missing.append(f'{PIP.get(module, module)} (pip comment)')
    assert not missing, f'{package.name}/package.xml lacks: {", ".join(missing)}'


def test_the_recorder_declares_the_image_messages_it_records():
    """It loads sensor_msgs/msg/Image by name (the preview topic), never by import."""
    assert '<exec_depend>sensor_msgs</exec_depend>' in \
        (ROOT / 'src' / 'dream_session' / 'package.xml').read_text()
