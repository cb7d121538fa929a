"""``dream demo``: the main job on a fresh machine.

One complete session from the spoken dream shipped in the repository: voice activity
detection, speech to text, CLIPDraw, the simulated plotter and the recording, then a
one-session analysis; it prints where the drawing, the plotted image, the bag and the report
are. CLIPDraw needs real CLIP weights, which cannot be downloaded here: without them the demo
says precisely how to provide them, shows what the stages before drawing make of the dream,
and stops (a drawing from random weights would say nothing about the method). Weights that
were named but cannot be used (a wrong path, another architecture) are an error, found
before the session starts.
"""
import os
import pathlib
import sys

from dream_clipdraw.presets import preset_names

DREAM = 'data/dreams/red_whale.flac'


def _root():
    return pathlib.Path(os.environ.get('DREAM_ROOT') or pathlib.Path(__file__).resolve()
                        .parents[3])


def _say(text=''):
    print(text, file=sys.stderr, flush=True)


class DemoVerb:
    help = 'run one complete session from the shipped spoken dream (the main job)'

    def add_arguments(self, parser):
        parser.add_argument('--clip-weights', default=os.environ.get('CLIP_WEIGHTS'),
                            help='CLIP ViT-B/32 weights file (default: $CLIP_WEIGHTS)')
        parser.add_argument('--audio-file', default=None,
                            help=f'the spoken dream (default: {DREAM})')
        parser.add_argument('--out', default='out/demo', help='output directory')
        parser.add_argument('--preset', default='cpu', choices=preset_names(),
                            help='CLIPDraw preset (default: cpu)')

    def main(self, args):
        from dream_clipdraw.clip_model import (
            DEFAULT_MODEL, default_pretrained, load_clip, resolve_weights)
        from dream_clipdraw.errors import ClipModelError, ClipWeightsMissing
        from dream_session.command import main as dream

        audio = pathlib.Path(args.audio_file or _root() / DREAM)
        if not audio.is_file():
            raise FileNotFoundError(f'no such audio file: {audio}')
        out = pathlib.Path(args.out).resolve()
        _say(f'Dreaming Machine demo: the spoken dream {audio}')
        try:
            weights, _ = resolve_weights(DEFAULT_MODEL, args.clip_weights or default_pretrained())
        except ClipWeightsMissing as exc:
            if args.clip_weights:       # named, and not there: a mistake, not a fresh machine
                raise
            _say('\nSpeech to text first (no CLIP needed):')
            status = dream(['transcribe', str(audio)])
            if status:
                return status
            _say('\nThe demo stops before drawing: CLIPDraw needs CLIP ViT-B/32 weights, and none '
                 'are on this machine (no model hub is reachable here).')
            _say(f'How to provide them: {exc}')
            _say('Then run: make demo CLIP_WEIGHTS=/path/to/ViT-B-32.pt')
            return 0
        try:        # weights of another model fail here, not in the middle of the session
            load_clip(DEFAULT_MODEL, weights)
        except ClipModelError as exc:
            raise ValueError(f"the demo draws with OpenAI's ViT-B/32 and cannot use {weights}: "
                             f'{exc}') from None
        sessions = out / 'sessions'
        status = dream(['run', '--audio-file', str(audio), '--once', '--fast',
                        '--sessions-dir', str(sessions), '--clip-weights', weights,
                        '--set', f'clipdraw.preset={args.preset}',
                        '--set', f'sim.output_dir={out / "plot"}'])
        bags = sorted(p for p in sessions.glob('*') if p.is_dir())
        if not bags:
            _say('the session left no recording')
            return status or 1
        bag = bags[-1]
        drawing = self._export_drawing(bag, out)
        report = out / 'report'
        dream(['analyze', str(sessions), '--out', str(report), '--clip-pretrained', weights])
        _say('\nWhere everything is:')
        page = report / 'index.html'
        for label, path in [('drawing', drawing), ('plotted', self._plotted(out / 'plot')),
                            ('bag', bag), ('report', page if page.is_file() else None)]:
            _say(f'  {label:<8} {path if path else "(not produced: see the messages above)"}')
        return status

    @staticmethod
    def _export_drawing(bag, out):
        """The session's drawing as SVG and PNG, from the bag."""
        from dream_clipdraw import drawing_io
        from dream_session.bag_replay import read_first
        msg = read_first(bag, 'drawing')
        if msg is None or not msg.strokes:
            return None
        drawing = drawing_io.from_msg(msg)
        svg = out / 'drawing.svg'
        drawing_io.save_svg(drawing, svg)
        drawing_io.save_png(drawing, out / 'drawing.png')
        return svg

    @staticmethod
    def _plotted(folder):
        found = sorted(folder.glob('*.png')) if folder.is_dir() else []
        return found[-1] if found else None
