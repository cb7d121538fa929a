"""How CLIP's image tower and a CLIPDraw step may run: the choices, shared by commands and
node.

Kept free of torch so that ``dream --help`` builds its parsers without importing it; the
choices are applied by :meth:`dream_clipdraw.clip_model.ClipModel.accelerate` and
:class:`dream_clipdraw.optimizer.ClipDrawRun`.
"""
PRECISIONS = ('float32', 'bfloat16')
COMPILE_MODES = ('auto', 'off', 'default', 'reduce-overhead', 'max-autotune')
GRAPH_COMPILE_MODES = ('reduce-overhead', 'max-autotune')   # torch.compile's CUDA graphs
STEP_GRAPH_MODES = ('off', 'on')


def records_graphs(compile_mode):
    """Whether an image tower compiled in ``compile_mode`` (a mode or 'backend:mode')
    replays CUDA graphs of its own, which no other graph can record."""
    return str(compile_mode).rpartition(':')[2] in GRAPH_COMPILE_MODES


def clip_compile_mode(compile, step_graph, device):
    """The CLIP compile mode to apply on a ``device`` type ('cpu', 'cuda'). Under a step
    graph, which records CLIP's kernels itself, 'auto' is inductor without CUDA graphs on a
    GPU (fused kernels, fewer of them to replay; a tower's own graphs cannot be recorded in
    another) and off elsewhere."""
    if compile == 'auto' and step_graph == 'on':
        return 'default' if device == 'cuda' else 'off'
    return compile


def add_clip_acceleration_arguments(parser):
    """--clip-precision, --clip-compile and --step-graph, as ``dream draw`` and ``dream
    bench`` take them."""
    parser.add_argument('--clip-precision', default='float32', choices=PRECISIONS,
                        help='CLIP image tower arithmetic (bfloat16: autocast, GPUs only; '
                        'measured no faster for ViT-B/32 on an H100)')
    parser.add_argument('--clip-compile', default='auto', choices=COMPILE_MODES,
                        help="torch.compile CLIP's image tower; auto: reduce-overhead (CUDA "
                        'graphs) on a GPU (default, without graphs, with --step-graph on), off '
                        'on the CPU; compiling takes the first ~30 s of a run')
    parser.add_argument('--step-graph', default='off', choices=STEP_GRAPH_MODES,
                        help='on: record each step but Adam (render plan, drawing, warps, '
                        'CLIP, backward) as one CUDA graph and replay it, recorded again '
                        'when the strokes outgrow its room (experimental, not yet timed on a '
                        'GPU; on the CPU the same step runs eagerly)')
