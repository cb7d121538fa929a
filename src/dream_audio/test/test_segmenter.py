"""UtteranceSegmenter: the logic with a loudness 'detector', then with Silero on real speech."""
import numpy as np
import pytest

from dream_audio.file_source import read_audio_file
from dream_audio.segmenter import EndReason, SegmenterConfig, UtteranceSegmenter
from dream_audio.speech_synthesis import synthesize

RATE = 16000


def tone(seconds, level=0.3, frequency=220.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def silence(seconds):
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def run(segmenter, audio, chunk=1600, start_index=0, flush=True):
    out = []
    for i in range(0, audio.size, chunk):
        out += segmenter.feed(audio[i:i + chunk], start_index + i)
    if flush:
        out += segmenter.flush()
    return out


def test_onset_with_pre_roll_and_end_after_silence(energy_detector):
    config = SegmenterConfig(pre_roll=0.4, post_roll=0.3, min_silence=1.5)
    audio = np.concatenate([silence(2.0), tone(3.0), silence(2.0)])
    [u] = run(UtteranceSegmenter(energy_detector, config), audio, start_index=5000)
    assert u.end_reason == EndReason.SILENCE
    assert u.start_index == pytest.approx(5000 + 1.6 * RATE, abs=512)
    assert u.end_index == pytest.approx(5000 + 5.3 * RATE, abs=512)
    assert u.samples.size == u.end_index - u.start_index
    assert np.array_equal(u.samples, audio[u.start_index - 5000:u.end_index - 5000])
    assert 0.75 < u.speech_ratio < 0.9  # 3 s of speech in 3.7 s


def test_a_pause_shorter_than_min_silence_does_not_cut_the_dream(energy_detector):
    audio = np.concatenate([silence(1), tone(2), silence(1.2), tone(2), silence(3)])
    found = run(UtteranceSegmenter(energy_detector, SegmenterConfig(min_silence=1.5)), audio)
    assert len(found) == 1 and found[0].duration > 5.0


def test_a_longer_pause_does(energy_detector):
    audio = np.concatenate([silence(1), tone(2), silence(2.0), tone(2), silence(3)])
    found = run(UtteranceSegmenter(energy_detector, SegmenterConfig(min_silence=1.5)), audio)
    assert [u.end_reason for u in found] == [EndReason.SILENCE, EndReason.SILENCE]
    assert [u.index for u in found] == [0, 1]
    assert found[0].end_index <= found[1].start_index  # never overlapping


def test_blips_are_ignored(energy_detector):
    audio = np.concatenate([silence(1), tone(0.15), silence(3), tone(0.1), silence(3)])
    segmenter = UtteranceSegmenter(energy_detector, SegmenterConfig(min_speech=0.3))
    assert run(segmenter, audio) == []


def test_speaking_flag_follows_a_confirmed_utterance(energy_detector):
    segmenter = UtteranceSegmenter(energy_detector)
    segmenter.feed(silence(1), 0)
    assert not segmenter.speaking
    segmenter.feed(tone(0.1), RATE)
    assert not segmenter.speaking  # not yet more than a blip
    segmenter.feed(tone(0.5), RATE + 1600)
    assert segmenter.speaking
    assert segmenter.feed(silence(2), RATE + 9600)
    assert not segmenter.speaking


def test_ten_minute_monologue_is_split_at_the_length_cap(energy_detector):
    # A monologue made by concatenating one minute-long 'sentence' pattern ten times.
    pattern = np.concatenate([np.concatenate([tone(4.5), silence(0.5)])] * 12)
    audio = np.concatenate([pattern] * 10)
    found = run(UtteranceSegmenter(energy_detector, SegmenterConfig(max_length=60.0)), audio,
                chunk=4000)
    assert len(found) == 10
    assert all(u.duration <= 60.0 for u in found)
    assert [u.end_reason for u in found[:9]] == [EndReason.LENGTH_CAP] * 9
    assert found[-1].end_reason in (EndReason.LENGTH_CAP, EndReason.STREAM)
    for before, after in zip(found, found[1:]):
        assert after.start_index == before.end_index  # contiguous: nothing lost
    assert sum(u.samples.size for u in found) >= audio.size - RATE


def test_result_does_not_depend_on_chunk_size(energy_detector):
    audio = np.concatenate([silence(0.7), tone(1.3), silence(0.4), tone(2.2), silence(2.5)])
    a = run(UtteranceSegmenter(energy_detector), audio, chunk=160)
    b = run(UtteranceSegmenter(energy_detector), audio, chunk=7919)
    assert [(u.start_index, u.end_index, u.end_reason) for u in a] == \
        [(u.start_index, u.end_index, u.end_reason) for u in b]


def test_manual_start_stop(energy_detector):
    segmenter = UtteranceSegmenter(energy_detector, SegmenterConfig(pre_roll=0.5))
    segmenter.feed(silence(1.0), 0)
    assert segmenter.start()
    assert not segmenter.start()  # already open
    segmenter.feed(silence(3.0), RATE)  # silence does not end a push-to-talk utterance
    assert segmenter.in_utterance
    u = segmenter.stop()
    assert u.end_reason == EndReason.MANUAL and u.manual
    assert (u.start_index, u.end_index) == (RATE // 2, 4 * RATE)
    assert u.speech_ratio == 0.0
    assert segmenter.stop() is None


def test_stop_ends_a_detected_utterance_early(energy_detector):
    segmenter = UtteranceSegmenter(energy_detector)
    segmenter.feed(np.concatenate([silence(1), tone(2)]), 0)
    u = segmenter.stop()
    assert u.end_reason == EndReason.MANUAL and u.end_index == 3 * RATE


def test_cancel_drops_the_utterance(energy_detector):
    segmenter = UtteranceSegmenter(energy_detector)
    segmenter.feed(np.concatenate([silence(1), tone(2)]), 0)
    assert segmenter.cancel()
    assert not segmenter.cancel()
    assert segmenter.feed(silence(2), 3 * RATE) == []
    assert segmenter.flush() == []


def test_stream_end_flushes_an_open_utterance(energy_detector):
    found = run(UtteranceSegmenter(energy_detector), np.concatenate([silence(1), tone(2)]))
    assert [u.end_reason for u in found] == [EndReason.STREAM]


def test_short_gap_is_filled_long_gap_ends_the_stream(energy_detector):
    segmenter = UtteranceSegmenter(energy_detector, SegmenterConfig(max_gap=1.0))
    segmenter.feed(tone(1.0), 0)
    assert segmenter.feed(tone(1.0), int(1.5 * RATE)) == []   # 0.5 s dropped: filled
    assert segmenter.in_utterance
    [u] = segmenter.feed(tone(1.0), 10 * RATE)                  # 7.5 s dropped
    assert u.end_reason == EndReason.STREAM
    assert u.end_index == int(2.5 * RATE)
    assert segmenter.in_utterance                                # the new stream speaks


def test_index_going_back_is_a_new_stream(energy_detector):
    segmenter = UtteranceSegmenter(energy_detector)
    segmenter.feed(tone(1.0), 50 * RATE)
    [u] = segmenter.feed(tone(1.0), 0)
    assert u.end_reason == EndReason.STREAM and u.start_index <= 50 * RATE


def test_not_a_number_samples_do_not_break_it(energy_detector):
    audio = tone(2.0)
    audio[100:200] = np.nan
    [u] = run(UtteranceSegmenter(energy_detector), audio)
    assert np.all(np.isfinite(u.samples))


@pytest.mark.parametrize('field,value', [('threshold', 1.5), ('min_silence', 0.0),
                                         ('max_length', 0.5), ('pre_roll', -1.0),
                                         ('sample_rate', 8000)])
def test_bad_configuration(energy_detector, field, value):
    with pytest.raises(ValueError, match=field):
        UtteranceSegmenter(energy_detector, SegmenterConfig(**{field: value}))


# -- with Silero VAD and spoken dreams ----------------------------------------------------

def test_silero_keeps_a_dream_with_short_pauses_whole(silero, speech_dir, dream_text):
    # espeak-ng pauses about 0.3 s between sentences; add a 1 s pause in the middle.
    a = read_audio_file(synthesize(dream_text, speech_dir / 'a.wav', pad_after=1.0)).samples
    b = read_audio_file(synthesize('The bells became birds and flew away.',
                                   speech_dir / 'b.wav', pad_before=0.0)).samples
    found = run(UtteranceSegmenter(silero), np.concatenate([a, b]))
    assert len(found) == 1
    assert found[0].end_reason == EndReason.SILENCE
    assert found[0].speech_ratio > 0.5


def test_silero_separates_two_dreams_and_ignores_noise(silero, dream_wav):
    speech = read_audio_file(dream_wav).samples
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.05, 3 * RATE).astype(np.float32)
    t = np.arange(3 * RATE) / RATE
    chord = (0.2 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 554 * t))
    audio = np.concatenate([noise, speech, chord.astype(np.float32), silence(1), speech])
    found = run(UtteranceSegmenter(silero), audio)
    assert len(found) == 2
    onset = noise.size + RATE  # the dream starts after 1 s of padding
    assert abs(found[0].start_index - (onset - 0.5 * RATE)) < 0.25 * RATE


def test_silero_monologue_is_split_and_nothing_is_lost(silero, dream_wav):
    speech = read_audio_file(dream_wav).samples[RATE:-RATE]  # tight: short pauses only
    audio = np.concatenate([speech] * int(np.ceil(50 * RATE / speech.size)))
    config = SegmenterConfig(max_length=20.0)
    found = run(UtteranceSegmenter(silero, config), audio)
    assert len(found) == int(np.ceil(audio.size / (20 * RATE)))
    assert [u.end_reason for u in found[:-1]] == [EndReason.LENGTH_CAP] * (len(found) - 1)


def run_with_previews(segmenter, audio, chunk=1600):
    """Feed ``audio``; return (finals, previews) with the running index each was seen at."""
    finals, previews = [], []
    for i in range(0, audio.size, chunk):
        finals += [(i + chunk, u) for u in segmenter.feed(audio[i:i + chunk], i)]
        preview = segmenter.take_preview()
        if preview is not None:
            previews.append((i + chunk, preview))
    return finals, previews


def test_a_preview_after_the_post_roll_is_exactly_the_final_utterance(energy_detector):
    config = SegmenterConfig(pre_roll=0.4, post_roll=0.3, min_silence=1.5)
    audio = np.concatenate([silence(1.0), tone(3.0), silence(2.5)])
    finals, previews = run_with_previews(UtteranceSegmenter(energy_detector, config), audio)
    [(seen_preview, preview)] = previews
    [(seen_final, final)] = finals
    assert seen_final - seen_preview >= 1.0 * RATE   # a second earlier than the cut, or more
    assert (preview.start_index, preview.end_index) == (final.start_index, final.end_index)
    assert np.array_equal(preview.samples, final.samples)
    assert preview.index == final.index and preview.speech_ratio == final.speech_ratio


def test_speech_after_a_previewed_pause_gives_a_new_preview(energy_detector):
    config = SegmenterConfig(post_roll=0.3, min_silence=1.5)
    audio = np.concatenate([silence(1), tone(2), silence(1.0), tone(2), silence(2.5)])
    finals, previews = run_with_previews(UtteranceSegmenter(energy_detector, config), audio)
    [(_, final)] = finals
    assert len(previews) == 2                  # one per pause; the first one went stale
    stale, good = previews[0][1], previews[1][1]
    assert stale.end_index < final.end_index
    assert (good.start_index, good.end_index) == (final.start_index, final.end_index)


def test_manual_utterances_and_blips_get_no_preview(energy_detector):
    segmenter = UtteranceSegmenter(energy_detector, SegmenterConfig(min_speech=0.3))
    _, previews = run_with_previews(segmenter, np.concatenate([silence(1), tone(0.15),
                                                               silence(3)]))
    assert previews == []
    segmenter = UtteranceSegmenter(energy_detector, SegmenterConfig())
    segmenter.start()
    _, previews = run_with_previews(segmenter, np.concatenate([tone(1), silence(2)]))
    assert previews == [] and segmenter.stop() is not None
