"""Long prompts: chunked to fit CLIP's context, every word embedded, the handling recorded."""
import random

import pytest
import torch

from dream_clipdraw.clip_model import load_clip
from dream_clipdraw.errors import InvalidPrompt
from dream_clipdraw.prompt_embedding import (
    MAX_PROMPT_CHARS, clean_prompt, embed_prompt, split_prompt)
from dream_clipdraw.tiny_clip import shared_tiny_clip

DREAM = ('I was standing on the roof of my grandmother\'s house, and the sea had come up '
         'to the windows. A red whale swam slowly over the city at night, its belly lit by '
         'the street lamps, and nobody in the street looked up. Then my brother called me '
         'from the lighthouse; he was holding a lantern and a violin, and I knew that if I '
         'jumped I would float. I woke up before I reached him! The whole time a clock was '
         'ticking somewhere under the water, slower and slower, like a heart.')


pytestmark = pytest.mark.usefixtures('one_torch_thread')   # conftest.py


@pytest.fixture(scope='module')
def clip():
    return load_clip(**shared_tiny_clip().load_kwargs())


def words(text):
    return text.split()


def test_a_short_prompt_is_embedded_as_is(clip):
    result = embed_prompt(clip, '  a red whale  ')
    assert result.handling == 'single' and not result.truncated
    assert result.chunks == ('a red whale',)
    assert torch.allclose(result.features, clip.encode_text(['a red whale'])[0])


def test_a_long_dream_is_split_into_chunks_that_fit_and_keep_every_word(clip):
    assert clip.count_tokens(DREAM) > clip.context_length
    result = embed_prompt(clip, DREAM)
    assert len(result.chunks) >= 2
    assert result.handling == f'sentences-mean:{len(result.chunks)}'
    assert not result.truncated
    assert all(clip.count_tokens(c) <= clip.context_length for c in result.chunks)
    assert words(' '.join(result.chunks)) == words(DREAM)
    expected = clip.encode_text(list(result.chunks)).mean(0)
    assert torch.allclose(result.features, expected / expected.norm(), atol=1e-6)
    assert torch.isclose(result.features.norm(), torch.tensor(1.0), atol=1e-5)


def test_chunks_break_at_sentence_ends_where_possible(clip):
    result = embed_prompt(clip, DREAM)
    assert all(c.rstrip()[-1] in '.!' for c in result.chunks[:-1])


def test_the_first_chunk_can_be_weighted(clip):
    plain = embed_prompt(clip, DREAM)
    weighted = embed_prompt(clip, DREAM, first_weight=3.0)
    assert weighted.handling.startswith('sentences-weighted-mean:')
    first = clip.encode_text([plain.chunks[0]])[0]
    assert weighted.features @ first > plain.features @ first


def test_a_10000_character_prompt_is_handled(clip):
    rng = random.Random(0)
    vocabulary = words(DREAM.replace('.', '').replace(',', ''))
    text = ' '.join(' '.join(rng.choice(vocabulary) for _ in range(rng.randint(4, 40))) + '.'
                    for _ in range(400))[:10000]
    result = embed_prompt(clip, text)
    assert len(result.chunks) > 20 and not result.truncated
    assert all(clip.count_tokens(c) <= clip.context_length for c in result.chunks)
    assert words(' '.join(result.chunks)) == words(text)


def test_past_max_chunks_the_rest_is_dropped_and_recorded(clip):
    result = embed_prompt(clip, DREAM, max_chunks=1)
    assert result.truncated and result.handling == 'sentences-mean:1'
    assert len(words(result.chunks[0])) < len(words(DREAM))


def test_a_word_longer_than_the_context_is_cut_into_pieces(clip):
    text = 'whale' + 'x' * 3000
    result = embed_prompt(clip, text)
    assert ''.join(result.chunks) == text
    assert all(clip.count_tokens(c) <= clip.context_length for c in result.chunks)


def test_split_prompt_packs_pieces_greedily():
    def fits(text):
        return len(text.split()) <= 4

    chunks, dropped = split_prompt('a b. c d. e f g h i. j', fits)
    assert chunks == ['a b. c d.', 'e f g h', 'i. j'] and dropped == 0


@pytest.mark.parametrize('bad', ['', '   ', '\n\t', None, 42, 'x' * (MAX_PROMPT_CHARS + 1)])
def test_unusable_prompts_are_rejected_clearly(bad):
    with pytest.raises(InvalidPrompt):
        clean_prompt(bad)


def test_control_characters_are_removed():
    assert clean_prompt('a\x00 whale\x07') == 'a  whale'
