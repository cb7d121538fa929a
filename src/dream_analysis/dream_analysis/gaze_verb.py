"""``dream gaze IMAGE|BAG``: which phrases of a list CLIP finds most likely for a picture.

torch and open_clip are imported inside ``main`` so that ``dream --help`` stays fast.
"""
import json
import pathlib
import sys

from dream_analysis.analysis_models import add_model_arguments
from dream_analysis.analysis_defaults import PHRASE_LISTS

DESCRIPTION = """\
What CLIP sees (after clip-gaze): for an image file, or the drawing recorded in a session
bag, rank the phrases of each list (artists, movements, surfaces, mediums, or your own text
file, one phrase per line) by softmax over CLIP's logits. The figures are likelihoods
RELATIVE TO THE LIST: adding or removing phrases changes them, and a one-phrase list always
gives 100%. The image is encoded once; list embeddings are cached on disk.
"""


def load_picture(target, size):
    """(3, size, size) float image in [0, 1]: an image file, or a bag's recorded drawing."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from dream_analysis.drawing_images import SquareView, from_uint8

    path = pathlib.Path(target)
    if not path.exists():
        raise FileNotFoundError(f'{target}: no such image file or session bag')
    if path.is_file() and path.suffix == '.mcap':   # a bag, named by its recording
        path = path.parent
    if path.is_dir():
        from dream_analysis.session_bag import read_session_bag
        record = read_session_bag(path)
        if record['drawing'] is None:
            why = record['drawing_error'] or record['generation_message'] or \
                f'session {record["final_state"]}'
            raise ValueError(f'{target}: the bag holds no drawing ({why})')
        return SquareView(record['drawing'], size).render(), record['prompt']
    if path.suffix.lower() == '.svg':
        raise ValueError(f'{target}: SVG is not read here; give the PNG render '
                         '(dream draw --png FILE) or the session bag')
    try:
        with Image.open(path) as image:
            image.load()
            rgba = image.convert('RGBA')
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f'{target}: not a readable image ({exc})') from exc
    white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, rgba).convert('RGB')
    side = max(flat.size)
    square = Image.new('RGB', (side, side), 'white')   # pad, never stretch
    square.paste(flat, ((side - flat.width) // 2, (side - flat.height) // 2))
    square = square.resize((size, size), Image.Resampling.LANCZOS)
    return from_uint8(np.asarray(square)), ''


class GazeVerb:
    help = 'rank phrases (artists, movements, surfaces, mediums) by what CLIP sees in an image'
    description = DESCRIPTION

    def add_arguments(self, parser):
        parser.add_argument('target', metavar='IMAGE|BAG',
                            help='an image file, or a session bag (its folder or .mcap file: '
                            'the recorded drawing)')
        parser.add_argument('--lists', default=','.join(PHRASE_LISTS),
                            help='shipped list names or text files (./NAME for a file named like '
                            'a shipped list), comma separated '
                            '(default: %(default)s)')
        parser.add_argument('--top', type=int, default=5,
                            help='phrases shown per list (default 5)')
        parser.add_argument('--json', action='store_true', help='print JSON on stdout')
        parser.add_argument('--cache-dir', metavar='DIR',
                            help='embedding cache (default ~/.cache/dream/analysis)')
        parser.add_argument('--no-cache', action='store_true',
                            help='do not read or write the embedding cache')
        add_model_arguments(parser, judge=False)

    def main(self, args):
        from dream_analysis.analyze_verb import make_cache
        from dream_analysis.phrase_ranking import (
            PhraseRanker, load_phrase_lists, parse_list_names)

        if args.top < 1:
            raise ValueError('--top must be >= 1')
        lists = load_phrase_lists(parse_list_names(args.lists))
        if not pathlib.Path(args.target).exists():
            raise FileNotFoundError(f'{args.target}: no such image file or session bag')

        from dream_clipdraw.clip_model import load_clip
        clip = load_clip(args.clip_model, args.clip_pretrained,
                         config_file=args.clip_model_config, cache_dir=args.clip_cache_dir,
                         device=args.device)
        image, prompt = load_picture(args.target, clip.image_size)
        embedding = clip.encode_image(image[None].to(clip.device))[0].cpu()
        ranker = PhraseRanker(clip, lists, make_cache(args))
        ranked = ranker.rank(embedding, args.top)
        if args.json:
            print(json.dumps({
                'target': str(args.target), 'model': clip.describe(), 'prompt': prompt,
                'note': 'probabilities are a softmax over CLIP logits within each list: '
                        'relative to that list, not absolute',
                'lists': {pl.name: {'phrases': len(pl.phrases), 'template': pl.template,
                                    'top': [{'phrase': p.phrase,
                                             'probability': round(p.probability, 5),
                                             'cosine': round(p.cosine, 5)}
                                            for p in ranked[pl.name]]}
                          for pl in lists}}, ensure_ascii=False, indent=1))
            return 0
        print(f'What CLIP ({clip.describe()}) sees in {args.target}'
              + (f' (prompt: "{prompt}")' if prompt else ''))
        print('Likelihoods are relative to each list (softmax over CLIP logits), '
              'not absolute probabilities.')
        for pl in lists:
            count = '1 phrase: trivially 100%' if len(pl.phrases) == 1 else \
                f'{len(pl.phrases)} phrases'
            print(f'\n{pl.name} ({count}, "{pl.template}"):')
            for p in ranked[pl.name]:
                print(f'  {p.probability:7.1%}  {p.phrase}')
        sys.stdout.flush()
        return 0
