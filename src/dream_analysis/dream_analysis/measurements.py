"""Every measurement of every session, then the groupings and clusters (see MEASUREMENTS.md).

Order of work, chosen for speed on a few CPU cores: texts first (unique prompts, decoys and
phrase lists, embedded once, the reusable ones cached on disk), then one pass over the
drawings in which each drawing is rendered once and goes through CLIP in a single batch with
its leave-one-out images and its glyph image, then the archive-wide steps (ranks among
decoys, calibrated thresholds, groupings, clusters).

The pass over the drawings runs one drawing per core, each with a single torch thread: CLIP
batches of a few images do not keep two intra-op threads busy, and when other programs share
the cores, threads that spin-wait for each other lose more than they gain (measured with
`dream bench analysis`: one thread per drawing was faster even on one loaded core).
"""
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from dream_analysis.analysis_defaults import IMPORTANCE_STROKES, PHRASE_LISTS
from dream_analysis.calibration import MIN_SESSIONS
from dream_analysis.clustering import cluster_sessions
from dream_analysis.decoys import exclusion_mask, load_decoys, relative_agreement
from dream_analysis.drawing_images import SquareView, from_uint8, to_uint8
from dream_analysis.glyph_images import GLYPH_STYLE, glyph_image, glyph_text
from dream_analysis.groupings import assign_groupings, calibrate_thresholds
from dream_analysis.heat_maps import heat_map
from dream_analysis.ocr_reading import OcrReader
from dream_analysis.phrase_ranking import PhraseRanker, load_phrase_lists
from dream_analysis.speech_losses import speech_losses
from dream_analysis.stroke_importance import from_scores, leave_one_out, strokes_to_evaluate
from dream_analysis.text_embeddings import EmbeddingCache, encode_texts

# At most this many drawings are measured at once (one per core).
MAX_WORKERS = 8


@dataclass
class AnalysisOptions:
    importance_strokes: int = IMPORTANCE_STROKES
    display_size: int = 224        # square render for OCR, the report and CLIP's input
    samples: int = 2               # rasterizer samples per pixel and axis
    lists: tuple = PHRASE_LISTS    # phrase lists for "what CLIP sees"
    top: int = 3                   # phrases kept per list and session
    clusters: int = None           # KMeans k; None picks it by silhouette
    decoys: str = None             # decoy file; None = the shipped list
    ocr: bool = True
    min_calibration: int = MIN_SESSIONS
    workers: int = 0               # drawings measured at once; 0 = one per core (CPU)


@dataclass
class AnalysisResult:
    sessions: object               # pandas DataFrame: one row per session, every measurement
    strokes: object                # DataFrame: session_id, stroke, ink rank, score drop
    phrases: object                # DataFrame: session_id, list, rank, phrase, probability
    thresholds: dict
    clusters: object
    judge: str
    timings: dict = field(default_factory=dict)
    embeddings: dict = field(default_factory=dict)


def _noop_progress(iterable, **_):
    return iterable


class _Stopwatch:
    """Seconds per stage; stages run by several workers add up their time."""

    def __init__(self):
        self.seconds = {}
        self._lock = threading.Lock()

    def add(self, stage, started):
        elapsed = time.perf_counter() - started
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed


@dataclass
class _Texts:
    """Everything embedded from text before the drawings are looked at."""

    prompts: list        # per row, stripped ('' when none)
    unique: list         # distinct non-empty prompts
    primary: dict        # prompt -> embedding by the drawing model
    judge: dict          # prompt -> embedding by the agreement judge
    decoys: list
    decoy_text: object   # (m, D) judge embeddings of the decoys
    decoy_glyphs: object  # (m, D) judge embeddings of the decoys written as text
    ranker: object       # PhraseRanker or None


@dataclass
class _Drawn:
    """What the pass over one drawing produced."""

    result: dict
    primary: object
    judge: object
    glyph: object
    strokes: list
    phrases: list


def analyse(table, models, *, options=None, references=None, cache=None, sink=None,
            progress=None, ocr=None):
    """Measure, group and cluster the sessions of an archive table (archive.read_archive).

    models: analysis_models.AnalysisModels. references: {session id or bag name: Reference}.
    cache: EmbeddingCache (None: no disk cache). sink(kind, row index, uint8 image) -> file
    name or None, called with 'drawing' and 'heatmap' images (from worker threads).
    progress(iterable, desc=, total=) wraps the pass over the drawings.
    """
    import pandas as pd

    options = options or AnalysisOptions()
    cache = cache or EmbeddingCache(None)
    watch = _Stopwatch()
    rows = table.to_dict('records')
    out = [dict() for _ in rows]

    started = time.perf_counter()
    _speech(rows, out, references or {})
    watch.add('speech', started)
    started = time.perf_counter()
    texts = _embed_texts(rows, out, models, options, cache)
    watch.add('texts', started)

    drawn = [i for i, row in enumerate(rows) if row.get('drawing') is not None]
    started = time.perf_counter()
    measured = _measure_drawings(rows, drawn, texts, models, options, watch, sink,
                                 progress or _noop_progress,
                                 ocr or (OcrReader() if options.ocr else None))
    watch.add('drawings', started)   # wall time; render/ocr/clip add up over workers
    for i, found in measured.items():
        out[i].update(found.result)

    started = time.perf_counter()
    _agreement(out, drawn, texts, measured, models.judge_label())
    watch.add('ranks', started)

    sessions = _merge(table, out)
    started = time.perf_counter()
    thresholds = calibrate_thresholds(sessions, options.min_calibration)
    sessions = assign_groupings(sessions, thresholds)
    clusters = _cluster(sessions, drawn, texts, measured, options)
    watch.add('groupings', started)
    strokes = pd.DataFrame([r for i in drawn for r in measured[i].strokes],
                           columns=['session_id', 'stroke', 'ink_rank', 'score_drop'])
    phrases = pd.DataFrame([r for i in drawn for r in measured[i].phrases],
                           columns=['session_id', 'list', 'rank', 'phrase', 'probability'])
    embeddings = {'drawing': {rows[i]['session_id']: measured[i].judge for i in drawn}}
    return AnalysisResult(sessions, strokes, phrases, thresholds, clusters,
                          models.judge_label(), watch.seconds, embeddings)


def _speech(rows, out, references):
    for row, result in zip(rows, out):
        ref = references.get(row['session_id']) or references.get(row.get('bag_name', ''))
        losses = speech_losses(row, ref)
        result.update(translated=losses.translated, untranslated=', '.join(losses.untranslated),
                      untranslated_share=losses.untranslated_share, wer=losses.wer,
                      cer=losses.cer, wer_english=losses.wer_english,
                      has_reference=ref is not None, speech_reason=losses.reason)


def _embed_texts(rows, out, models, options, cache):
    primary, judge = models.primary, models.agreement
    prompts = [(row.get('prompt') or '').strip() for row in rows]
    unique = sorted({p for p in prompts if p})
    tokens = {p: primary.count_tokens(p) for p in unique}
    for row, prompt, result in zip(rows, prompts, out):
        count = tokens.get(prompt, 0)
        over = count > primary.context_length
        whole = (row.get('prompt_handling') or 'single') == 'single'
        cut = bool(row.get('prompt_truncated')) or (over and whole)
        result.update(prompt_tokens=count, prompt_over_context=over, prompt_cut=cut,
                      prompt_reason=_prompt_reason(row, count, primary.context_length, cut))
    primary_text = dict(zip(unique, encode_texts(primary, unique))) if unique else {}
    judge_text = primary_text if judge is primary else \
        (dict(zip(unique, encode_texts(judge, unique))) if unique else {})
    decoys = load_decoys(options.decoys)
    decoy_text = cache.get(judge, 'decoys', decoys, lambda items: encode_texts(judge, items))
    # Glyphs are rendered at the drawings' size and resized by the same path as drawings,
    # so that no resampling difference sets the session's own glyph apart from the decoys'.
    size = options.display_size
    decoy_glyphs = cache.get(
        judge, f'decoy-glyphs-{GLYPH_STYLE}-{size}', decoys,
        lambda items: _encode_uint8(judge, [glyph_image(glyph_text(t), size) for t in items]))
    lists = load_phrase_lists(options.lists)
    ranker = PhraseRanker(primary, lists, cache) if lists else None
    return _Texts(prompts, unique, primary_text, judge_text, decoys, decoy_text, decoy_glyphs,
                  ranker)


def worker_count(models, options, count):
    """Drawings measured at once: one per core on CPU, one on a GPU, or as asked."""
    if options.workers:
        return max(1, min(options.workers, count))
    if any(m is not None and m.device.type != 'cpu' for m in (models.primary, models.judge)):
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS, count))


def _measure_drawings(rows, drawn, texts, models, options, watch, sink, progress, ocr):
    """{row index: _Drawn}, the drawings measured in parallel (one torch thread each)."""
    workers = worker_count(models, options, len(drawn))

    def measure(i):
        return i, _measure_drawing(rows[i], i, texts, models, options, watch, sink, ocr)

    if workers == 1:
        return dict(measure(i) for i in progress(drawn, desc='drawings', total=len(drawn)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(progress(pool.map(measure, drawn), desc='drawings', total=len(drawn)))
    finally:
        torch.set_num_threads(threads)


def _measure_drawing(row, index, texts, models, options, watch, sink, ocr):
    """Render, OCR, CLIP (drawing, leave-one-out, glyph) and phrases for one drawing."""
    primary, judge = models.primary, models.agreement
    prompt = texts.prompts[index]
    result = {}
    started = time.perf_counter()
    view = SquareView(row['drawing'], options.display_size, options.samples)
    base = view.render()
    picture = to_uint8(base)
    glyph = from_uint8(glyph_image(glyph_text(prompt), options.display_size)) if prompt \
        else None
    watch.add('render', started)
    if sink:
        result['image_file'] = sink('drawing', index, picture)

    started = time.perf_counter()
    if ocr is not None:
        match = ocr.match(picture, prompt)
        result.update(ocr_text=' | '.join(match.texts), ocr_confidence=match.confidence,
                      ocr_matched=', '.join(match.matched), ocr_share=match.share,
                      ocr_longest_match=match.longest_match, ocr_reason=match.reason())
    else:
        result['ocr_reason'] = 'OCR off'
    watch.add('ocr', started)

    started = time.perf_counter()
    encoded = _encode_session(primary, judge, view, base, glyph, prompt, texts.primary,
                              options.importance_strokes)
    watch.add('clip', started)

    strokes, phrases = [], []
    sid = row['session_id']
    importance = encoded['importance']
    if importance is not None:
        result.update(base_score=importance.base_score,
                      importance_evaluated=len(importance.evaluated),
                      importance_top_share=importance.top_share(),
                      importance_reason=importance.reason())
        order = {int(s): r for r, s in enumerate(importance.evaluated)}
        strokes = [{'session_id': sid, 'stroke': s, 'ink_rank': order.get(s, -1),
                    'score_drop': float(drop)} for s, drop in enumerate(importance.drops)]
        if sink and len(importance.evaluated):
            result['heatmap_file'] = sink('heatmap', index, heat_map(view, picture, importance))
    else:
        result['importance_reason'] = 'no prompt' if not prompt else 'no strokes'
    if texts.ranker is not None:
        summary = []
        for name, ranked in texts.ranker.rank(encoded['primary'], options.top).items():
            phrases += [{'session_id': sid, 'list': name, 'rank': rank, 'phrase': p.phrase,
                         'probability': p.probability} for rank, p in enumerate(ranked, 1)]
            summary.append(f'{name}: ' + ', '.join(f'{p.phrase} {p.probability:.0%}'
                                                   for p in ranked))
        result['top_phrases'] = '; '.join(summary)
    return _Drawn(result, encoded['primary'], encoded['judge'], encoded['glyph'], strokes,
                  phrases)


def _prompt_reason(row, count, context, cut):
    if not count:
        return 'no prompt'
    handling = row.get('prompt_handling') or 'single'
    text = f'{count} tokens (CLIP context {context}), embedded as {handling}'
    if cut:
        text += '; part of the prompt was cut off'
    return text


def _encode_uint8(clip, images, batch_size=32):
    out = [clip.encode_image(torch.stack([from_uint8(im) for im in images[i:i + batch_size]])
                             .to(clip.device)).cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).float().cpu()


def _encode_session(primary, judge, view, base, glyph, prompt, primary_text, cap):
    """One CLIP batch per model: drawing, leave-one-out images (primary), glyph (judge)."""
    chosen = strokes_to_evaluate(view.drawing, cap) if prompt else np.zeros(0, dtype=int)
    primary_batch = [base[None]]
    if len(chosen):
        primary_batch.append(leave_one_out(view, base, chosen))
    if judge is primary and glyph is not None:
        primary_batch.append(glyph[None])
    embedded = primary.encode_image(torch.cat(primary_batch).to(primary.device)).float().cpu()
    result = {'primary': embedded[0], 'judge': embedded[0], 'glyph': None}
    if judge is primary:
        if glyph is not None:
            result['glyph'] = embedded[-1]
    else:
        judge_batch = [base] + ([glyph] if glyph is not None else [])
        judged = judge.encode_image(torch.stack(
            [_resize(im, judge.image_size) for im in judge_batch]).to(judge.device))
        judged = judged.float().cpu()
        result['judge'] = judged[0]
        if glyph is not None:
            result['glyph'] = judged[1]
    result['importance'] = None
    if prompt and len(view.drawing.strokes):
        prompt_vec = primary_text[prompt].float()
        scores = (embedded[1:1 + len(chosen)] @ prompt_vec).numpy()
        result['importance'] = from_scores(float(embedded[0] @ prompt_vec), scores,
                                           len(view.drawing.strokes), chosen)
    return result


def _resize(image, size):
    if image.shape[-1] == size and image.shape[-2] == size:
        return image
    return torch.nn.functional.interpolate(image[None], size=(size, size), mode='bilinear',
                                           align_corners=False, antialias=True)[0]


def _agreement(out, drawn, texts, measured, judge_label):
    """Ranks of the true prompt (text) and of its written form (glyph) among decoys."""
    prompts = texts.prompts
    rows = [i for i in drawn if prompts[i]]
    for result in out:
        result['judge'] = judge_label
    if not rows:
        return
    images = torch.stack([measured[i].judge for i in rows]).numpy()
    truths = torch.stack([texts.judge[prompts[i]] for i in rows]).numpy()
    pool_texts = list(texts.unique) + list(texts.decoys)
    pool = torch.cat([torch.stack([texts.judge[p] for p in texts.unique]),
                      texts.decoy_text]).numpy()
    mask = exclusion_mask([prompts[i] for i in rows], pool_texts)
    text = relative_agreement(images, truths, pool, mask)

    glyph_prompts, glyph_vecs = [], []
    for i in rows:
        if prompts[i] not in glyph_prompts:
            glyph_prompts.append(prompts[i])
            glyph_vecs.append(measured[i].glyph)
    glyph_pool = torch.cat([torch.stack(glyph_vecs), texts.decoy_glyphs]).numpy()
    glyph_mask = exclusion_mask([prompts[i] for i in rows], glyph_prompts + list(texts.decoys))
    glyph = relative_agreement(images, torch.stack([measured[i].glyph for i in rows]).numpy(),
                               glyph_pool, glyph_mask)
    for k, i in enumerate(rows):
        result = out[i]
        result.update(agreement_cosine=float(text.cosine[k]), agreement_rank=int(text.rank[k]),
                      agreement_candidates=int(text.candidates[k]),
                      agreement_percentile=float(text.percentile[k]),
                      agreement_z=float(text.z[k]))
        result['agreement_reason'] = (
            f'true prompt ranked {text.rank[k]} of {text.candidates[k] + 1} '
            f'(other dreams and generic decoys), beaten by {text.percentile[k]:.1%}, '
            f'z {text.z[k]:+.2f}; cosine {text.cosine[k]:.3f} (raw, not used to decide); '
            f'by {judge_label}')
        preference = float(glyph.z[k] - text.z[k])
        result.update(glyph_cosine=float(glyph.cosine[k]), glyph_rank=int(glyph.rank[k]),
                      glyph_percentile=float(glyph.percentile[k]), glyph_z=float(glyph.z[k]),
                      glyph_preference=preference)
        result['glyph_reason'] = (
            f'prompt written as text ranked {glyph.rank[k]} of {glyph.candidates[k] + 1} text '
            f'images, z {glyph.z[k]:+.2f} vs {text.z[k]:+.2f} for the prompt itself: '
            + ('prefers the written words' if preference > 0 else 'prefers the concept')
            + f' (preference {preference:+.2f})')


def _merge(table, out):
    import pandas as pd

    measured = pd.DataFrame(out, index=table.index)
    base = table.drop(columns=[c for c in ('drawing',) if c in table.columns])
    merged = pd.concat([base, measured], axis=1)
    merged['has_drawing'] = table['drawing'].notna() if 'drawing' in table else False
    for column, default in (('ocr_longest_match', 0), ('importance_evaluated', 0)):
        if column in merged:
            merged[column] = merged[column].fillna(default).astype(int)
    return merged


def _cluster(sessions, drawn, texts, measured, options):
    rows = [i for i in drawn if texts.prompts[i]]
    labels = np.full(len(sessions), -1)
    coords = np.full((len(sessions), 2), np.nan)
    if rows:
        images = torch.stack([measured[i].judge for i in rows]).numpy()
        prompts = torch.stack([texts.judge[texts.prompts[i]] for i in rows]).numpy()
        found = cluster_sessions(images, prompts, k=options.clusters)
        labels[rows] = found.labels
        coords[rows] = found.coords
    else:
        found = cluster_sessions(np.zeros((0, 1)), np.zeros((0, 1)))
    sessions['cluster'] = labels
    sessions['map_x'] = coords[:, 0]
    sessions['map_y'] = coords[:, 1]
    found.labels, found.coords = labels, coords
    return found
