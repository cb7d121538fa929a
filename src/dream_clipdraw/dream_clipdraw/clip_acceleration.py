"""How CLIP's image tower may run for CLIPDraw: the choices, shared by commands and node.

Kept free of torch so that ``dream --help`` builds its parsers without importing it; the
choices are applied by :meth:`dream_clipdraw.clip_model.ClipModel.accelerate`.
"""
PRECISIONS = ('float32', 'bfloat16')
COMPILE_MODES = ('auto', 'off', 'default', 'reduce-overhead', 'max-autotune')


def add_clip_acceleration_arguments(parser):
    """--clip-precision and --clip-compile, as ``dream draw`` and ``dream bench`` take them."""
    parser.add_argument('--clip-precision', default='float32', choices=PRECISIONS,
                        help='CLIP image tower arithmetic (bfloat16: autocast, GPUs only; '
                        'measured no faster for ViT-B/32 on an H100)')
    parser.add_argument('--clip-compile', default='auto', choices=COMPILE_MODES,
                        help="torch.compile CLIP's image tower; auto: reduce-overhead (CUDA "
                        'graphs) on a GPU, off on the CPU; the first steps compile')
