"""``dream draw PROMPT --out drawing.svg``: CLIPDraw from the command line.

torch and open_clip are imported inside ``main`` so that ``dream --help`` stays fast. The
first Ctrl-C (or SIGTERM, as a supervisor stops it) stops the optimisation and still writes
the drawing so far (marked cancelled; exit 130, or 143 for SIGTERM); a second one interrupts at
once.
"""
import json
import os
import signal
import sys
import threading

from dream_clipdraw.clip_acceleration import add_clip_acceleration_arguments, clip_compile_mode
from dream_clipdraw.presets import MARKER_PALETTE, preset_names

DESCRIPTION = """\
Turn a text prompt into a vector line drawing with CLIPDraw: strokes optimised so that
CLIP finds the render similar to the text. Writes SVG (exact cubic curves), PNG or JSON by
the file extension of --out, plus --png/--json-out if given.

CLIP weights are never downloaded: pass --clip-pretrained FILE (or a folder, or an open_clip
tag present in the local cache), or set CLIP_WEIGHTS=FILE.
Presets: faithful (the paper: 256 strokes, 1000 iterations, for a GPU), cpu (about a
minute on 2 CPU cores), plotter (opaque strokes of the pen's width, palette colours).
"""


class DrawVerb:
    help = 'draw a text prompt as a line drawing with CLIPDraw (SVG/PNG/JSON)'
    description = DESCRIPTION

    def add_arguments(self, parser):
        parser.add_argument('prompt', help='what to draw (long dreams are handled in chunks)')
        parser.add_argument('--out', required=True,
                            help='output file: .svg, .png or .json')
        parser.add_argument('--png', help='also write a PNG render here')
        parser.add_argument('--json-out', help='also write the drawing as JSON here')
        parser.add_argument('--preset', default='cpu', choices=preset_names(),
                            help='settings to start from (default: cpu)')
        parser.add_argument('--strokes', type=int, help='number of strokes (preset default)')
        parser.add_argument('--iterations', type=int,
                            help='optimisation steps (preset default; the plotter preset '
                            'then fine-tunes a few more after snapping to pens)')
        parser.add_argument('--negative', action='append', default=[], metavar='TEXT',
                            help='a negative prompt to steer away from (repeatable)')
        parser.add_argument('--seed', type=int, default=-1,
                            help='random seed (default: a random one, reported in the '
                            'summary)')
        parser.add_argument('--clip-model', help='open_clip architecture '
                            '(default ViT-B-32-quickgelu, OpenAI\'s ViT-B/32)')
        parser.add_argument('--clip-pretrained', metavar='TAG|FILE',
                            help='weights file, folder, or cached open_clip tag '
                            '(default: $CLIP_WEIGHTS, else the cached "openai" tag)')
        parser.add_argument('--clip-model-config', metavar='FILE',
                            help='architecture JSON for a model open_clip does not list')
        parser.add_argument('--clip-cache-dir', metavar='DIR',
                            help='another folder to search for cached weights')
        parser.add_argument('--renderer', default='torch', help='torch (default) or diffvg')
        parser.add_argument('--device', default='cpu', help='cpu (default) or cuda')
        add_clip_acceleration_arguments(parser)
        parser.add_argument('--canvas-size', type=int, help='square canvas in pixels')
        parser.add_argument('--pens', type=int,
                            help=f'plotter preset: palette size, 1 (black) to '
                            f'{len(MARKER_PALETTE)} markers')
        parser.add_argument('--pen-width', type=float, help='plotter preset: pen width (px)')
        parser.add_argument('--path-length-budget', type=float,
                            help='plotter preset: cap on total stroke length (px)')
        parser.add_argument('--json', action='store_true',
                            help='print a JSON summary on stdout')

    def main(self, args):
        from dream_clipdraw.openmp_policy import prefer_passive_openmp
        prefer_passive_openmp()
        from tqdm import tqdm

        from dream_clipdraw import drawing_io
        from dream_clipdraw.clip_model import load_clip, resolve_device
        from dream_clipdraw.optimizer import check_run_options, generate_drawing
        from dream_clipdraw.presets import make_preset
        from dream_clipdraw.prompt_embedding import clean_prompt

        clean_prompt(args.prompt)  # fail before loading CLIP
        drawing_io.check_writable(args.out)
        if args.png:
            drawing_io.check_writable(args.png, ('.png',))
        if args.json_out:
            drawing_io.check_writable(args.json_out, ('.json',))
        overrides = dict(num_paths=args.strokes, iterations=args.iterations,
                         canvas_size=args.canvas_size, path_length_budget=args.path_length_budget,
                         pen_width=args.pen_width, num_pens=args.pens)
        preset = make_preset(args.preset, **overrides)
        # Everything the options alone decide is refused before CLIP loads and compiles.
        mode = clip_compile_mode(args.clip_compile, args.step_graph,
                                 resolve_device(args.device).type)
        check_run_options(preset, negatives=args.negative, seed=args.seed,
                          renderer=args.renderer, step_graph=args.step_graph,
                          clip_compile=mode, clip_precision=args.clip_precision)
        clip = load_clip(args.clip_model, args.clip_pretrained,
                         config_file=args.clip_model_config, cache_dir=args.clip_cache_dir,
                         device=args.device)
        precision, compiled = clip.accelerate(args.clip_precision, mode)
        print(f'dream draw: CLIP {clip.describe()} on {clip.device}, {precision}'
              f'{", compiling it (once per run, ~30 s on a GPU)" if compiled else ""}',
              file=sys.stderr)
        clip.warm_up(preset.augmentations)

        cancel = threading.Event()
        bar = tqdm(total=preset.iterations + (preset.finetune_iterations if preset.plotter
                                              else 0),
                   unit='it', file=sys.stderr, desc='drawing', dynamic_ncols=True)

        def progress(p):
            bar.total = p.total
            bar.update(p.iteration - bar.n)
            bar.set_postfix(score=f'{p.score:.3f}', refresh=False)

        stopped_by = []
        previous = _on_first_interrupt(cancel, stopped_by)
        try:
            drawing = generate_drawing(clip, args.prompt, negatives=args.negative,
                                       preset=preset, seed=args.seed, renderer=args.renderer,
                                       step_graph=args.step_graph,
                                       progress=progress, cancel=cancel)
        finally:
            bar.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        written = [drawing_io.save(drawing, args.out)]
        if args.png:
            written.append(drawing_io.save_png(drawing, args.png, renderer=args.renderer))
        if args.json_out:
            written.append(drawing_io.save_json(drawing, args.json_out))
        summary = {
            'score': round(drawing.score, 4), 'iterations': drawing.iterations,
            'seconds': round(drawing.generation_time, 2), 'strokes': len(drawing.strokes),
            'seed': drawing.seed, 'preset': drawing.preset, 'clip_model': drawing.clip_model,
            'prompt_truncated': drawing.prompt_truncated,
            'prompt_handling': drawing.prompt_handling, 'cancelled': drawing.cancelled,
            'nonfinite_steps': drawing.nonfinite_steps, 'files': written}
        if args.json:
            print(json.dumps(summary))
        else:
            state = 'cancelled after' if drawing.cancelled else 'done,'
            print(f'dream draw: {state} {drawing.iterations} iterations in '
                  f'{drawing.generation_time:.1f} s: {len(drawing.strokes)} strokes, '
                  f'CLIP score {drawing.score:.3f}, seed {drawing.seed}; wrote '
                  f'{", ".join(written)}', file=sys.stderr)
        if not drawing.cancelled:
            return 0
        return 128 + (stopped_by[0] if stopped_by else signal.SIGINT)


def _on_first_interrupt(cancel, stopped_by):
    """First Ctrl-C or SIGTERM: set ``cancel`` (the drawing so far is kept) and note the
    signal in ``stopped_by``; the next one interrupts. Returns the handlers replaced."""
    if threading.current_thread() is not threading.main_thread() or os.name != 'posix':
        return {}

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        stopped_by.append(signum)
        print('\ndream draw: stopping after this iteration (Ctrl-C again to abort)',
              file=sys.stderr)

    return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
