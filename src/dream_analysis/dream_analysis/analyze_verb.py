"""``dream analyze SESSIONS_DIR --out REPORT_DIR``: the archive explained, as a report.

torch, open_clip and pandas are imported inside ``main`` so that ``dream --help`` stays fast.
"""
import sys

from dream_analysis.analysis_models import add_model_arguments

DESCRIPTION = """\
Read every session bag under SESSIONS_DIR (read-only: unfinished recordings are mended in a
temporary copy; corrupt bags are reported and skipped; a session recorded in several bags, its
recorder restarted, is one session), measure each session (agreement of drawing and prompt
relative to decoys, text written in the drawing, speech-side losses, per-stroke importance,
what CLIP sees), sort the sessions into the four groupings (lost in translation,
text-to-text as image, clear concept, indeterminacy and confusion) by the rules in
MEASUREMENTS.md, cluster them, and write REPORT_DIR/index.html with CSV and Parquet of every
measurement under REPORT_DIR/data.

CLIP weights are never downloaded: pass --clip-pretrained FILE (or set CLIP_WEIGHTS). A
drawing flatters the model it was made with: give a second model with --judge-model and
--judge-pretrained to judge agreement with it.
"""


def add_analysis_options(parser):
    from dream_analysis.analysis_defaults import IMPORTANCE_STROKES, PHRASE_LISTS

    group = parser.add_argument_group('measurements')
    group.add_argument('--importance-strokes', type=int, default=IMPORTANCE_STROKES,
                       metavar='N', help='strokes per drawing evaluated by leave-one-out, most '
                       f'ink first (default {IMPORTANCE_STROKES}; 0 = none)')
    group.add_argument('--lists', default=','.join(PHRASE_LISTS),
                       help='phrase lists for "what CLIP sees": shipped names or text files, '
                       'comma separated (default: %(default)s)')
    group.add_argument('--top', type=int, default=3, help='phrases kept per list (default 3)')
    group.add_argument('--clusters', type=int, default=0,
                       help='number of clusters (default 0: chosen by silhouette)')
    group.add_argument('--decoys', metavar='FILE',
                       help='generic decoy prompts, one per line (default: the shipped list)')
    group.add_argument('--no-ocr', action='store_true', help='skip reading text in drawings')
    group.add_argument('--workers', type=int, default=0,
                       help='drawings measured at once (default 0: one per CPU core)')
    group.add_argument('--cache-dir', metavar='DIR',
                       help='embedding cache (default $DREAM_ANALYSIS_CACHE or '
                       '~/.cache/dream/analysis)')
    group.add_argument('--no-cache', action='store_true',
                       help='do not read or write the embedding cache')


def options_from_args(args):
    from dream_analysis.measurements import AnalysisOptions
    from dream_analysis.phrase_ranking import load_phrase_lists, parse_list_names

    if args.importance_strokes < 0:
        raise ValueError('--importance-strokes must be >= 0')
    if args.top < 1:
        raise ValueError('--top must be >= 1')
    if args.workers < 0:
        raise ValueError('--workers must be >= 0 (0: one per CPU core)')
    if args.clusters < 0 or args.clusters == 1:
        raise ValueError('--clusters must be 0 (automatic) or at least 2')
    lists = tuple(parse_list_names(args.lists))
    load_phrase_lists(lists)    # fail before loading CLIP
    return AnalysisOptions(importance_strokes=args.importance_strokes, lists=lists,
                           top=args.top, clusters=args.clusters or None, decoys=args.decoys,
                           ocr=not args.no_ocr, workers=args.workers)


def make_cache(args):
    from dream_analysis.text_embeddings import EmbeddingCache, default_cache_dir

    if getattr(args, 'no_cache', False):
        return EmbeddingCache(None)
    return EmbeddingCache(args.cache_dir or default_cache_dir())


def tqdm_progress(iterable, desc='', total=None):
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, total=total, unit='session', file=sys.stderr,
                dynamic_ncols=True, leave=False)


class AnalyzeVerb:
    help = 'analyse the archive of session bags: groupings, measurements, HTML/CSV/Parquet report'
    description = DESCRIPTION

    def add_arguments(self, parser):
        parser.add_argument('sessions_dir', metavar='SESSIONS_DIR',
                            help='folder holding the session bags (searched recursively)')
        parser.add_argument('--out', required=True, metavar='REPORT_DIR',
                            help='folder for the report (created; never inside the archive)')
        parser.add_argument('--reference', metavar='refs.tsv',
                            help='what visitors really said: session_id<TAB>text[<TAB>English]'
                            ' per line, for word and character error rates')
        add_model_arguments(parser)
        add_analysis_options(parser)

    def main(self, args):
        from dream_analysis.archive import find_bags, read_archive
        from dream_analysis.decoys import load_decoys
        from dream_analysis.report import check_output, prepare_output
        from dream_analysis.speech_losses import load_references

        # Everything that can be wrong with the request fails here, before CLIP is loaded
        # and before anything is written.
        options = options_from_args(args)
        load_decoys(options.decoys)
        references = load_references(args.reference) if args.reference else {}
        check_output(args.out, args.sessions_dir)    # before the archive is even listed
        if not find_bags(args.sessions_dir):
            raise FileNotFoundError(f'no session bags under {args.sessions_dir} (a bag is a '
                                    'folder with metadata.yaml or a .mcap file)')
        table, issues = read_archive(
            args.sessions_dir, progress=lambda bags: tqdm_progress(bags, 'reading bags'))
        for issue in issues:
            print(f'dream analyze: {issue.kind}: {issue.bag}: {issue.message}',
                  file=sys.stderr)
        known = set(table['session_id']) | set(table.get('bag_name', ()))
        unmatched = sorted(set(references) - known)
        if unmatched:
            print(f'dream analyze: warning: {len(unmatched)} reference(s) match no session: '
                  + ', '.join(unmatched[:5]) + (' ...' if len(unmatched) > 5 else ''),
                  file=sys.stderr)

        from dream_analysis.analysis_models import load_models
        models = load_models(args)
        out = prepare_output(args.out, args.sessions_dir)
        run_analysis(table, issues, models, options, out, archive=args.sessions_dir,
                     references=references, cache=make_cache(args))
        return 0 if len(table) else 1


def run_analysis(table, issues, models, options, out, *, archive, references=None, cache=None,
                 progress=tqdm_progress, warnings=(), stream=None):
    """Analyse a read archive and write the report; prints a summary, returns the result."""
    from dream_analysis.measurements import analyse
    from dream_analysis.report import ReportWriter, plural

    writer = ReportWriter(out)
    warnings = list(warnings) + random_model_warnings(models)
    for warning in warnings:
        print(f'dream analyze: warning: {warning}', file=sys.stderr)
    if len(table):
        result = analyse(table, models, options=options, references=references, cache=cache,
                         sink=writer.sink, progress=progress)
    else:
        result = analyse_nothing(models, options)
    models_text = f'Drawings analysed with {models.primary.describe()}.'
    page = writer.write(result, issues=issues, archive=str(archive), models_text=models_text,
                        warnings=warnings)
    counts = result.sessions['grouping'].value_counts().to_dict() if len(table) else {}
    summary = ', '.join(f'{k}: {v}' for k, v in sorted(counts.items())) or 'no sessions'
    print(f'{plural(len(table), "session")} ({summary}); {len(issues)} bag issue(s); '
          f'report: {page}', file=stream or sys.stdout)
    return result


def random_model_warnings(models):
    """Say it loudly when a model is one that only tests and benchmarks may use."""
    from dream_clipdraw.tiny_clip import TINY_MODEL_NAME

    found = []
    for clip in (models.primary, models.judge):
        if clip is not None and (clip.random_weights or clip.name == TINY_MODEL_NAME):
            found.append(f'{clip.describe()} is a test model with random weights: these '
                         'results mean nothing about CLIP')
    return found


def analyse_nothing(models, options):
    """An empty result, so that an archive of unreadable bags still gets its report."""
    import pandas as pd

    from dream_analysis.clustering import cluster_sessions
    from dream_analysis.groupings import calibrate_thresholds
    from dream_analysis.measurements import AnalysisResult

    empty = pd.DataFrame({'session_id': [], 'grouping': [], 'cluster': []})
    return AnalysisResult(empty, pd.DataFrame(), pd.DataFrame(), calibrate_thresholds(empty),
                          cluster_sessions([], []), models.judge_label())
