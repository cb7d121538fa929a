"""scripts/setup.sh: a failed install stops the setup and is not remembered as done."""
import os
import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_a_failed_install_stops_setup_and_marks_nothing_installed(tmp_path):
    repo = tmp_path / 'repo'
    shutil.copytree(ROOT / 'scripts', repo / 'scripts')
    (repo / 'requirements').mkdir()
    (repo / 'requirements' / 'base.txt').write_text('no-such-package-dreaming-machine==1.0\n')
    (repo / 'requirements' / 'ros-wheels.txt').write_text('')
    (tmp_path / 'no-wheels').mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ('VIRTUAL_ENV', 'ROS_DISTRO', 'PIP_FIND_LINKS')}
    # No index and an empty wheel folder: pip fails at once, offline.
    env.update(PIP_NO_INDEX='1', PIP_FIND_LINKS=str(tmp_path / 'no-wheels'),
               DREAM_TEST_DEBS='')
    result = subprocess.run(['bash', str(repo / 'scripts' / 'setup.sh')], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'pip could not install the Python packages' in result.stderr
    assert 'no-such-package-dreaming-machine' in result.stdout + result.stderr
    assert 'building the workspace' not in result.stdout   # it stopped there
    stamps = repo / '.venv' / '.dream'
    assert (stamps / 'mode').exists() and not (stamps / 'requirements').exists()
