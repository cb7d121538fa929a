"""Session bags made up from known answers, FOR TESTS AND BENCHMARKS.

Bags are written with dream_session's SessionBagWriter and our typestore, exactly like the
recorder's, so the analysis reads them through the same path as real ones. Drawings are
random scribbles, or the outlines of letters (so OCR has something true to read).
"""
import datetime
import pathlib
from dataclasses import dataclass, field

import numpy as np

from dream_clipdraw.drawing import Stroke

STATES = {'idle': 0, 'listening': 1, 'transcribing': 2, 'generating': 3, 'plotting': 4,
          'done': 5, 'failed': 6, 'cancelled': 7}
PATH = ('listening', 'transcribing', 'generating', 'plotting', 'done')


@dataclass
class SyntheticSession:
    """What one made-up session says; None strokes means no drawing was made."""

    session_id: str
    text: str
    original_text: str = ''
    language: str = 'en'
    translated: bool = False
    avg_logprob: float = -0.3
    no_speech_prob: float = 0.02
    compression_ratio: float = 1.4
    transcript_status: int = 0
    strokes: list = None
    canvas: int = 224
    prompt: str = ''
    prompt_truncated: bool = False
    prompt_handling: str = 'single'
    fail_at: str = ''          # state in which the session failed ('' = it finished)
    error_code: int = 0        # SessionStatus ERROR_* when failing
    error_message: str = ''
    audio_seconds: float = 2.0
    stage_seconds: dict = field(default_factory=lambda: {
        'listening': 3.0, 'transcribing': 1.0, 'generating': 40.0, 'plotting': 90.0})


def _time(store, ns):
    time_type = store.types['builtin_interfaces/msg/Time']
    return time_type(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def _header(store, ns):
    return store.types['std_msgs/msg/Header'](stamp=_time(store, ns), frame_id='')


def write_session_bag(root, session, *, start=None, close=True, flush_each=False):
    """Write one session's bag under ``root``; returns the writer (closed unless close=False).

    flush_each: put every message in a chunk of its own on disk, as a recorder flushing
    often does (what a damaged file can then still give back).
    """
    from dream_session.bag_writer import SessionBagWriter
    from dream_session.interface_types import dream_typestore

    store = dream_typestore()
    start = start or datetime.datetime(2026, 5, 1, 12, tzinfo=datetime.timezone.utc)
    t0 = int(start.timestamp() * 1e9)
    writer = SessionBagWriter(root, session.session_id, started=start,
                              flush_interval=0.0 if flush_each else 3600, typestore=store)
    types = store.types
    entered = {}
    now = t0
    states = PATH if not session.fail_at else \
        PATH[:PATH.index(session.fail_at) + 1] + ('failed',)
    for state in states:
        entered[state] = now
        now += int(session.stage_seconds.get(state, 0.0) * 1e9)

    def status(state, previous):
        msg = types['dream_interfaces/msg/SessionStatus'](
            header=_header(store, entered[state]), session_id=session.session_id,
            state=STATES[state], previous_state=STATES[previous],
            error_code=session.error_code if state == 'failed' else 0,
            message=session.error_message if state == 'failed' else '',
            session_start=_time(store, t0), state_since=_time(store, entered[state]))
        writer.write_message('session/status', 'dream_interfaces/msg/SessionStatus',
                             entered[state], msg)

    previous = 'idle'
    for state in states:
        status(state, previous)
        if state == 'listening' and session.audio_seconds:
            _utterance(writer, store, session, entered['listening'] + 1)
        if state == 'transcribing':
            _transcript(writer, store, session, entered[state] + 1)
        if state == 'generating':
            _drawing(writer, store, session, entered[state] + 2)
        if state == 'plotting':
            _plot_result(writer, store, session, entered[state] + 3)
        previous = state
    if close:
        writer.close()
    return writer


def _utterance(writer, store, session, ns):
    samples = int(16000 * session.audio_seconds)
    msg = store.types['dream_interfaces/msg/Utterance'](
        header=_header(store, ns), session_id=session.session_id, utterance_index=0,
        start=_time(store, ns), end=_time(store, ns + int(session.audio_seconds * 1e9)),
        start_sample_index=0, end_reason=0, speech_ratio=0.8, sample_rate=16000, channels=1,
        encoding='pcm_s16le', data=np.zeros(samples * 2, dtype=np.uint8))
    writer.write_message('audio/utterance', 'dream_interfaces/msg/Utterance', ns, msg)


def _transcript(writer, store, session, ns):
    msg = store.types['dream_interfaces/msg/Transcript'](
        header=_header(store, ns), session_id=session.session_id, utterance_index=0,
        is_final=True, status=session.transcript_status, status_message='', text=session.text,
        original_text=session.original_text or session.text, language=session.language,
        language_probability=0.9, task=1 if session.translated else 0,
        avg_logprob=session.avg_logprob, no_speech_prob=session.no_speech_prob,
        compression_ratio=session.compression_ratio, segments=[], model='synthetic',
        audio_duration=session.audio_seconds, processing_time=0.5)
    writer.write_message('speech/transcript', 'dream_interfaces/msg/Transcript', ns, msg)


def drawing_message(store, session, ns=0):
    types = store.types
    strokes = []
    for s in session.strokes or []:
        r, g, b, a = (float(c) for c in s.color)
        strokes.append(types['dream_interfaces/msg/Stroke'](
            control_points=np.asarray(s.flat_points(), dtype=np.float32), width=float(s.width),
            color=types['std_msgs/msg/ColorRGBA'](r=r, g=g, b=b, a=a), pen=int(s.pen)))
    return types['dream_interfaces/msg/Drawing'](
        header=_header(store, ns), session_id=session.session_id,
        prompt=session.prompt or session.text, negative_prompts=[],
        canvas_width=session.canvas, canvas_height=session.canvas, strokes=strokes, palette=[],
        seed=1, preset='cpu', clip_model='synthetic', clip_pretrained='', renderer='torch',
        iterations=100, score=0.3, prompt_truncated=session.prompt_truncated,
        prompt_handling=session.prompt_handling, generation_time=40.0)


def _drawing(writer, store, session, ns):
    types = store.types
    result = types['dream_interfaces/msg/GenerationResult']
    if session.strokes is None:
        empty = drawing_message(store, SyntheticSession(session.session_id, ''), ns)
        msg = result(header=_header(store, ns), session_id=session.session_id, error_code=7,
                     message=session.error_message or 'generation failed', drawing=empty)
    else:
        drawing = drawing_message(store, session, ns)
        writer.write_message('drawing', 'dream_interfaces/msg/Drawing', ns, drawing)
        msg = result(header=_header(store, ns), session_id=session.session_id, error_code=0,
                     message='', drawing=drawing)
    writer.write_message('generate_drawing/result_mirror',
                         'dream_interfaces/msg/GenerationResult', ns + 1, msg)


def _plot_result(writer, store, session, ns):
    msg = store.types['dream_interfaces/msg/PlotResult'](
        header=_header(store, ns), session_id=session.session_id, error_code=0, message='',
        device_error=0, strokes_done=len(session.strokes or []),
        next_stroke=len(session.strokes or []), duration=90.0, pen_down_distance=1000.0,
        pen_up_distance=500.0, pen_changes=0)
    writer.write_message('draw_strokes/result_mirror', 'dream_interfaces/msg/PlotResult', ns,
                         msg)


def random_strokes(count, canvas, rng, *, segments=2, width=(1.0, 4.0)):
    """CLIPDraw-like scribbles: short chains of cubic segments, random RGBA."""
    strokes = []
    for _ in range(count):
        start = rng.uniform(0, canvas, size=2)
        steps = rng.uniform(-0.1, 0.1, size=(3 * segments, 2)) * canvas
        points = np.vstack([start, start + np.cumsum(steps, axis=0)])
        color = tuple(float(c) for c in rng.uniform(0, 1, size=4))
        strokes.append(Stroke(points=points.tolist(), width=float(rng.uniform(*width)),
                              color=color[:3] + (max(0.3, color[3]),)))
    return strokes


def text_strokes(text, canvas, *, width=2.0, margin=0.08):
    """Strokes tracing the outlines of ``text`` (DejaVu Sans), centred on the canvas.

    Each outline polygon becomes one stroke of straight cubic segments: a drawing that
    writes the words as letters, as CLIPDraw often does.
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    path = TextPath((0, 0), text, size=100, prop=FontProperties(family='DejaVu Sans'))
    polygons = [np.asarray(p, dtype=float) for p in path.to_polygons() if len(p) >= 2]
    if not polygons:
        return []
    every = np.vstack(polygons)
    low, high = every.min(0), every.max(0)
    scale = canvas * (1 - 2 * margin) / max(high[0] - low[0], high[1] - low[1], 1e-9)
    offset = (canvas - (high - low) * scale) / 2
    strokes = []
    for poly in polygons:
        xy = (poly - low) * scale + offset
        xy[:, 1] = canvas - xy[:, 1]          # font y points up, canvas y down
        points = [xy[0]]
        for a, b in zip(xy[:-1], xy[1:]):
            points += [a + (b - a) / 3, a + 2 * (b - a) / 3, b]
        strokes.append(Stroke(points=[[float(x), float(y)] for x, y in points], width=width))
    return strokes


DREAMS = (
    'I was flying over a city at night', 'a whale swimming through the clouds',
    'my teeth were falling out in a classroom', 'a red house on a hill in the snow',
    'a cat playing the piano in a garden', 'I was lost in an endless forest',
    'a train crossing a bridge over the sea', 'my grandmother was baking bread',
    'a giant clock melting on a tree', 'a horse running on the beach at sunset',
    'a ladder going up to the moon', 'I was swimming with fish in a library',
)


def write_synthetic_archive(root, count, *, strokes=64, canvas=224, seed=0):
    """``count`` finished sessions with random scribbles; returns the bag folders."""
    rng = np.random.default_rng(seed)
    root = pathlib.Path(root)
    paths = []
    t0 = datetime.datetime(2026, 5, 1, 10, tzinfo=datetime.timezone.utc)
    for i in range(count):
        text = f'{DREAMS[i % len(DREAMS)]} ({i})'
        session = SyntheticSession(f'synthetic-{i:04d}', text,
                                   strokes=random_strokes(strokes, canvas, rng), canvas=canvas,
                                   avg_logprob=float(rng.uniform(-1.2, -0.1)),
                                   no_speech_prob=float(rng.uniform(0, 0.5)))
        start = t0 + datetime.timedelta(minutes=5 * i)
        paths.append(write_session_bag(root, session, start=start).path)
    return paths
