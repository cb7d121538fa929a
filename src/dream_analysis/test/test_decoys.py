"""Agreement relative to decoys: ranks, percentiles and z-scores from known embeddings."""
import numpy as np
import pytest

from dream_analysis.decoys import exclusion_mask, load_decoys, relative_agreement


def unit(*v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def test_true_prompt_rank_among_decoys():
    image = unit(1, 0.2, 0)
    truth = unit(1, 0.5, 0)                  # cosine ~0.95
    pool = np.stack([unit(1, 0.1, 0),        # beats the truth (~0.999)
                     unit(0, 1, 0), unit(0, 0, 1), unit(-1, 0, 0),
                     truth])                 # the session's own prompt: excluded
    mask = exclusion_mask(['my dream'], ['other', 'b', 'c', 'd', 'My  Dream'])
    assert mask.tolist() == [[False, False, False, False, True]]
    found = relative_agreement(image[None], truth[None], pool, mask)
    assert found.rank.tolist() == [2] and found.candidates.tolist() == [4]
    assert found.percentile[0] == pytest.approx(0.25)
    scores = pool[:4] @ image
    assert found.z[0] == pytest.approx((image @ truth - scores.mean()) / scores.std())


def test_rank_is_relative_not_a_raw_threshold():
    # A low cosine still ranks first when every decoy is lower; a high one can rank last.
    image = unit(1, 1, 0, 0)
    low_truth, decoys_low = unit(0.3, 0.3, 1, 0), np.stack([unit(0, 0, 1, 0), unit(0, 0, 0, 1)])
    high_truth, decoys_high = unit(1, 0.8, 0, 0), np.stack([unit(1, 1, 0, 0), unit(1, 0.9, 0, 0)])
    no_mask = np.zeros((1, 2), dtype=bool)
    low = relative_agreement(image[None], low_truth[None], decoys_low, no_mask)
    high = relative_agreement(image[None], high_truth[None], decoys_high, no_mask)
    assert low.cosine[0] < 0.5 < high.cosine[0]
    assert low.rank[0] == 1 and high.rank[0] == 3


def test_no_candidates_gives_no_percentile():
    image = unit(1, 0)
    found = relative_agreement(image[None], image[None], np.stack([image]),
                               np.ones((1, 1), dtype=bool))
    assert found.candidates[0] == 0 and np.isnan(found.percentile[0]) and np.isnan(found.z[0])


def test_shipped_decoys(tmp_path):
    decoys = load_decoys()
    assert len(decoys) >= 80 and len(set(decoys)) == len(decoys)
    assert not any(d.startswith('#') for d in decoys)
    own = tmp_path / 'decoys.txt'
    own.write_text('# mine\na cat\n\na dog\n', encoding='utf-8')
    assert load_decoys(own) == ['a cat', 'a dog']
    with pytest.raises(FileNotFoundError):
        load_decoys(tmp_path / 'none.txt')


def test_a_decoy_file_that_is_not_utf8_is_named(tmp_path):
    latin = tmp_path / 'latin.txt'
    latin.write_bytes(b'a caf\xe9\n\xff\n')
    with pytest.raises(ValueError, match=r'decoy file .*latin\.txt is not UTF-8 text'):
        load_decoys(latin)
