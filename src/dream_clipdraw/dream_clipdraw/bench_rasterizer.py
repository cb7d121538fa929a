"""``dream bench rasterizer``: speed of the differentiable rasterizer on CLIPDraw scenes.

Prints one JSON object on stdout (progress on stderr): for each scene, stroke count and
compositing mode, the median and best forward and forward+backward times (loss = mean of
the image), with the torch version and thread count. Scenes:

- ``init``: CLIPDraw's initial scene (widths 1 px);
- ``baseline``: the same with widths uniform in 1-5 px, as measured for pydiffvg in
  /work/shared/reference/baselines.md;
- ``late``: what strokes become during optimisation: twice the jitter (longer strokes)
  and widths uniform in 1-10 px.

With other processes busy on the same cores, torch's OpenMP threads spin-waiting at every
parallel region can make 2-thread runs many times slower; ``OMP_WAIT_POLICY=PASSIVE``
avoids that. The load average and that setting are part of the output.
"""
import json
import os
import statistics
import sys
import time

SCENES = ('init', 'baseline', 'late')


class RasterizerBenchmark:
    help = 'time the differentiable rasterizer on CLIPDraw scenes (JSON on stdout)'

    def add_arguments(self, parser):
        parser.add_argument('--strokes', default='16,64,256,1024',
                            help='comma-separated stroke counts (default: %(default)s)')
        parser.add_argument('--repeats', type=int, default=10,
                            help='timed runs per measurement (default: %(default)s)')
        parser.add_argument('--size', type=int, default=224,
                            help='square canvas side in pixels (default: %(default)s)')
        parser.add_argument('--samples', type=int, default=2,
                            help='samples per pixel along each axis (default: %(default)s)')
        parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
        parser.add_argument('--threads', type=int, default=2,
                            help='torch CPU threads (default: %(default)s)')
        parser.add_argument('--scenes', default='init,late',
                            help=f'comma-separated, from {", ".join(SCENES)} '
                                 '(default: %(default)s)')
        parser.add_argument('--renderer', default='torch', help="'torch' or 'diffvg'")
        parser.add_argument('--seed', type=int, default=0,
                            help='seed of the scenes (default: %(default)s)')

    def main(self, args):
        import torch

        from dream_clipdraw.presets import MAX_CANVAS, MAX_SAMPLES
        from dream_clipdraw.rasterizer import get_renderer

        strokes = _positive_ints(args.strokes, '--strokes')
        scenes = [s.strip() for s in args.scenes.split(',') if s.strip()]
        if not scenes:
            raise ValueError(f'--scenes names no scene: choose from {", ".join(SCENES)}')
        unknown = sorted(set(scenes) - set(SCENES))
        if unknown:
            raise ValueError(f'unknown scene(s) {unknown}: choose from {list(SCENES)}')
        if args.repeats < 1 or args.threads < 1:
            raise ValueError('--repeats and --threads must be >= 1')
        if not 1 <= args.samples <= MAX_SAMPLES:     # the presets' bound; beyond, a raw OOM
            raise ValueError(f'--samples must be in [1, {MAX_SAMPLES}] per axis, got '
                             f'{args.samples}')
        if not 8 <= args.size <= MAX_CANVAS:  # CLIPDraw's canvases; beyond, a raw OOM
            raise ValueError(f'--size must be in [8, {MAX_CANVAS}] pixels, got {args.size}')
        if args.device == 'cuda' and not torch.cuda.is_available():
            raise ValueError('--device cuda: no CUDA device is available here')
        torch.set_num_threads(args.threads)
        render = get_renderer(args.renderer)
        modes = [False] if args.renderer == 'diffvg' else [False, True]
        results = []
        for scene in scenes:
            for count in strokes:
                for black_ink in modes:
                    mode = 'black_ink' if black_ink else 'over'
                    print(f'rasterizer: {scene}, {count} strokes, {mode}...', file=sys.stderr,
                          flush=True)
                    inputs = make_scene(scene, count, args.size, args.seed, args.device)
                    figures = time_render(render, inputs, args, black_ink)
                    results.append({'scene': scene, 'strokes': count, 'mode': mode,
                                    **figures})
        print(json.dumps({
            'benchmark': 'rasterizer',
            'renderer': args.renderer,
            'torch': torch.__version__,
            'threads': torch.get_num_threads(),
            # Other processes on the cores skew timings, 2-thread ones badly unless OpenMP
            # threads wait passively: both are recorded to read the figures by.
            'load_average_1min': round(os.getloadavg()[0], 2) if hasattr(os, 'getloadavg')
            else None,
            'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY'),
            'device': args.device,
            'size': args.size,
            'samples': args.samples,
            'repeats': args.repeats,
            'loss': 'mean of the image',
            'results': results,
        }, indent=2))
        return 0


def make_scene(scene, count, size, seed, device):
    """(points, widths, colors) of a benchmark scene, each requiring grad."""
    import torch

    from dream_clipdraw.scene_init import clipdraw_init

    generator = torch.Generator().manual_seed(seed)
    jitter = 0.1 if scene == 'late' else 0.05
    points, widths, colors = clipdraw_init(count, (size, size), generator=generator,
                                           jitter=jitter)
    if scene == 'baseline':
        widths = 1 + 4 * torch.rand(count, generator=generator)
    elif scene == 'late':
        widths = 1 + 9 * torch.rand(count, generator=generator)
    points = [p.to(device).requires_grad_() for p in points]
    return points, widths.to(device).requires_grad_(), colors.to(device).requires_grad_()


def time_render(render, inputs, args, black_ink):
    """Median and best times (ms) of forward and forward+backward; peak memory if known."""
    import torch

    points, widths, colors = inputs
    size = (args.size, args.size)
    cuda = args.device == 'cuda'

    def forward():
        with torch.no_grad():
            render(points, widths, colors, size, samples=args.samples, black_ink=black_ink)

    def forward_backward():
        for tensor in [*points, widths, colors]:
            tensor.grad = None
        render(points, widths, colors, size, samples=args.samples,
               black_ink=black_ink).mean().backward()

    def clock(step):
        step()  # warm-up
        times = []
        for _ in range(args.repeats):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if cuda:
                torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1e3)
        return times

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    fwd = clock(forward)
    both = clock(forward_backward)
    figures = {
        'forward_ms': round(statistics.median(fwd), 2),
        'forward_backward_ms': round(statistics.median(both), 2),
        'forward_ms_best': round(min(fwd), 2),
        'forward_backward_ms_best': round(min(both), 2),
    }
    if cuda:
        figures['peak_memory_mb'] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    else:
        figures['process_peak_rss_mb'] = _peak_rss_mb()
    return figures


def _peak_rss_mb():
    """The process's peak resident memory so far (monotonic: an upper bound per run)."""
    try:
        import resource
    except ImportError:
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _positive_ints(text, option):
    try:
        values = [int(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise ValueError(f'{option} needs comma-separated integers, got {text!r}') from None
    if not values or min(values) < 1:
        raise ValueError(f'{option} needs positive integers, got {text!r}')
    return values
