"""``dream demo``: the main job on a fresh machine.

One complete session from the spoken dream shipped in the repository. While the pipeline is
being built, it runs the stages that exist and names the ones still missing, so ``make demo``
always tells the truth about what the machine can do today.
"""
import os
import sys
from importlib.metadata import entry_points

# The stages of one session, in order, and the verb that provides each.
STAGES = [
    ('speech to text', 'transcribe'),
    ('drawing (CLIPDraw)', 'draw'),
    ('plotting', 'plot'),
    ('session with recording', 'run'),
    ('analysis report', 'analyze'),
]


class DemoVerb:
    help = 'run one complete session from the shipped spoken dream (the main job)'

    def add_arguments(self, parser):
        parser.add_argument('--clip-weights', default=os.environ.get('CLIP_WEIGHTS'),
                            help='CLIP weights file (default: $CLIP_WEIGHTS)')
        parser.add_argument('--out', default='out/demo', help='output directory')

    def main(self, args):
        verbs = {point.name for point in entry_points(group='dream.verbs')}
        missing = [name for name, verb in STAGES if verb not in verbs]
        print('Dreaming Machine demo', file=sys.stderr)
        for name, verb in STAGES:
            state = 'ready' if verb in verbs else 'not built yet'
            print(f'  {name:<24} dream {verb:<11} {state}', file=sys.stderr)
        if missing:
            print('The pipeline is not complete yet; missing: ' + ', '.join(missing) + '.',
                  file=sys.stderr)
        return 0
