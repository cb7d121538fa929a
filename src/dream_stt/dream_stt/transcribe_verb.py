"""``dream transcribe FILE``: a recorded dream to text, through the same chain as the nodes.

Any audio file (any rate, stereo included) is read by dream_audio's file reader, cut by the
voice detector and decoded by Whisper. The text goes to stdout; a rejected recording
(silence, noise, hallucination) prints its status to stderr and exits with status 3; a
language or task the model cannot do is a usage error (status 1), found before decoding;
translate with an English-only model is transcribe (English in, English out), and says so.
A file shorter than its header says is transcribed with a warning. Progress (seconds of
speech decoded) goes to stderr.

Same as ``dream run --audio-file FILE`` (default settings): the model (base), beam (5),
fallback temperatures and rejection thresholds, and the audio as the speech node gets it:
16 kHz, quantised to 16-bit PCM as the capture node sends its chunks (``--encoding``, the
capture's ``encoding`` parameter). That last point matters: where Whisper hesitates (a
log-probability near -1, the temperature fallback at work, as in a translation of
synthetic Spanish), half a 16-bit step of difference in the input changes the text and the
verdict. What differs: the nodes cut the recording into utterances (a pause of
``vad.min_silence``, 1.6 s, ends one and the next is a session of its own) and decode each;
this verb decodes the whole stretch from the first speech to the last in one go.
"""
import json
import sys
import time

REJECTED_EXIT = 3


class OptionError(ValueError):
    """A task or language the model cannot do: the user's mistake (``dream`` prints it as
    one line, without the traceback hint)."""
    usage_error = True


class TranscribeVerb:
    help = 'transcribe (or translate to English) a recorded dream'
    description = __doc__

    def add_arguments(self, parser):
        parser.add_argument('audio', help='audio file (WAV, FLAC, OGG...)')
        parser.add_argument('--model', default='base',
                            help='base (multilingual) or tiny.en (bundled), another '
                                 'faster-whisper model name, or a model directory '
                                 '(default: base)')
        parser.add_argument('--task', choices=('transcribe', 'translate'), default='transcribe',
                            help='translate: English text, keeping the original too')
        parser.add_argument('--language', default=None,
                            help='spoken language (en, es, fr...); default: detect it')
        parser.add_argument('--json', action='store_true',
                            help='print every signal, segment and timing as JSON')
        parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
        parser.add_argument('--beam-size', type=int, default=5)
        parser.add_argument('--initial-prompt', default=None,
                            help='text Whisper sees as coming before the recording')
        parser.add_argument('--encoding', choices=('pcm_s16le', 'f32le'), default='pcm_s16le',
                            help='the audio as the capture node sends it (its encoding '
                                 'parameter): 16-bit as in dream run (default), or float')

    def main(self, args):
        from dream_audio.file_source import read_audio_file
        from dream_audio.pcm import decode, encode
        from dream_audio.speech_detector import SileroSpeechDetector
        from dream_stt import model_store
        from dream_stt.file_transcription import transcribe_recording
        from dream_stt.recognizer import ENGLISH_ONLY_NOTE, DecodingOptions, SpeechRecognizer

        started = time.perf_counter()
        audio = read_audio_file(args.audio)
        read_time = time.perf_counter() - started
        if audio.warning:
            print(f'dream transcribe: warning: {audio.warning}', file=sys.stderr)
        # What the speech node hears: the capture node's chunks carry this encoding.
        samples = decode(encode(audio.samples, args.encoding), args.encoding)
        loaded = model_store.load(args.model, device=args.device)
        recognizer = SpeechRecognizer(loaded, DecodingOptions(
            beam_size=args.beam_size, initial_prompt=args.initial_prompt))
        refused = recognizer.option_error(args.task, args.language)
        if refused:     # a usage error, not a rejected recording
            raise OptionError(refused)
        detector = SileroSpeechDetector()
        begun = time.perf_counter()
        with _DecodeProgress() as progress:
            result, span = transcribe_recording(samples, recognizer, detector,
                                                task=args.task, language=args.language,
                                                progress=progress)
        recognize_time = time.perf_counter() - begun
        if args.json:
            report = result.to_dict()
            report.update({
                'file': str(args.audio),
                'source': {'sample_rate': audio.source_sample_rate,
                           'channels': audio.source_channels,
                           'encoding': audio.source_encoding,
                           'duration': round(audio.duration, 3),
                           'warning': audio.warning},
                'encoding': args.encoding,
                'speech_span': None if span is None else {
                    'start': span.start / 16000, 'end': span.end / 16000,
                    'speech_ratio': round(span.speech_ratio, 3),
                    'utterances': span.utterances},
                'timings': {'read_s': round(read_time, 3),
                            'model_load_s': round(loaded.load_time, 3),
                            'vad_and_decode_s': round(recognize_time, 3),
                            'decode_s': round(result.decode_time, 3),
                            'total_s': round(time.perf_counter() - started, 3)},
                'device': loaded.device, 'compute_type': loaded.compute_type})
            print(json.dumps(report, indent=2, ensure_ascii=False))
        elif result.ok:
            print(result.text)
            if result.original_text != result.text:
                print(f'({result.language}: {result.original_text})', file=sys.stderr)
            if result.task != args.task:
                print(f'dream transcribe: {ENGLISH_ONLY_NOTE}', file=sys.stderr)
        if not result.ok:
            print(f'dream transcribe: {result.status.name.lower()}: {result.status_message}',
                  file=sys.stderr)
            return REJECTED_EXIT
        return 0


class _DecodeProgress:
    """A tqdm bar on stderr in seconds of speech decoded (stdout stays the text or JSON);
    shown once the first segment is decoded."""

    def __enter__(self):
        self.bar = None
        return self.update

    def update(self, done, total):
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=round(total, 1), unit='s', desc='decoding', file=sys.stderr,
                            dynamic_ncols=True, leave=False)
        elif done + 0.5 < self.bar.n:   # the second pass of a translation (the bar counts
            # rounded seconds: the pass's own end, 896.596 after 896.6, is no restart)
            self.bar.reset(total=round(total, 1))
            self.bar.set_description('translating')
        self.bar.update(round(min(done, total), 1) - self.bar.n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
