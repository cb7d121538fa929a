"""The ``dream`` command: one console entry point whose verbs come from every package.

Verbs are found through the ``dream.verbs`` entry-point group, the way ``ros2`` finds its
verb extensions and vpype its plugins, so a package adds a verb by declaring it in its
``setup.py`` and nothing here changes. A verb is any object (usually a class, instantiated
here) with:

- ``help``: one line for ``dream --help``;
- ``add_arguments(parser)``: declares its options on an ``argparse`` parser;
- ``main(args) -> int``: does the work and returns the exit status.

Verbs import their heavy dependencies (torch, faster-whisper, rclpy) inside ``main`` so that
``dream --help`` stays fast and works even when one package's dependencies are broken.

An exception from a verb becomes one line ``dream VERB: error: ...`` (exit 1). One that is
the user's mistake (a missing file, a bad option or parameter: an exception whose class has
a true ``usage_error``, a ``UsageError``, a ``ConfigError``) stops there; any other adds
"(set DREAM_DEBUG=1 for the traceback)", since it may be a bug.
"""
import argparse
import os
import sys
import traceback
from importlib.metadata import entry_points

from dream_clipdraw.openmp_policy import prefer_passive_openmp

VERB_GROUP = 'dream.verbs'


class UsageError(ValueError):
    """A verb was asked for something it cannot do (a missing file, a bad option)."""
    usage_error = True


def is_usage_error(exc):
    """Whether ``exc`` is the user's mistake, not a possible bug (no traceback hint)."""
    if getattr(exc, 'usage_error', False):
        return True
    try:
        from dream_session.system_config import ConfigError
    except Exception:   # a broken install must not hide the error being reported
        return False
    return isinstance(exc, ConfigError)


def load_extensions(group):
    """Return {name: (extension or None, load error or None)} for an entry-point group."""
    found = {}
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        if point.name in found:
            continue
        try:
            obj = point.load()
            found[point.name] = (obj() if isinstance(obj, type) else obj, None)
        except Exception as exc:  # a broken plugin must not take the whole command down
            found[point.name] = (None, f'{type(exc).__name__}: {exc}')
    return found


def add_extension_parsers(subparsers, extensions, prefix=''):
    """Add one sub-parser per extension; broken ones are listed with their load error.
    ``prefix``: the verbs above these (as in 'bench ') for the error messages."""
    for name, (ext, error) in extensions.items():
        if ext is None:
            sub = subparsers.add_parser(name, help=f'(unavailable: {error})')
            sub.set_defaults(_extension=None, _error=error, _name=prefix + name)
            continue
        sub = subparsers.add_parser(
            name, help=ext.help, description=getattr(ext, 'description', ext.help),
            formatter_class=argparse.RawDescriptionHelpFormatter)
        ext.add_arguments(sub)
        sub.set_defaults(_extension=ext, _error=None, _name=prefix + name)


def build_parser():
    parser = argparse.ArgumentParser(
        prog='dream',
        description='Dreaming Machine: narrated dreams drawn by CLIPDraw and a pen plotter.',
        epilog='Each verb has its own --help. Set DREAM_DEBUG=1 to see tracebacks.')
    subparsers = parser.add_subparsers(title='verbs', metavar='VERB')
    add_extension_parsers(subparsers, load_extensions(VERB_GROUP))
    return parser


def run_extension(args):
    """Run the extension a parser selected; errors become one clear line, not a traceback."""
    name = getattr(args, '_name', 'dream')
    if args._extension is None:
        print(f'dream {name}: this verb could not be loaded: {args._error}', file=sys.stderr)
        return 2
    try:
        status = int(args._extension.main(args) or 0)
        sys.stdout.flush()        # here, not at exit: a reader gone is caught below
        return status
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        print(f'dream {name}: interrupted', file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get('DREAM_DEBUG'):
            traceback.print_exc()
        print(f'dream {name}: error: {exc}', file=sys.stderr)
        if not os.environ.get('DREAM_DEBUG') and not is_usage_error(exc):
            print('(set DREAM_DEBUG=1 for the traceback)', file=sys.stderr)
        return 1


def _reader_gone():
    """stdout's reader has gone (``dream bag info ... | head``): stop quietly, as shell tools
    do, with the status of a process that SIGPIPE ended."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())    # no error at exit
    return 141


def main(argv=None):
    # Before any verb imports torch or CTranslate2: idle OpenMP threads sleep, not spin
    # (with several nodes in one process, spinning threads starve the one doing the work).
    prefer_passive_openmp()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, '_extension'):
        parser.print_help()
        return 0
    return run_extension(args)


if __name__ == '__main__':
    sys.exit(main())
