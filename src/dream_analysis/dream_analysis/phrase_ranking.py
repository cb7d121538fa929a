"""What CLIP sees: phrases of a list ranked by relative likelihood for one image (after clip-gaze).

Each list (artists, movements, surfaces, mediums, or a file of your own) is turned into
sentences with its template, embedded once and cached on disk. For an image, CLIP's logits
(scaled cosines) over the list go through a softmax: the result is how likely each phrase is
*relative to the others in the list*, not an absolute probability; a one-phrase list always
gives 1. The image is encoded once for all lists; phrases longer than CLIP's context are
embedded by parts instead of failing.
"""
import pathlib
import re
from dataclasses import dataclass

from dream_analysis.word_lists import data_file
TEMPLATE_PREFIX = 'template:'


@dataclass(frozen=True)
class PhraseList:
    name: str
    phrases: tuple
    template: str = '{}'

    def sentences(self):
        return [self.template.replace('{}', p) for p in self.phrases]


def shipped_lists():
    """Names of the lists shipped with the package."""
    folder = data_file('phrases')
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith('.txt'))


def load_phrase_list(name_or_path):
    """A shipped list by name, or a text file: one phrase per line, '# template: ... {} ...'.

    Any existing file is a list, whatever its suffix (UP.TXT, none). A bare shipped name
    wins over a file of that name in the working folder: write ./mediums for the file.
    """
    path = pathlib.Path(name_or_path)
    if name_or_path in shipped_lists():
        source, name = data_file('phrases', f'{name_or_path}.txt'), name_or_path
    elif path.is_file():
        source, name = path, path.stem
    elif path.is_dir():
        raise ValueError(f"phrase list file '{name_or_path}' is a folder, not a file")
    elif path.suffix or len(path.parts) > 1 or name_or_path.startswith('.'):
        raise ValueError(f"phrase list file '{name_or_path}' not found")
    else:
        raise ValueError(f"unknown phrase list '{name_or_path}': use one of "
                         f"{', '.join(shipped_lists())} or a text file with one phrase per line")
    try:
        text = source.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        raise ValueError(f'phrase list {source} is not UTF-8 text') from None
    template = '{}'
    for line in text.splitlines():
        stripped = line.lstrip('#').strip()
        if line.lstrip().startswith('#') and stripped.lower().startswith(TEMPLATE_PREFIX):
            template = stripped[len(TEMPLATE_PREFIX):].strip() or '{}'
            if '{}' not in template:
                raise ValueError(f"{source}: the template '{template}' has no '{{}}' for "
                                 'the phrase')
    phrases = tuple(dict.fromkeys(
        line.strip() for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith('#')))
    if not phrases:
        raise ValueError(f'phrase list {source} holds no phrases')
    return PhraseList(name, phrases, template)


def load_phrase_lists(names):
    """The lists ``names`` name, each under a name of its own: a file whose stem another
    list already has is named by its path as given (results are keyed by name)."""
    lists = [load_phrase_list(name) for name in names]
    taken = {}
    for given, pl in zip(names, lists):
        taken.setdefault(pl.name, []).append(given)
    return [PhraseList(given, pl.phrases, pl.template)
            if len(taken[pl.name]) > 1 and given != pl.name else pl
            for given, pl in zip(names, lists)]


def parse_list_names(value):
    """'artists,mediums' -> ['artists', 'mediums'] (order kept, duplicates dropped)."""
    names = [v.strip() for v in (value or '').split(',') if v.strip()]
    if not names:
        raise ValueError('no phrase list named: pass e.g. --lists artists,movements')
    return list(dict.fromkeys(names))


@dataclass
class RankedPhrase:
    phrase: str
    probability: float    # softmax over the list: relative to the list only
    cosine: float


class PhraseRanker:
    """Phrase lists embedded (cached) for one CLIP, ranking image embeddings against them."""

    def __init__(self, clip, lists, cache):
        from dream_analysis.text_embeddings import encode_texts

        self.clip = clip
        self.lists = list(lists)
        self.embeddings = {
            pl.name: cache.get(clip, f'phrases-{_file_safe(pl.name)}', pl.sentences(),
                               lambda items: encode_texts(clip, items))
            for pl in self.lists}
        scale = getattr(clip.model, 'logit_scale', None)
        self.logit_scale = float(scale.exp()) if scale is not None else 100.0

    def rank(self, image_embedding, top=5):
        """{list name: [RankedPhrase] best first, at most ``top``} for one unit embedding."""
        import torch

        image = image_embedding.float().reshape(-1)
        out = {}
        for pl in self.lists:
            cosines = self.embeddings[pl.name] @ image
            probs = torch.softmax(self.logit_scale * cosines, dim=0)
            order = torch.argsort(probs, descending=True)[:max(1, top)]
            out[pl.name] = [RankedPhrase(pl.phrases[int(i)], float(probs[i]),
                                         float(cosines[i])) for i in order]
        return out


def _file_safe(name):
    """A list's name as part of a cache file name (a list may be named by its path)."""
    return re.sub(r'[^\w.-]+', '_', name).strip('._') or 'list'
