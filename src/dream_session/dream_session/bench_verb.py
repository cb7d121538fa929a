"""``dream bench NAME``: benchmarks that print their figures as JSON.

Each package contributes benchmarks through the ``dream.benchmarks`` entry-point group, with
the same shape as a verb (``help``, ``add_arguments``, ``main``). Speed and memory targets
live here as printed figures, never as timed tests.
"""
from dream_session.command import add_extension_parsers, load_extensions, run_extension

BENCH_GROUP = 'dream.benchmarks'


class BenchVerb:
    help = 'run a benchmark and print its figures as JSON'

    def add_arguments(self, parser):
        subparsers = parser.add_subparsers(title='benchmarks', metavar='BENCHMARK')
        add_extension_parsers(subparsers, load_extensions(BENCH_GROUP), prefix='bench ')
        self._parser = parser

    def main(self, args):
        if not hasattr(args, '_extension') or args._extension is self:
            self._parser.print_help()
            return 0
        return run_extension(args)
