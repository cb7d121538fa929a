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


def test_the_build_context_leaves_out_recordings_and_this_machines_build():
    """``COPY . .`` must not put visitors' sessions (privacy) or a host's venv and colcon
    build (gigabytes; a CMake cache made for another path) into the image."""
    def entries(name):
        return {line.strip().strip('/') for line in (ROOT / name).read_text().splitlines()
                if line.strip() and not line.startswith('#')}
    ignored, local = entries('.dockerignore'), entries('.gitignore')
    assert {'.git', 'sessions', '.venv', 'build', 'install', 'log'} <= ignored
    assert {'out', 'plots', '.whl'} <= ignored
    missing = {p for p in local if not p.startswith(('*', '__')) and p not in ignored}
    assert not missing, f'ignored by git but copied into the image: {sorted(missing)}'
    assert not ignored & {'data', 'src', 'launch', 'scripts', 'docker', 'requirements'}
