"""Phrase ranking: shipped lists, relative likelihoods, one-phrase and long lists, the cache."""
import pytest
import torch

from dream_analysis import phrase_ranking, text_embeddings
from dream_analysis.phrase_ranking import (
    PhraseList, PhraseRanker, load_phrase_list, parse_list_names, shipped_lists)
from dream_analysis.text_embeddings import EmbeddingCache, encode_texts


def test_shipped_lists_are_installed_with_templates():
    assert set(shipped_lists()) >= {'artists', 'movements', 'surfaces', 'mediums'}
    for name in ('artists', 'movements', 'surfaces', 'mediums'):
        found = load_phrase_list(name)
        assert len(found.phrases) >= 25 and '{}' in found.template
        assert len(set(found.phrases)) == len(found.phrases)
    assert load_phrase_list('mediums').sentences()[0] == 'a pencil drawing'


def test_own_list_file_and_bad_names(tmp_path):
    own = tmp_path / 'moods.txt'
    own.write_text('# template: a {} drawing\ncalm\ncalm\nangry\n', encoding='utf-8')
    assert load_phrase_list(str(own)) == PhraseList('moods', ('calm', 'angry'), 'a {} drawing')
    with pytest.raises(ValueError, match='unknown phrase list'):
        load_phrase_list('colours')
    with pytest.raises(ValueError, match="file '.*missing.txt' not found"):
        load_phrase_list(str(tmp_path / 'missing.txt'))
    binary = tmp_path / 'binary.txt'
    binary.write_bytes(b'\xff\xfe\x00a')
    with pytest.raises(ValueError, match='binary.txt is not UTF-8 text'):
        load_phrase_list(str(binary))
    bad = tmp_path / 'bad.txt'
    bad.write_text('# template: no slot\nx\n', encoding='utf-8')
    with pytest.raises(ValueError, match='no'):
        load_phrase_list(str(bad))
    assert parse_list_names(' artists, mediums,artists ') == ['artists', 'mediums']
    with pytest.raises(ValueError):
        parse_list_names(' , ')


@pytest.mark.parametrize('file_name', ['UP.TXT', 'Moods.Txt', 'moods', 'moods.list'])
def test_any_existing_file_is_a_list(tmp_path, file_name):
    own = tmp_path / file_name
    own.write_text('calm\nangry\n', encoding='utf-8')
    found = load_phrase_list(str(own))
    assert found == PhraseList(own.stem, ('calm', 'angry'))


def test_a_shipped_name_wins_over_a_file_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'mediums').write_text('crayon\n', encoding='utf-8')
    assert len(load_phrase_list('mediums').phrases) >= 25
    assert load_phrase_list('./mediums').phrases == ('crayon',)
    with pytest.raises(ValueError, match="file '.*MISSING.TXT' not found"):
        load_phrase_list(str(tmp_path / 'MISSING.TXT'))
    with pytest.raises(ValueError, match="file '.*missing' not found"):
        load_phrase_list(str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='is a folder'):
        load_phrase_list(str(tmp_path))


def image_embedding(clip):
    torch.manual_seed(0)
    return clip.encode_image(torch.rand(1, 3, clip.image_size, clip.image_size))[0]


def test_probabilities_are_a_softmax_over_the_list(tiny_clip):
    movements = load_phrase_list('movements')
    ranker = PhraseRanker(tiny_clip, [movements], EmbeddingCache(None))
    ranked = ranker.rank(image_embedding(tiny_clip), top=len(movements.phrases))['movements']
    probs = [p.probability for p in ranked]
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert probs == sorted(probs, reverse=True)
    cosines = torch.tensor([p.cosine for p in ranked])
    expected = torch.softmax(ranker.logit_scale * cosines, 0)
    assert torch.allclose(torch.tensor(probs), expected, atol=1e-5)
    assert len(ranker.rank(image_embedding(tiny_clip), top=3)['movements']) == 3


def test_one_phrase_and_long_phrases_work(tiny_clip):
    long_phrase = ' '.join(['a very long and winding description of a dream.'] * 12)
    assert tiny_clip.count_tokens(long_phrase) > tiny_clip.context_length
    lists = [PhraseList('one', ('surrealism',)), PhraseList('long', (long_phrase, 'a cat'))]
    ranked = PhraseRanker(tiny_clip, lists, EmbeddingCache(None)).rank(
        image_embedding(tiny_clip), top=5)
    assert [(p.phrase, p.probability) for p in ranked['one']] == [('surrealism', 1.0)]
    assert {p.phrase for p in ranked['long']} == {long_phrase, 'a cat'}
    embedded = encode_texts(tiny_clip, [long_phrase, 'a cat'])
    assert embedded.shape[0] == 2 and torch.allclose(embedded.norm(dim=1), torch.ones(2))


def test_list_embeddings_come_from_the_disk_cache(tiny_clip, tmp_path, monkeypatch):
    lists = [load_phrase_list('surfaces')]
    first = EmbeddingCache(tmp_path)
    embedded = PhraseRanker(tiny_clip, lists, first).embeddings['surfaces']
    assert first.misses == 1 and len(list(tmp_path.glob('phrases-surfaces-*.pt'))) == 1

    def refuse(*_args, **_kwargs):
        raise AssertionError('encoded again despite the cache')

    monkeypatch.setattr(text_embeddings, 'encode_texts', refuse)
    second = EmbeddingCache(tmp_path)
    again = PhraseRanker(tiny_clip, lists, second).embeddings['surfaces']
    assert second.hits == 1 and torch.equal(embedded, again)
    changed = [phrase_ranking.PhraseList('surfaces', lists[0].phrases[:-1], lists[0].template)]
    with pytest.raises(AssertionError, match='encoded again'):
        PhraseRanker(tiny_clip, changed, EmbeddingCache(tmp_path))   # content changed: new key
