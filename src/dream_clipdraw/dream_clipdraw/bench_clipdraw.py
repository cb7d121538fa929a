"""``dream bench clipdraw``: where a CLIPDraw iteration's time goes, and time to a drawing.

CLIP runs with RANDOM weights here: a random ViT-B/32 costs exactly what a trained one does,
so the figures are timings only and the drawings made on the way mean nothing. Per preset
it times the optimiser's own steps (render, augment, CLIP forward+backward, the backward
through warps and renderer, the Adam step; medians) and counts the torch operators one step
dispatches, then the time to a finished drawing:
measured by running it when the estimate is under ``--full-limit`` seconds (or with
``--full``), otherwise extrapolated from the per-iteration median and said so.
"""
import json
import os
import statistics
import sys
import time

from dream_clipdraw.clip_acceleration import add_clip_acceleration_arguments, clip_compile_mode

PROMPT = ('a red whale flying over a city at night, with my grandmother waving from a '
          'lighthouse')
PHASES = ('render', 'augment', 'clip', 'backward', 'step')


DESCRIPTION = """\
Where a CLIPDraw iteration's time goes, and the time to a finished drawing, per preset.

CLIP runs with RANDOM weights: a random ViT-B/32 costs what a trained one does, so the
figures are timings only and the drawings made on the way mean nothing. Per preset: the
median time of each phase of a step (render, augment, CLIP forward+backward, the backward
through warps and renderer, the Adam step), the torch operators one step dispatches, and
the time to a finished drawing, measured when the estimate is under --full-limit seconds
(or with --full), otherwise extrapolated and said so. JSON on stdout, progress on stderr.
"""


class ClipDrawBench:
    help = 'time CLIPDraw per iteration and per drawing for each preset (random-weight CLIP)'
    description = DESCRIPTION

    def add_arguments(self, parser):
        parser.add_argument('--model', default='ViT-B-32',
                            help='open_clip architecture to time (random weights)')
        parser.add_argument('--clip-model-config', metavar='FILE',
                            help='architecture JSON instead of --model (e.g. a tiny test model)')
        parser.add_argument('--presets', default='cpu,plotter,faithful',
                            help='comma-separated presets (default cpu,plotter,faithful)')
        parser.add_argument('--iterations', type=int, default=8,
                            help='timed iterations for the per-iteration breakdown')
        parser.add_argument('--warmup', type=int, default=2, help='untimed iterations first')
        parser.add_argument('--device', default='cpu', help='cpu or cuda')
        parser.add_argument('--renderer', default='torch', help='torch or diffvg')
        parser.add_argument('--full', action='store_true',
                            help='time every full drawing for real (faithful on 2 CPU cores: '
                            'well over 10 minutes)')
        parser.add_argument('--full-limit', type=float, default=240.0, metavar='SECONDS',
                            help='run a full drawing when its estimate is below this '
                            '(default 240); otherwise extrapolate')
        parser.add_argument('--canvas-size', type=int,
                            help='override every preset\'s canvas (quick checks only)')
        parser.add_argument('--threads', type=int, help='torch intra-op threads')
        add_clip_acceleration_arguments(parser)

    def main(self, args):
        from dream_clipdraw.openmp_policy import prefer_passive_openmp
        self.omp_wait_policy = prefer_passive_openmp()
        import torch

        from dream_clipdraw.errors import InvalidOptions

        if args.iterations < 1 or args.warmup < 0:
            raise InvalidOptions('--iterations must be >= 1 and --warmup >= 0')
        if args.threads is not None and args.threads < 1:
            raise InvalidOptions(f'--threads must be >= 1, got {args.threads}')
        if not [n for n in args.presets.split(',') if n.strip()]:
            raise InvalidOptions('--presets names no preset: e.g. --presets cpu,faithful')
        previous_threads = torch.get_num_threads()
        try:
            if args.threads:
                torch.set_num_threads(args.threads)
            return self._run(args)
        finally:
            torch.set_num_threads(previous_threads)

    def _run(self, args):
        import torch

        from dream_clipdraw.clip_model import load_clip, resolve_device
        from dream_clipdraw.optimizer import check_run_options
        from dream_clipdraw.presets import make_preset

        names = [n.strip() for n in args.presets.split(',') if n.strip()]
        presets = [make_preset(n, canvas_size=args.canvas_size,
                               render_size=0 if args.canvas_size else None) for n in names]
        mode = clip_compile_mode(args.clip_compile, args.step_graph,
                                 resolve_device(args.device).type)
        for preset in presets:      # before loading and compiling CLIP
            check_run_options(preset, renderer=args.renderer, step_graph=args.step_graph,
                              clip_compile=mode, clip_precision=args.clip_precision)
        started = time.perf_counter()
        clip = load_clip(None if args.clip_model_config else args.model,
                         config_file=args.clip_model_config, device=args.device,
                         random_weights=True)
        load_s = time.perf_counter() - started
        precision, compiled = clip.accelerate(args.clip_precision, mode)
        report = {
            'benchmark': 'clipdraw',
            'weights': 'random: timings only (same cost as trained weights; the drawings '
                       'made here are meaningless)',
            'model': clip.name, 'device': str(clip.device),
            'torch_threads': torch.get_num_threads(), 'renderer': args.renderer,
            'clip_precision': precision, 'compiled': compiled, 'step_graph': args.step_graph,
            'omp_wait_policy': self.omp_wait_policy,
            'model_load_s': round(load_s, 2), 'prompt': PROMPT,
            # Other work on the machine inflates wall times; CPU times (this process, all
            # threads) are steadier when other processes compete for the cores.
            'load_average_at_start': [round(v, 2) for v in os.getloadavg()],
            'presets': {}}
        for preset in presets:
            print(f'[bench clipdraw] {preset.name}: per-iteration breakdown', file=sys.stderr)
            report['presets'][preset.name] = self._bench_preset(clip, preset, args)
        print(json.dumps(report, indent=1))
        return 0

    def _bench_preset(self, clip, preset, args):
        from dream_clipdraw.optimizer import ClipDrawRun, generate_drawing

        setup_start = time.perf_counter()
        run = ClipDrawRun(clip, PROMPT, preset=preset, seed=0, renderer=args.renderer,
                          step_graph=args.step_graph)
        run.time_phases = True
        setup_s = time.perf_counter() - setup_start
        warmup_start = time.perf_counter()
        for _ in range(args.warmup):
            run.step()
        warmup_s = time.perf_counter() - warmup_start
        laps, cpu = [], []
        for _ in range(args.iterations):
            started = time.process_time()
            run.step()
            cpu.append(time.process_time() - started)
            laps.append(dict(run.timings))
        operators = None if clip.compiled else _operators_per_step(run)
        medians = {k: statistics.median(lap.get(k, 0.0) for lap in laps) for k in PHASES}
        per_iteration = statistics.median(sum(lap.values()) for lap in laps)
        score_start = time.perf_counter()
        run.score()
        score_s = time.perf_counter() - score_start
        steps = preset.iterations + (preset.finetune_iterations if preset.plotter else 0)
        estimate = setup_s + steps * per_iteration + score_s
        entry = {
            'settings': {k: getattr(preset, k) for k in (
                'num_paths', 'iterations', 'finetune_iterations', 'augmentations',
                'canvas_size', 'render_size', 'samples', 'num_pens')},
            'per_iteration_ms': {
                'render': _ms(medians['render']), 'augment': _ms(medians['augment']),
                'clip_forward_backward': _ms(medians['clip']),
                'augment_render_backward': _ms(medians['backward']),
                'step': _ms(medians['step']), 'total': _ms(per_iteration)},
            'per_iteration_cpu_ms': _ms(statistics.median(cpu)),
            'operators_per_iteration': operators and operators['all'],
            'operators_outside_clip': operators and operators['outside_clip'],
            'host_syncs_per_iteration': operators and operators['host_syncs'],
            # Recordings of the step graph in the breakdown's steps (1 + the growths).
            'step_graph_recordings': run.step_graph and run.step_graph.recordings,
            'breakdown_iterations': args.iterations,
            # Compiling happens in the first steps: once per process (the node's preload).
            'warmup_s': round(warmup_s, 1), 'warmup_iterations': args.warmup,
            'estimated_s': round(estimate, 1)}
        if args.full or estimate <= args.full_limit:
            print(f'[bench clipdraw] {preset.name}: full drawing (~{estimate:.0f} s)',
                  file=sys.stderr)
            start, start_cpu = time.perf_counter(), time.process_time()
            drawing = generate_drawing(clip, PROMPT, preset=preset, seed=0,
                                       renderer=args.renderer, step_graph=args.step_graph)
            entry['time_to_drawing_s'] = round(time.perf_counter() - start, 1)
            entry['time_to_drawing_cpu_s'] = round(time.process_time() - start_cpu, 1)
            entry['time_to_drawing'] = 'measured'
            entry['strokes_kept'] = len(drawing.strokes)
        else:
            entry['time_to_drawing_s'] = round(estimate, 1)
            entry['time_to_drawing'] = (f'extrapolated from the per-iteration median x '
                                        f'{steps} iterations (run with --full to measure)')
        return entry


# Operators whose output size depends on the data, or that return a value to Python: on a
# GPU each makes the host wait for the device, and none can be captured in a CUDA graph.
_HOST_SYNCS = frozenset({'nonzero', '_unique2', 'unique_dim', 'unique_consecutive',
                         '_local_scalar_dense', 'masked_select', 'is_nonzero', 'equal'})


def waits_for_device(func, args, kwargs):
    """Whether a dispatched operator makes the host wait for the device (on a GPU): a size
    that depends on the data, or a value returned to Python."""
    import torch

    name = func.overloadpacket.__name__
    return name in _HOST_SYNCS or (name == 'repeat_interleave' and isinstance(
        args[0], torch.Tensor) and (kwargs or {}).get('output_size') is None)


def _operators_per_step(run):
    """Counts of the torch operators one step dispatches (forward, backward and Adam, views
    included): all of them, those outside CLIP's image tower (its forward and backward), and
    the host synchronisations among them.

    A GPU step is launch-bound: its time follows these counts far more than the arithmetic,
    and unlike a time they are the same on any machine, so a CPU run can show progress.
    Compiled, CLIP's operators become CUDA graph replays: what is left is the rest. With
    ``--step-graph on`` the "CLIP" phase is the whole recorded step but Adam (render plan,
    drawing, warps, CLIP, backward, checks), so the rest is what stays eager: drawing the
    augmentations' parameters, reading the checks and Adam.
    Synchronisations are counted in the rendering, CLIP and backward phases: the
    augmentations draw their parameters on the host by design (a CPU generator) and Adam is
    fused on a GPU, so neither phase waits for the device there.
    """
    from unittest import mock

    from torch.utils._python_dispatch import TorchDispatchMode

    from dream_clipdraw import optimizer

    class Counter(TorchDispatchMode):
        count = 0
        syncs = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.count += 1
            if waits_for_device(func, args, kwargs):
                self.syncs += 1
            return func(*args, **(kwargs or {}))

    counter = Counter()
    marks = {'start': (0, 0)}
    lap = optimizer._Clock.lap

    def marking_lap(clock, name):
        marks[name] = (counter.count, counter.syncs)
        lap(clock, name)

    # The step's clock marks the end of each phase (render, augment, clip, backward, step).
    with mock.patch.object(optimizer._Clock, 'lap', marking_lap), counter:
        run.step()
    phases = list(marks)
    spent = {name: [end - begin for begin, end in zip(marks[before], marks[name])]
             for before, name in zip(phases, phases[1:])}
    host_syncs = sum(spent.get(name, (0, 0))[1] for name in ('render', 'clip', 'backward'))
    return {'all': counter.count,
            'outside_clip': counter.count - spent.get('clip', (0, 0))[0],
            'host_syncs': host_syncs}


def _ms(seconds):
    return round(seconds * 1000, 1)
