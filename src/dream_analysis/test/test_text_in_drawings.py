"""Text in drawings: OCR matched to the prompt, and the prompt rendered as a glyph image."""
import numpy as np
from PIL import Image, ImageDraw

from dream_analysis.drawing_images import SquareView, to_uint8
from dream_analysis.glyph_images import glyph_image, glyph_text
from dream_analysis.glyph_images import _font_path
from dream_analysis.ocr_reading import match_prompt
from dream_analysis.synthetic_archive import random_strokes, text_strokes
from dream_clipdraw.drawing import Drawing


def pil_text(text, size=224):
    from PIL import ImageFont
    image = Image.new('RGB', (size, size), 'white')
    ImageDraw.Draw(image).text((12, 90), text, fill='black',
                               font=ImageFont.truetype(_font_path(), 30))
    return np.asarray(image)


def test_ocr_reads_the_prompt_in_a_text_image(ocr_reader):
    found = ocr_reader.match(pil_text('a red whale'), 'I dreamed of a red whale singing')
    assert found.matched == ['red', 'whale']
    assert found.prompt_words == ['red', 'whale', 'singing']
    assert found.longest_match == 5 and 'whale' in found.reason()


def test_ocr_reads_letters_traced_by_strokes(ocr_reader):
    drawing = Drawing(strokes=text_strokes('fish', 160), canvas_width=160, canvas_height=160)
    picture = to_uint8(SquareView(drawing, 224, samples=1).render())
    assert ocr_reader.match(picture, 'a fish in the sea').matched == ['fish']


def test_nothing_is_read_in_blank_or_scribbled_drawings(ocr_reader):
    blank = np.full((224, 224, 3), 255, dtype=np.uint8)
    assert ocr_reader.match(blank, 'a fish').texts == []
    rng = np.random.default_rng(0)
    drawing = Drawing(strokes=random_strokes(24, 224, rng), canvas_width=224,
                      canvas_height=224)
    picture = to_uint8(SquareView(drawing, 224, samples=1).render())
    assert ocr_reader.match(picture, 'a whale swimming through the clouds').matched == []


def test_prompt_words_are_matched_with_misreadings():
    wanted, matched = match_prompt('the flying fish over a red moon',
                                   ['flyinq FISN', 'aredmoon'])
    assert wanted == ['flying', 'fish', 'red', 'moon']
    assert matched == ['flying', 'moon']      # 'fisn' is too far; 'red' too short to search


def test_glyph_image_writes_the_key_words_as_large_as_fits():
    assert glyph_text('I dreamed that a whale was swimming in the sky') == 'whale swimming sky'
    short, long = glyph_image('whale', 224), glyph_image(' '.join(['whale'] * 30), 224)
    assert short.shape == (224, 224, 3) and short.dtype == np.uint8

    def ink_box(image):
        rows, cols = np.nonzero(image.min(2) < 128)
        return rows.min(), rows.max(), cols.min(), cols.max()

    top, bottom, left, right = ink_box(short)
    assert right - left > 150 and 5 <= left and right <= 218   # large, inside the margins
    assert bottom - top < 100
    assert ink_box(long)[1] - ink_box(long)[0] > 150          # wrapped over many lines
    assert (glyph_image('', 64) == 255).all()
