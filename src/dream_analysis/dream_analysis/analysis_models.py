"""The CLIP models of an analysis: the one the drawings were made with, and an optional judge.

A drawing optimised against one CLIP always flatters that CLIP, so agreement between drawing
and prompt is judged with a second model when one is configured. Both go through
dream_clipdraw's loader: weights from disk only, and a clear error (never random weights)
when they are missing. Random weights are reachable only through ``random_weights=True``,
which no verb passes (benchmarks do, for timings).
"""
from dataclasses import dataclass


@dataclass
class AnalysisModels:
    """primary: what the drawings were optimised against; judge: the second opinion or None."""

    primary: object
    judge: object = None

    @property
    def agreement(self):
        """The model that judges drawing-prompt agreement."""
        return self.judge or self.primary

    def judge_label(self):
        if self.judge is not None:
            return f'judge {self.judge.describe()}'
        return (f'{self.primary.describe()} (the drawing model itself: no judge configured, '
                'its scores flatter its own drawings)')


def add_model_arguments(parser, *, judge=True):
    """The --clip-* options (and --judge-* ones) shared by the analysis verbs."""
    group = parser.add_argument_group('CLIP (weights are never downloaded)')
    group.add_argument('--clip-model', help="open_clip architecture the drawings were made "
                       "with (default ViT-B-32-quickgelu, OpenAI's ViT-B/32)")
    group.add_argument('--clip-pretrained', metavar='TAG|FILE',
                       help='weights file, folder, or cached open_clip tag '
                       '(default: $CLIP_WEIGHTS, else the cached "openai" tag)')
    group.add_argument('--clip-model-config', metavar='FILE',
                       help='architecture JSON for a model open_clip does not list')
    group.add_argument('--clip-cache-dir', metavar='DIR',
                       help='another folder to search for cached weights')
    if judge:
        group.add_argument('--judge-model', help='a second CLIP that judges agreement '
                           '(recommended: a drawing flatters the model it was made with)')
        group.add_argument('--judge-pretrained', metavar='TAG|FILE',
                           help="the judge's weights (file, folder or cached tag)")
        group.add_argument('--judge-model-config', metavar='FILE',
                           help="architecture JSON of the judge, if open_clip does not list it")
    group.add_argument('--device', default='cpu', help='cpu (default) or cuda')


def load_models(args, *, random_weights=False):
    """AnalysisModels from parsed options; the loader's errors pass through unchanged."""
    from dream_clipdraw.clip_model import load_clip

    primary = load_clip(args.clip_model, args.clip_pretrained,
                        config_file=args.clip_model_config,
                        cache_dir=getattr(args, 'clip_cache_dir', None), device=args.device,
                        random_weights=random_weights)
    judge = None
    wanted = [getattr(args, name, None) for name in
              ('judge_model', 'judge_pretrained', 'judge_model_config')]
    if any(wanted):
        judge = load_clip(wanted[0], wanted[1], config_file=wanted[2],
                          cache_dir=getattr(args, 'clip_cache_dir', None), device=args.device,
                          random_weights=random_weights)
    return AnalysisModels(primary, judge)
