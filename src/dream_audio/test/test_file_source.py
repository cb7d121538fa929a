import numpy as np
import pytest
import soundfile

from dream_audio.file_source import AudioFileError, FileSource, file_info, read_audio_file
from dream_audio.speech_synthesis import synthesize


def test_chunks_are_stamped_with_their_first_sample(dream_wav):
    chunks = list(FileSource(dream_wav, chunk_duration=0.1, start_time=1000.0))
    assert len(chunks) > 30
    index = 0
    for chunk in chunks:
        assert chunk.sample_index == index  # contiguous: no gap, no overlap
        assert chunk.sample_rate == 16000 and chunk.samples.dtype == np.float32
        assert chunk.capture_time == pytest.approx(1000.0 + index / 16000, abs=1e-9)
        assert chunk.source_sample_rate == 22050 and chunk.source_channels == 1
        assert chunk.source_encoding == 'wav/pcm_16'
        index = chunk.end_index
    assert index / 16000 == pytest.approx(soundfile.info(str(dream_wav)).duration, abs=0.01)


def test_read_whole_file(dream_wav):
    audio = read_audio_file(dream_wav)
    assert audio.sample_rate == 16000 and audio.source_sample_rate == 22050
    assert audio.duration == pytest.approx(soundfile.info(str(dream_wav)).duration, abs=0.01)
    assert np.max(np.abs(audio.samples[:8000])) < 0.01   # the leading silence
    assert np.max(np.abs(audio.samples)) > 0.1            # and speech


@pytest.mark.parametrize('rate,channels,suffix', [(8000, 1, 'wav'), (48000, 2, 'wav'),
                                                  (44100, 2, 'flac'), (22050, 1, 'ogg')])
def test_other_rates_channels_and_formats(speech_dir, dream_wav, dream_text, rate, channels,
                                          suffix):
    path = synthesize(dream_text, speech_dir / f'dream-{rate}-{channels}.{suffix}',
                      sample_rate=rate, channels=channels)
    audio = read_audio_file(path)
    reference = read_audio_file(dream_wav)
    assert (audio.source_sample_rate, audio.source_channels) == (rate, channels)
    assert audio.source_encoding.startswith(suffix)
    assert audio.sample_rate == 16000
    assert audio.duration == pytest.approx(reference.duration, abs=0.02)
    # Same speech: the loudness envelopes (100 ms) agree.
    n = min(audio.samples.size, reference.samples.size) // 1600 * 1600
    a = np.sqrt(np.mean(audio.samples[:n].reshape(-1, 1600) ** 2, axis=1))
    b = np.sqrt(np.mean(reference.samples[:n].reshape(-1, 1600) ** 2, axis=1))
    assert np.corrcoef(a, b)[0, 1] > 0.95


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match='not found'):
        read_audio_file(tmp_path / 'nothing.wav')


def test_directory(tmp_path):
    with pytest.raises(AudioFileError, match='directory'):
        file_info(tmp_path)


def test_corrupt_file(tmp_path):
    path = tmp_path / 'corrupt.wav'
    path.write_bytes(b'RIFF\x10\x00\x00\x00WAVEfmt garbage' * 20)
    with pytest.raises(AudioFileError, match='cannot read .* as audio'):
        read_audio_file(path)


def test_not_audio_at_all(tmp_path):
    path = tmp_path / 'notes.wav'
    path.write_text('a dream about a whale')
    with pytest.raises(AudioFileError, match='cannot read'):
        FileSource(path)


def test_empty_file_is_not_audio(tmp_path):
    path = tmp_path / 'empty.wav'
    path.write_bytes(b'')
    with pytest.raises(AudioFileError):
        read_audio_file(path)


def test_zero_length_audio_reads_as_no_samples(tmp_path):
    path = tmp_path / 'zero.wav'
    soundfile.write(str(path), np.zeros(0, dtype=np.float32), 44100)
    audio = read_audio_file(path)
    assert audio.samples.size == 0 and audio.duration == 0.0
    assert list(FileSource(path)) == []


def test_stop_ends_a_realtime_playback_early(dream_wav):
    source = FileSource(dream_wav, chunk_duration=0.05, realtime=True, start_time=0.0)
    received = []
    for chunk in source:
        received.append(chunk)
        if len(received) == 2:
            source.stop()
    assert len(received) == 2


def test_a_wav_shorter_than_its_header_says_is_read_with_a_warning(dream_wav, tmp_path):
    """libsndfile quietly reads what a cut WAV holds (its count says 1.1 s where the header
    declares 4.9 s): the missing rest is said, not hidden."""
    data = dream_wav.read_bytes()
    cut = tmp_path / 'cut.wav'
    cut.write_bytes(data[:len(data) // 3])
    source = FileSource(cut, start_time=0.0)
    assert source.warning == ''
    chunks = list(source)
    declared = soundfile.info(str(dream_wav)).duration
    assert chunks and f'of the {declared:.1f} s declared' in source.warning
    assert 'is shorter than its header says' in source.warning
    assert 'shorter than its header' in read_audio_file(cut).warning
    whole = FileSource(dream_wav, start_time=0.0)
    list(whole)
    assert whole.warning == '' and read_audio_file(dream_wav).warning == ''


def test_a_wav_of_unknown_length_is_no_truncated_file(dream_wav, tmp_path):
    """A WAV written to a pipe declares a size it cannot know (0 or 0xFFFFFFFF)."""
    from dream_audio.file_source import wav_header_frames
    data = bytearray(dream_wav.read_bytes())
    assert wav_header_frames(dream_wav) == soundfile.info(str(dream_wav)).frames
    at = data.index(b'data') + 4
    for size in (0, 0xFFFFFFFF):
        data[at:at + 4] = size.to_bytes(4, 'little')
        piped = tmp_path / f'piped-{size}.wav'
        piped.write_bytes(bytes(data))
        assert wav_header_frames(piped) is None
    assert wav_header_frames(tmp_path / 'missing.wav') is None
