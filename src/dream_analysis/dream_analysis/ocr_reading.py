"""Text written in a drawing: OCR (rapidocr, models shipped in its wheel) matched to the prompt.

CLIPDraw often writes the prompt's words as letters. OCR reads what is legible, and each
content word of the prompt is looked for among the words read, allowing for a misread
letter or two (rapidfuzz ratio), or inside a run of letters read without spaces.
"""
import threading
from dataclasses import dataclass, field

from dream_analysis.word_lists import content_words, words

# rapidfuzz ratio (0-100) from which an OCR word counts as a prompt word: "fisn" for "fish"
# (75) does not count, "flyinq" for "flying" (83) does.
MATCH_RATIO = 80
# Words this long are also looked for inside runs of letters ("aredfish" holds "fish").
MIN_SUBSTRING = 4


@dataclass
class OcrMatch:
    """What OCR read in a drawing and which prompt words it found."""

    texts: list = field(default_factory=list)       # text lines read
    confidence: float = float('nan')                # mean recognition score of the lines
    prompt_words: list = field(default_factory=list)
    matched: list = field(default_factory=list)

    @property
    def share(self):
        return len(self.matched) / len(self.prompt_words) if self.prompt_words else float('nan')

    @property
    def longest_match(self):
        return max((len(w) for w in self.matched), default=0)

    def reason(self):
        if not self.texts:
            return 'OCR read no text'
        read = ' | '.join(self.texts)
        if len(read) > 80:
            read = read[:77] + '...'
        if not self.matched:
            return f'OCR read "{read}"; no prompt word among it'
        return (f'OCR read "{read}"; prompt words found: {", ".join(self.matched)} '
                f'({len(self.matched)} of {len(self.prompt_words)})')


def match_prompt(prompt, texts, *, ratio=MATCH_RATIO):
    """Which content words of ``prompt`` appear in the OCR ``texts``."""
    from rapidfuzz import fuzz, process

    wanted = content_words(prompt)
    read = [w for t in texts for w in words(t)]
    runs = [''.join(words(t)) for t in texts]
    matched = []
    for word in wanted:
        best = process.extractOne(word, read, scorer=fuzz.ratio) if read else None
        if best is not None and best[1] >= ratio:
            matched.append(word)
        elif len(word) >= MIN_SUBSTRING and any(word in run for run in runs):
            matched.append(word)
    return wanted, matched


class OcrReader:
    """rapidocr, sized for drawings of ~224 px; one engine per thread, built on first use
    (about half a second each), since rapidocr keeps state between the stages of a call."""

    def __init__(self, side=320, min_score=0.5):
        self.side = side
        self.min_score = min_score
        self._local = threading.local()

    def _get(self):
        engine = getattr(self._local, 'engine', None)
        if engine is None:
            from rapidocr_onnxruntime import RapidOCR
            # Drawings are small: detect at 320 px (the default upsamples to 736, 4x slower).
            # One thread: as fast here on images this small, and it leaves the cores to torch.
            engine = RapidOCR(det_limit_side_len=self.side, det_limit_type='min',
                              text_score=self.min_score, intra_op_num_threads=1,
                              inter_op_num_threads=1)
            self._local.engine = engine
        return engine

    def read(self, image):
        """(texts, mean score) read in an (H, W, 3) uint8 image."""
        result, _ = self._get()(image)
        if not result:
            return [], float('nan')
        lines = [(str(text).strip(), float(score)) for _, text, score in result
                 if str(text).strip()]
        if not lines:
            return [], float('nan')
        return [t for t, _ in lines], sum(s for _, s in lines) / len(lines)

    def match(self, image, prompt):
        texts, confidence = self.read(image)
        wanted, matched = match_prompt(prompt, texts)
        return OcrMatch(texts, confidence, wanted, matched)
