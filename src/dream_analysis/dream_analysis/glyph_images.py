"""A prompt written as plain black text on white: what "drawing the words" would look like.

CLIP reads text in images, and CLIPDraw often answers a prompt by writing it. Comparing a
drawing with this image tells whether the drawing looks more like the words than like what
they describe. CLIPDraw writes a few salient words, not a whole narrated dream, and a long
text set small looks like a grey texture to CLIP whatever it says; so the glyph holds the
prompt's first content words only (the same for decoys, so lengths stay comparable), wrapped
and set as large as fits the square.
"""
import functools
import textwrap

import numpy as np

from dream_analysis.word_lists import content_words

MARGIN = 0.06
MAX_GLYPH_WORDS = 6
# Part of the cache key of glyph embeddings: change it whenever glyphs are drawn differently.
GLYPH_STYLE = f'dejavu-fit-{MAX_GLYPH_WORDS}words-v1'


def glyph_text(prompt):
    """The words a glyph image shows: the prompt's first content words."""
    return ' '.join(content_words(prompt)[:MAX_GLYPH_WORDS]) or ' '.join(str(prompt).split())


@functools.lru_cache(maxsize=1)
def _font_path():
    from matplotlib import font_manager
    return font_manager.findfont(font_manager.FontProperties(family='DejaVu Sans'))


@functools.lru_cache(maxsize=64)
def _font(size):
    from PIL import ImageFont
    return ImageFont.truetype(_font_path(), size)


def _layout(text, size, font_size, break_words=False):
    """Wrapped lines at this font size, or None if they do not fit."""
    from PIL import Image, ImageDraw

    font = _font(font_size)
    usable = size * (1 - 2 * MARGIN)
    char_width = max(1.0, font.getlength('n'))
    width = max(1, int(usable / char_width))
    lines = textwrap.wrap(text, width=width, break_long_words=break_words) or ['']
    draw = ImageDraw.Draw(Image.new('L', (1, 1)))
    box = draw.multiline_textbbox((0, 0), '\n'.join(lines), font=font, spacing=font_size // 5)
    if box[2] - box[0] <= usable and box[3] - box[1] <= usable:
        return lines, box
    return None


def glyph_image(text, size=224):
    """(size, size, 3) uint8: ``text`` in black DejaVu Sans, as large as fits, centred."""
    from PIL import Image, ImageDraw

    text = ' '.join(str(text).split())
    image = Image.new('RGB', (size, size), 'white')
    if not text:
        return np.asarray(image)
    low, high, best = 4, max(5, size // 2), None
    while low <= high:   # the largest font size whose wrapped text fits
        mid = (low + high) // 2
        found = _layout(text, size, mid)
        if found:
            best, low = (mid, found), mid + 1
        else:
            high = mid - 1
    font_size, (lines, box) = best if best else (4, _layout_anyway(text, size))
    draw = ImageDraw.Draw(image)
    x = (size - (box[2] - box[0])) / 2 - box[0]
    y = (size - (box[3] - box[1])) / 2 - box[1]
    draw.multiline_text((x, y), '\n'.join(lines), fill='black', font=_font(font_size),
                        spacing=font_size // 5, align='center')
    return np.asarray(image)


def _layout_anyway(text, size):
    """Smallest font, cut to what fits: a whole narrated dream can exceed any square."""
    for keep in range(len(text), 0, -max(1, len(text) // 20)):
        found = _layout(text[:keep], size, 4, break_words=True)
        if found:
            return found
    return [''], (0, 0, 0, 0)
