"""``dream bench analysis``: sessions analysed per minute, printed as JSON.

A synthetic archive (random scribbles, written with the recorder's bag writer) is analysed
end to end, report included, with a randomly initialised CLIP of the chosen architecture:
the same cost as real weights, so the figures are timings and NOTHING ELSE. Writing the
archive and building the model are timed separately and not counted in the throughput.
Stage seconds are summed over the workers that measure drawings side by side.
"""
import json
import os
import sys
import tempfile
import time

# Stages timed on the wall clock; the others ('render', 'ocr', 'clip') are summed over the
# workers of the 'drawings' stage.
WALL_STAGES = ('read', 'speech', 'texts', 'drawings', 'ranks', 'groupings')


def _check_options(args):
    """Usage errors before torch loads and the archive is written: the drawings must be
    ones CLIPDraw could have made (else the throughput measures nothing real)."""
    from dream_clipdraw.presets import MAX_CANVAS, MAX_PATHS

    if args.sessions < 1:
        raise ValueError(f'--sessions must be >= 1, got {args.sessions}')
    if not 1 <= args.strokes <= MAX_PATHS:
        raise ValueError(f'--strokes must be in [1, {MAX_PATHS}], got {args.strokes}')
    if not 8 <= args.canvas <= MAX_CANVAS:
        raise ValueError(f'--canvas must be in [8, {MAX_CANVAS}] pixels, got {args.canvas}')
    if args.importance_strokes < 0:
        raise ValueError(f'--importance-strokes must be >= 0, got {args.importance_strokes}')
    if args.threads < 0:
        raise ValueError(f'--threads must be >= 0 (0: torch decides), got {args.threads}')
    if args.workers < 0:
        raise ValueError(f'--workers must be >= 0 (0: one per core), got {args.workers}')


class AnalysisBench:
    help = 'analysis throughput (sessions/minute) on a synthetic archive, random-weight CLIP'

    def add_arguments(self, parser):
        from dream_analysis.analysis_defaults import IMPORTANCE_STROKES
        from dream_clipdraw.presets import MAX_CANVAS

        parser.add_argument('--sessions', type=int, default=40,
                            help='sessions in the synthetic archive (default 40)')
        parser.add_argument('--strokes', type=int, default=64,
                            help='strokes per drawing (default 64, the cpu preset)')
        parser.add_argument('--canvas', type=int, default=224,
                            help='canvas side in pixels, as CLIPDraw allows (8 to '
                                 f'{MAX_CANVAS}; default 224)')
        parser.add_argument('--model', default='ViT-B-32',
                            help='open_clip architecture, random weights (default ViT-B-32)')
        parser.add_argument('--judge-model', help='also a random-weight judge of this '
                            'architecture')
        parser.add_argument('--importance-strokes', type=int,
                            default=IMPORTANCE_STROKES,
                            help=f'leave-one-out cap (default {IMPORTANCE_STROKES})')
        parser.add_argument('--no-ocr', action='store_true', help='skip OCR')
        parser.add_argument('--threads', type=int, default=0,
                            help='torch threads outside the pass over the drawings (default: '
                            'torch decides; that pass runs one thread per worker)')
        parser.add_argument('--workers', type=int, default=0,
                            help='drawings measured at once (default 0: one per core)')

    def main(self, args):
        _check_options(args)
        import torch

        from dream_analysis.analysis_models import AnalysisModels
        from dream_analysis.analyze_verb import run_analysis
        from dream_analysis.archive import read_archive
        from dream_analysis.measurements import AnalysisOptions, worker_count
        from dream_analysis.report import prepare_output
        from dream_analysis.synthetic_archive import write_synthetic_archive
        from dream_analysis.text_embeddings import EmbeddingCache
        from dream_clipdraw.clip_model import load_clip

        if args.threads:
            torch.set_num_threads(args.threads)
        with tempfile.TemporaryDirectory(prefix='dream-bench-analysis-') as tmp:
            started = time.perf_counter()
            write_synthetic_archive(f'{tmp}/sessions', args.sessions, strokes=args.strokes,
                                    canvas=args.canvas)
            archive_s = time.perf_counter() - started
            print(f'bench analysis: archive of {args.sessions} sessions written in '
                  f'{archive_s:.1f} s; building random-weight {args.model}', file=sys.stderr)
            started = time.perf_counter()
            primary = load_clip(args.model, random_weights=True)
            judge = load_clip(args.judge_model, random_weights=True) if args.judge_model \
                else None
            model_s = time.perf_counter() - started
            options = AnalysisOptions(importance_strokes=args.importance_strokes,
                                      ocr=not args.no_ocr, workers=args.workers)
            out = prepare_output(f'{tmp}/report')
            timings = {}

            def progress(iterable, desc='', total=None):
                from tqdm import tqdm
                return tqdm(iterable, desc=desc, total=total, file=sys.stderr, leave=False)

            # The decoys' and phrase lists' embeddings are computed once per model and then
            # read from the disk cache: a first run on a tiny archive fills the cache, and
            # its time is reported apart as the cold start.
            cache = EmbeddingCache(None, remember_random=True)
            write_synthetic_archive(f'{tmp}/warmup', 1, strokes=args.strokes,
                                    canvas=args.canvas, seed=1)
            started = time.perf_counter()
            warm_table, warm_issues = read_archive(f'{tmp}/warmup')
            run_analysis(warm_table, warm_issues, AnalysisModels(primary, judge), options,
                         prepare_output(f'{tmp}/warmup-report'), archive='warm-up',
                         cache=cache, progress=progress, stream=sys.stderr)
            cold_s = time.perf_counter() - started
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            cpu_started = time.process_time()
            table, issues = read_archive(f'{tmp}/sessions')
            timings['read'] = time.perf_counter() - started
            result = run_analysis(table, issues, AnalysisModels(primary, judge), options, out,
                                  archive='synthetic', cache=cache,
                                  progress=progress, stream=sys.stderr)
            timings.update(result.timings)
            total = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            load_after = os.getloadavg()[0]
        figures = {
            'sessions': args.sessions, 'strokes': args.strokes, 'canvas': args.canvas,
            'model': args.model, 'judge': args.judge_model or '', 'random_weights': True,
            'importance_strokes': args.importance_strokes, 'ocr': not args.no_ocr,
            'torch_threads': torch.get_num_threads(),
            'workers': worker_count(AnalysisModels(primary, judge), options, args.sessions),
            'seconds': round(total, 2),
            'sessions_per_minute': round(60.0 * args.sessions / total, 1),
            'seconds_per_session': round(total / args.sessions, 3),
            'stage_seconds': {k: round(v, 2) for k, v in timings.items()},
            # Wall time swells when other work shares the cores. CPU time (all threads of
            # this process) swells far less, and not at all with --threads 1 (no thread
            # spin-waits for another): cores x 60 / (CPU s per session) is what a quiet
            # machine with these cores reaches when every core is kept busy.
            'cpu_seconds': round(cpu, 2),
            'cpu_seconds_per_session': round(cpu / args.sessions, 3),
            'sessions_per_minute_all_cores_busy': round(
                60.0 * args.sessions * (os.cpu_count() or 1) / max(cpu, 1e-9), 1),
            'load_average': [round(load_before, 2), round(load_after, 2)],
            'cpu_cores': os.cpu_count(),
            'report_and_other_seconds': round(total - sum(
                timings.get(k, 0.0) for k in WALL_STAGES), 2),
            'cold_start_seconds': round(cold_s, 2),
            'archive_write_seconds': round(archive_s, 2),
            'model_build_seconds': round(model_s, 2),
            'note': 'random-weight CLIP: timings only, never results. sessions_per_minute is '
                    'with decoy and phrase-list embeddings cached (as after the first run); '
                    'cold_start_seconds is a one-session analysis that fills that cache',
        }
        print(json.dumps(figures, indent=1))
        return 0
