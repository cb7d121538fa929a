"""The dream command: verbs from entry points, broken plugins isolated, errors as one line."""
import pathlib
import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from dream_session import command


class GoodVerb:
    help = 'a verb that works'

    def add_arguments(self, parser):
        parser.add_argument('--n', type=int, default=1)

    def main(self, args):
        print(f'good {args.n}')
        return 0


class MisusedVerb:
    help = 'a verb given a file that is not there'

    def add_arguments(self, parser):
        parser.add_argument('--kind', default='usage')

    def main(self, args):
        if args.kind == 'usage':
            raise command.UsageError('no such audio file: nonexist.wav')
        if args.kind == 'marked':
            from dream_audio.file_source import file_info
            file_info('nonexist.wav')       # AudioFileError: the user's file
        from dream_session.system_config import ConfigError
        raise ConfigError("stt has no parameter 'tsak'")


class FailingVerb:
    help = 'a verb that raises'

    def add_arguments(self, parser):
        pass

    def main(self, args):
        raise ValueError('the prompt is empty: say something first')


@pytest.fixture
def fake_verbs(monkeypatch):
    points = [
        EntryPoint('good', f'{__name__}:GoodVerb', command.VERB_GROUP),
        EntryPoint('fails', f'{__name__}:FailingVerb', command.VERB_GROUP),
        EntryPoint('misused', f'{__name__}:MisusedVerb', command.VERB_GROUP),
        EntryPoint('broken', 'no_such_module_xyz:Verb', command.VERB_GROUP),
    ]
    monkeypatch.setattr(command, 'entry_points', lambda group: points if group ==
                        command.VERB_GROUP else [])
    monkeypatch.setitem(sys.modules, __name__, sys.modules[__name__])


def test_help_lists_verbs_and_marks_broken_ones(fake_verbs, capsys):
    assert command.main([]) == 0
    out = capsys.readouterr().out
    assert 'good' in out and 'a verb that works' in out
    assert 'broken' in out and 'unavailable' in out


def test_verb_runs_with_its_arguments(fake_verbs, capsys):
    assert command.main(['good', '--n', '3']) == 0
    assert 'good 3' in capsys.readouterr().out


def test_error_is_one_clear_line_without_traceback(fake_verbs, capsys, monkeypatch):
    monkeypatch.delenv('DREAM_DEBUG', raising=False)
    assert command.main(['fails']) == 1
    err = capsys.readouterr().err
    assert 'dream fails: error: the prompt is empty' in err
    assert 'Traceback' not in err


def test_an_unexpected_error_hints_at_the_traceback(fake_verbs, capsys, monkeypatch):
    monkeypatch.delenv('DREAM_DEBUG', raising=False)
    assert command.main(['fails']) == 1
    assert '(set DREAM_DEBUG=1 for the traceback)' in capsys.readouterr().err


@pytest.mark.parametrize('kind, message', [
    ('usage', 'no such audio file: nonexist.wav'),
    ('marked', 'audio file not found: nonexist.wav'),
    ('config', "stt has no parameter 'tsak'"),
])
def test_a_usage_error_has_no_traceback_hint(fake_verbs, capsys, monkeypatch, kind, message):
    """A missing file or a bad option is the user's to fix: a traceback would not help."""
    monkeypatch.delenv('DREAM_DEBUG', raising=False)
    assert command.main(['misused', '--kind', kind]) == 1
    err = capsys.readouterr().err
    assert f'dream misused: error: {message}' in err
    assert 'DREAM_DEBUG' not in err and 'Traceback' not in err


@pytest.mark.parametrize('argv', [
    ['transcribe', 'nonexist.wav'],
    ['transcribe', '--language', 'xx', '{dream}'],
    ['run', '--audio-file', 'nonexist.wav'],
])
def test_the_real_verbs_usage_errors_have_no_traceback_hint(argv, capsys, monkeypatch):
    monkeypatch.delenv('DREAM_DEBUG', raising=False)
    dream = str(pathlib.Path(__file__).parents[3] / 'data' / 'dreams' / 'red_whale.flac')
    assert command.main([a.format(dream=dream) for a in argv]) == 1
    err = capsys.readouterr().err
    assert 'error: ' in err and 'DREAM_DEBUG' not in err


def test_broken_verb_reports_its_load_error(fake_verbs, capsys):
    assert command.main(['broken']) == 2
    assert 'no_such_module_xyz' in capsys.readouterr().err


def test_installed_command_lists_the_workspace_verbs():
    out = subprocess.run([sys.executable, '-m', 'dream_session.command', '--help'],
                         capture_output=True, text=True, check=True).stdout
    for verb in ('bench', 'demo'):
        assert f'    {verb}' in out


def test_output_piped_into_head_ends_quietly(tmp_path):
    """Once, `dream bag info ... | head -3` ended with 'dream bag: error: [Errno 32] Broken
    pipe'."""
    import subprocess
    import sys

    from dream_session.bag_writer import SessionBagWriter
    from dream_session.interface_types import dream_typestore
    store = dream_typestore()
    bags = []
    for i in range(200):
        with SessionBagWriter(tmp_path, f's{i}') as writer:
            writer.write_message('session/status_note', 'std_msgs/msg/String', 1_000,
                                 store.types['std_msgs/msg/String'](data='hello'))
            bags.append(str(writer.path))
    script = 'import sys; from dream_session import command; sys.exit(command.main())'
    done = subprocess.run(
        ['bash', '-c', f'set -o pipefail; {sys.executable} -c "{script}" bag info "$@" '
         '| head -3', 'dream', *bags], capture_output=True, text=True, timeout=120)
    assert len(done.stdout.splitlines()) == 3
    assert done.stderr == '', done.stderr
    assert done.returncode == 141
