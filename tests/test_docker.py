"""The Dockerfile: lint-clean, and built with the README's own ROS 2 steps."""
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / 'docker' / 'Dockerfile'


@pytest.mark.skipif(shutil.which('hadolint') is None, reason='hadolint not installed')
def test_dockerfile_passes_hadolint():
    result = subprocess.run(['hadolint', str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_uses_the_readme_steps():
    docker = DOCKERFILE.read_text()
    readme = (ROOT / 'README.md').read_text()
    assert 'FROM ros:kilted' in docker
    assert 'source /opt/ros/kilted/setup.bash && make setup' in docker
    assert 'source /opt/ros/kilted/setup.bash' in readme and 'make setup' in readme
    # Every Debian package the setup script installs is in the image too.
    setup = (ROOT / 'scripts' / 'setup.sh').read_text()
    debs = setup.split('DEBS="', 1)[1].split('"', 1)[0].split()
    assert debs and all(deb in docker for deb in debs)
    assert (ROOT / 'docker' / 'entrypoint.sh').stat().st_mode & 0o111
