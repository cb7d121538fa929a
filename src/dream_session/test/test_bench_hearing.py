"""``dream bench hearing``: a dream played in real time through capture, VAD and speech."""
import argparse
import json
import shutil

import pytest

from dream_session.bench_hearing import HearingBenchmark

pytestmark = pytest.mark.skipif(not (shutil.which('espeak-ng') and shutil.which('sox')),
                                reason='espeak-ng and sox make the test speech')


def test_the_wait_from_the_last_word_to_the_transcript(capsys):
    bench = HearingBenchmark()
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(['--repeats', '1', '--stt-model', 'tiny.en',
                              '--min-silence', '0.8',
                              '--text', 'A red whale flew over the sleeping city.'])
    assert bench.main(args) == 0
    figures = json.loads(capsys.readouterr().out)
    run = figures['runs_detail'][0]
    assert figures['ok'] == 1 and run['status'] == 0 and 'whale' in run['text'].lower()
    assert figures['min_silence_s'] == 0.8 and figures['stt_model'] == 'tiny.en'
    # Real-time playback: the transcript cannot come before the silence wait has passed,
    # and the preview (early recognition) came after the post-roll, before the cut.
    assert run['speech_end_to_transcript_s'] >= 0.75
    assert 0.45 <= run['preview_after_speech_end_s'] <= run['speech_end_to_transcript_s']
    assert run['utterance_end_to_transcript_s'] >= 0
    assert 1.5 < run['utterance_s'] < 6


def test_an_error_transcript_is_a_failed_run(tmp_path, capsys):
    broken = tmp_path / 'broken-model'   # passes the up-front check, fails to load
    broken.mkdir()
    (broken / 'model.bin').write_bytes(b'')
    (broken / 'config.json').write_text('{}')
    bench = HearingBenchmark()
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(['--repeats', '1', '--stt-model', str(broken),
                              '--min-silence', '0.8', '--text', 'A red whale.'])
    with pytest.raises(RuntimeError, match='every run failed: error transcript: speech '
                                           'recognition unavailable: cannot load Whisper'):
        bench.main(args)
