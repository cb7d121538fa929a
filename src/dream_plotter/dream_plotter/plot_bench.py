"""``dream bench plot``: pen-up travel and planning time of the stroke planner.

Pen-up travel (home -> strokes -> home) of our plan (vpype linesimplify + linemerge +
linesort from the pen's position + 2-opt; also without the 2-opt) against the strokes in
generation order and against vpype's plain greedy ``linesort``, over seeded random
CLIPDraw-like drawings; then planning time for a large drawing. Figures as JSON on stdout,
progress on stderr.
"""
import json
import statistics
import sys
import time

# Upper bounds, so that a slip of the finger is an error, not a silent run of hours:
# CLIPDraw draws at most 10000 strokes (dream_clipdraw.presets.MAX_PATHS).
MAX_DRAWINGS = 1000
MAX_STROKES = 10000
MAX_REPEATS = 100


class PlotBenchmark:
    help = 'pen-up travel of the planner vs generation order and vpype greedy; planning time'

    def add_arguments(self, parser):
        parser.add_argument('--drawings', type=int, default=50,
                            help='random drawings for the pen-up travel (default %(default)s)')
        parser.add_argument('--strokes', type=int, default=256,
                            help='strokes per drawing (default %(default)s)')
        parser.add_argument('--seed', type=int, default=0,
                            help='seed of the first drawing; the others follow '
                                 '(default %(default)s)')
        parser.add_argument('--timing-strokes', type=int, default=1024,
                            help='strokes of the drawing whose planning is timed '
                                 '(default %(default)s)')
        parser.add_argument('--repeats', type=int, default=5,
                            help='planning time runs (median and min; default %(default)s)')
        parser.add_argument('--paper', default='A4',
                            help='paper name or WIDTHxHEIGHT in mm (default %(default)s)')

    def main(self, args):
        _check_options(args)
        import numpy as np

        from dream_plotter.paper import PaperRequest
        from dream_plotter.planner import PlanSettings, plan_drawing
        from dream_plotter.random_drawings import random_drawing
        from dream_plotter.timeline import plan_estimate

        request = PaperRequest(paper=args.paper)
        methods = {'generation_order': [], 'vpype_greedy': [], 'ours_without_two_opt': [],
                   'ours': []}
        durations = {name: [] for name in methods}
        plain = PlanSettings(simplify_mm=0.0, merge_mm=0.0, sort=False)
        for i in range(args.drawings):
            drawing = random_drawing(args.strokes, seed=args.seed + i)
            base = plan_drawing(drawing, request, settings=plain)
            methods['generation_order'].append(_pen_up([p.points for p in base.paths]))
            durations['generation_order'].append(plan_estimate(base).duration)
            greedy = _vpype_greedy(base)
            methods['vpype_greedy'].append(_pen_up(greedy))
            durations['vpype_greedy'].append(_duration(greedy, base.settings.limits))
            for name, settings in (('ours_without_two_opt', PlanSettings(two_opt=False)),
                                   ('ours', PlanSettings())):
                plan = plan_drawing(drawing, request, settings=settings)
                methods[name].append(_pen_up([p.points for p in plan.paths]))
                durations[name].append(plan_estimate(plan).duration)
            print(f'\rdrawing {i + 1}/{args.drawings}', end='', file=sys.stderr, flush=True)
        print(file=sys.stderr)
        big = random_drawing(args.timing_strokes, seed=args.seed + 10_000)
        plan_drawing(random_drawing(8), request)   # imports and vpype start-up out of timing
        timing = {}
        for name, settings in (('ours_without_two_opt', PlanSettings(two_opt=False)),
                               ('ours', PlanSettings())):
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                plan = plan_drawing(big, request, settings=settings)
                plan_estimate(plan)
                runs.append(time.perf_counter() - t0)
            timing[name] = {'median_s': statistics.median(runs), 'min_s': min(runs)}
        gen = np.array(methods['generation_order'])
        greedy = np.array(methods['vpype_greedy'])
        figures = {
            'drawings': args.drawings, 'strokes_per_drawing': args.strokes,
            'paper': args.paper, 'seed': args.seed,
            'pen_up_mm': {k: {'mean': float(np.mean(v)), 'median': float(np.median(v))}
                          for k, v in methods.items()},
            'pen_up_ratio_vs_generation_order': {
                k: float(np.mean(np.array(v) / gen)) for k, v in methods.items()},
            'pen_up_ratio_vs_vpype_greedy': {
                k: float(np.mean(np.array(v) / greedy)) for k, v in methods.items()},
            'estimated_duration_s': {k: float(np.mean(v)) for k, v in durations.items()},
            'planning_time': {'strokes': args.timing_strokes, 'target_s': 1.0,
                              'repeats': args.repeats, **timing},
        }
        print(json.dumps(figures, indent=2))
        return 0


def _check_options(args):
    """Usage errors before any drawing is planned: an empty sample gives NaN figures (not
    JSON) or no median, a huge one runs silently for hours, and an empty paper name would
    quietly mean the default."""
    from dream_plotter.outcome import PlotError
    from dream_plotter.paper import paper_size

    for flag, value, most in (('--drawings', args.drawings, MAX_DRAWINGS),
                              ('--strokes', args.strokes, MAX_STROKES),
                              ('--timing-strokes', args.timing_strokes, MAX_STROKES),
                              ('--repeats', args.repeats, MAX_REPEATS)):
        if not 1 <= value <= most:
            raise ValueError(f'{flag} must be in [1, {most}], got {value}')
    if args.seed < 0:  # numpy's generators take no negative seed
        raise ValueError(f'--seed must be >= 0, got {args.seed}')
    try:
        paper_size(args.paper)
    except PlotError as exc:  # the goal's code (OUT_OF_BOUNDS) means nothing to a user
        raise ValueError(f'--paper: {exc.message}') from None


def _pen_up(paths, home=(0.0, 0.0)):
    import numpy as np
    pos, total = np.asarray(home, dtype=float), 0.0
    for p in paths:
        total += float(np.hypot(*(p[0] - pos)))
        pos = p[-1]
    return total + float(np.hypot(*(np.asarray(home) - pos)))


def _duration(lines, limits):
    """Estimated plot time of pen-down ``lines`` in this order, timed as plan_estimate
    times a plan (same motion limits, home -> lines -> home)."""
    from dream_plotter.planner import PathItem
    from dream_plotter.timeline import build_timeline, figures
    steps = [PathItem(points, 0, (), 0, ()) for points in lines]
    return figures(build_timeline(steps, limits)).duration


def _vpype_greedy(plan):
    """vpype's linesort as a user would run it on the strokes in generation order."""
    import numpy as np
    import vpype as vp
    import vpype_cli
    doc = vp.Document()
    doc.add(vp.LineCollection([p.points[:, 0] + 1j * p.points[:, 1] for p in plan.paths]), 1)
    out = vpype_cli.execute('linesort', doc)
    return [np.column_stack([line.real, line.imag]) for line in out.layers[1]]
