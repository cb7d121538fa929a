"""The measurement pipeline: drawings measured side by side give what one at a time gives."""
import datetime

import numpy as np
import pandas as pd

from dream_analysis.analysis_models import AnalysisModels
from dream_analysis.archive import read_archive
from dream_analysis.decoys import load_decoys
from dream_analysis.measurements import AnalysisOptions, analyse
from dream_analysis.synthetic_archive import SyntheticSession, random_strokes, write_session_bag
from dream_analysis.text_embeddings import EmbeddingCache

T0 = datetime.datetime(2026, 9, 1, 9, 0, tzinfo=datetime.timezone.utc)


def test_parallel_pass_equals_serial_pass(tmp_path, tiny_clip, cache_dir):
    rng = np.random.default_rng(11)
    prompts = ['a red boat', 'a red boat', 'an owl on a branch', 'snow falling', 'a mask']
    for k, prompt in enumerate(prompts):
        write_session_bag(tmp_path, SyntheticSession(
            f's{k}', prompt, strokes=random_strokes(5 + k, 64, rng), canvas=64),
            start=T0 + datetime.timedelta(minutes=k))
    table, _ = read_archive(tmp_path)
    models = AnalysisModels(tiny_clip)
    results = [analyse(table, models, cache=EmbeddingCache(cache_dir),
                       options=AnalysisOptions(workers=w, ocr=False, display_size=64,
                                               importance_strokes=3, lists=('mediums',)))
               for w in (1, 3)]
    serial, parallel = (r.sessions.set_index('session_id') for r in results)
    for column in ('agreement_rank', 'agreement_candidates', 'glyph_rank', 'grouping',
                   'prompt_tokens', 'top_phrases', 'importance_evaluated'):
        assert serial[column].tolist() == parallel[column].tolist(), column
    for column in ('agreement_cosine', 'glyph_z', 'base_score'):
        assert np.allclose(serial[column], parallel[column], atol=1e-5), column
    pd.testing.assert_frame_equal(results[0].strokes, results[1].strokes, atol=1e-5)
    # Four distinct prompts: each is ranked against the three others and the decoys; the
    # two sessions with the same prompt are not decoys of each other, and the prompts that
    # are also shipped decoys ('an owl on a branch', 'a mask') are not ranked against
    # themselves.
    decoys = load_decoys()
    assert {'an owl on a branch', 'a mask'} <= set(decoys) and 'a red boat' not in decoys
    assert serial['agreement_candidates'].to_dict() == {
        's0': 3 + len(decoys), 's1': 3 + len(decoys), 's2': 2 + len(decoys),
        's3': 3 + len(decoys), 's4': 2 + len(decoys)}
    assert (results[0].strokes.groupby('session_id')['ink_rank'].max() == 2).all()
