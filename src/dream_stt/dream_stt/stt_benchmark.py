"""``dream bench stt``: word error rate, speed and latency of speech recognition.

Test speech is made with espeak-ng and sox from bench_corpus (ten dreams in several voices
and speeds, 1 s of silence before and 1.5 s after each, like a visitor stepping up), plus
three non-English sentences for translation. For each model it compares:

- raw: faster-whisper on the whole file with its default decoding (beam 5, temperature
  fallback, conditioning on previous text), as in shared/reference/baselines.md;
- ours: the live chain (Silero utterance cut, our decoding options, stock-phrase clean-up).

WER is over the whole corpus after Whisper's English normalisation (word_error_rate). Also
reported: real-time factor (processing seconds per second of audio), model load time, and
for a ~10 s dream streamed in real time the latency from the end of speech to the transcript,
with early recognition (the utterance preview decoded during the VAD's silence wait, as
stt_node does) and, for comparison, without it (silence wait + a decode after the cut).
Progress goes to stderr, figures to stdout.
"""
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time

VARIANTS = {
    'beam1': dict(beam_size=1),
    'prompt': dict(initial_prompt='A dream:'),
    'no-fallback': dict(temperatures=(0.0,)),
    'condition-on-previous': dict(condition_on_previous_text=True),
}


def _log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def _check_options(args):
    """Usage errors before the corpus is synthesised and models load (minutes): returns the
    models to measure. Bundled models are checked when loaded, as assembling base is part
    of its first load time."""
    from dream_stt import model_store

    if args.repeats < 1:
        raise ValueError(f'--repeats must be >= 1, got {args.repeats}')
    if args.threads < 0:
        raise ValueError(f'--threads must be >= 0 (0: all cores), got {args.threads}')
    for wait in args.min_silence or ():
        if not (math.isfinite(wait) and wait > 0):
            raise ValueError(f'--min-silence must be > 0 seconds, got {wait}')
    models = args.model or ['tiny.en', 'base']
    for name in models:
        if not name.strip():
            raise ValueError('--model must not be empty: give a model name or directory')
        model_store.check_option('--model', name)
    return models


class SttBenchmark:
    help = 'speech recognition: WER raw vs ours, real-time factor, latency, load time'

    def add_arguments(self, parser):
        parser.add_argument('--model', action='append', default=None,
                            help='model name or directory; repeat for several '
                                 '(default: tiny.en and base)')
        parser.add_argument('--variants', action='store_true',
                            help='also measure decoding variants: ' + ', '.join(VARIANTS))
        parser.add_argument('--repeats', type=int, default=3,
                            help='latency measurements per model (median reported)')
        parser.add_argument('--min-silence', type=float, action='append', default=None,
                            help='also measure latency with this VAD silence wait (seconds; '
                                 'repeat for several; the default wait is always measured)')
        parser.add_argument('--audio-dir', help='keep the generated speech here')
        parser.add_argument('--threads', type=int, default=0,
                            help='CPU threads for Whisper (0: all cores)')
        parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))

    def main(self, args):
        models = _check_options(args)
        from dream_audio.file_source import read_audio_file
        from dream_audio.speech_detector import SileroSpeechDetector
        from dream_audio.speech_synthesis import synthesize
        from dream_stt import bench_corpus

        workdir = args.audio_dir or tempfile.mkdtemp(prefix='dream-bench-stt-')
        os.makedirs(workdir, exist_ok=True)
        _log(f'making test speech in {workdir}')
        audio = {}
        for sample in bench_corpus.DREAMS + bench_corpus.FOREIGN + (bench_corpus.LONG_DREAM,):
            path = synthesize(sample.text, os.path.join(workdir, f'{sample.name}.wav'),
                              voice=sample.voice, wpm=sample.wpm)
            audio[sample.name] = read_audio_file(path).samples
        detector = SileroSpeechDetector()
        report = {'machine': {'cpu_count': os.cpu_count(),
                              'load_average_at_start': os.getloadavg()[0]},
                  'corpus': {'dreams': len(bench_corpus.DREAMS),
                             'foreign': len(bench_corpus.FOREIGN),
                             'seconds': round(sum(a.size for a in audio.values()) / 16000, 1),
                             'audio_dir': workdir},
                  'normalisation': 'whisper EnglishTextNormalizer (whisper-normalizer), jiwer',
                  'models': {}}
        report['machine']['note'] = ('timings are wall-clock on a shared machine: compare '
                                     'within one run; see the load averages')
        for name in models:
            report['models'][name] = self._bench_model(name, args, audio, detector,
                                                       bench_corpus)
        report['machine']['load_average_at_end'] = os.getloadavg()[0]
        print(json.dumps(report, indent=2))
        return 0

    def _bench_model(self, name, args, audio, detector, corpus):
        from dream_stt import model_store
        from dream_stt.recognizer import DecodingOptions, SpeechRecognizer

        _log(f'{name}: loading')
        loaded = model_store.load(name, device=args.device, cpu_threads=args.threads)
        load_again = model_store.load(name, device=args.device, cpu_threads=args.threads)
        out = {'load_time_s': round(loaded.load_time, 2),
               'load_time_cached_s': round(load_again.load_time, 2),
               'device': loaded.device, 'compute_type': loaded.compute_type}
        del load_again
        ours = SpeechRecognizer(loaded)
        dreams = corpus.DREAMS
        _log(f'{name}: raw vs ours on {len(dreams)} dreams')
        raw_run = self._raw(loaded, dreams, audio)
        ours_run = self._ours(ours, dreams, audio, detector)
        out['raw'], out['ours'] = raw_run['summary'], ours_run['summary']
        out['ours']['rejected'] = [h['name'] for h in ours_run['items'] if h['status'] != 'OK']
        out['per_sample'] = [
            {'name': s.name, 'voice': s.voice, 'wpm': s.wpm, 'reference': s.text,
             'raw': r['text'], 'ours': o['text'], 'status': o['status'],
             'avg_logprob': o['avg_logprob'], 'no_speech_prob': o['no_speech_prob']}
            for s, r, o in zip(dreams, raw_run['items'], ours_run['items'])]
        if args.variants:
            out['variants'] = {}
            for variant, changes in VARIANTS.items():
                _log(f'{name}: variant {variant}')
                recognizer = SpeechRecognizer(loaded, DecodingOptions(**changes))
                out['variants'][variant] = self._ours(recognizer, dreams, audio,
                                                      detector)['summary']
            _log(f'{name}: variant raw+vad_filter')
            out['variants']['raw-vad-filter'] = self._raw(loaded, dreams, audio,
                                                          vad_filter=True)['summary']
        out['latency'] = self._latency(ours, audio[corpus.LONG_DREAM.name], detector,
                                       args.repeats)
        for wait in args.min_silence or ():
            _log(f'{name}: latency with a {wait} s silence wait')
            out.setdefault('latency_with_other_silence_waits', {})[str(wait)] = self._latency(
                ours, audio[corpus.LONG_DREAM.name], detector, args.repeats, min_silence=wait)
        if loaded.multilingual:
            out['translation'] = self._translation(ours, corpus.FOREIGN, audio, detector)
        return out

    @staticmethod
    def _summary(references, items, audio_seconds):
        from dream_stt.word_error_rate import word_error_rate

        seconds = sum(i['seconds'] for i in items)
        return {'wer': round(word_error_rate(references, [i['text'] for i in items]), 4),
                'real_time_factor': round(seconds / audio_seconds, 3),
                'processing_s': round(seconds, 2)}

    def _raw(self, loaded, samples, audio, vad_filter=False):
        items = []
        with loaded.model.as_plain_model() as model:   # faster-whisper as it comes
            for s in samples:
                started = time.perf_counter()
                segments, _ = model.transcribe(audio[s.name], beam_size=5,
                                               vad_filter=vad_filter)
                text = ' '.join(seg.text.strip() for seg in segments)
                items.append({'text': text, 'seconds': time.perf_counter() - started})
        total = sum(audio[s.name].size for s in samples) / 16000
        return {'items': items, 'summary': self._summary([s.text for s in samples], items,
                                                         total)}

    def _ours(self, recognizer, samples, audio, detector):
        from dream_stt.file_transcription import transcribe_recording

        items = []
        for s in samples:
            started = time.perf_counter()
            result, _ = transcribe_recording(audio[s.name], recognizer, detector)
            items.append({'name': s.name, 'text': result.text, 'status': result.status.name,
                          'avg_logprob': round(result.avg_logprob, 3),
                          'no_speech_prob': round(result.no_speech_prob, 3),
                          'seconds': time.perf_counter() - started})
        total = sum(audio[s.name].size for s in samples) / 16000
        return {'items': items, 'summary': self._summary([s.text for s in samples], items,
                                                         total)}

    def _latency(self, recognizer, samples, detector, repeats, min_silence=None):
        """Stream a ~10 s dream through the segmenter in real time, 0.1 s chunks, as the
        nodes do: previews go to a RecognitionWorker as in stt_node (early recognition).

        Two clocks: from the end of the utterance (the VAD's cut, the moment the machine
        knows the visitor has finished) to the transcript, which is what recognition adds;
        and from the last spoken word, which also includes the configured silence wait."""
        from dream_audio.segmenter import SegmenterConfig, UtteranceSegmenter

        config = SegmenterConfig() if min_silence is None else SegmenterConfig(
            min_silence=min_silence)
        runs = [self._stream_once(recognizer, samples, detector, config, UtteranceSegmenter)
                for _ in range(repeats)]
        if any(r is None for r in runs):
            return {'error': 'the segmenter found no utterance'}

        def median(name):
            return round(statistics.median(r[name] for r in runs), 3)
        return {'utterance_s': median('utterance_s'),
                'status': runs[-1]['status'],
                'early_recognition_used': sum(r['reused'] for r in runs),
                'runs': len(runs),
                'min_silence_s': config.min_silence,
                'utterance_end_to_transcript_s': median('cut_to_transcript_s'),
                'utterance_end_to_transcript_all_s': [round(r['cut_to_transcript_s'], 3)
                                                      for r in runs],
                'vad_silence_wait_s': median('wait_s'),
                'speech_end_to_transcript_s': median('speech_end_to_transcript_s'),
                'speech_end_to_transcript_all_s': [round(r['speech_end_to_transcript_s'], 3)
                                                   for r in runs],
                # Without early recognition the decode starts at the cut:
                'decode_after_cut_s': median('decode_s'),
                'decode_after_cut_cpu_s': median('decode_cpu_s'),
                'speech_end_to_transcript_without_early_s': round(
                    median('wait_s') + median('decode_s'), 3)}

    @staticmethod
    def _stream_once(recognizer, samples, detector, config, segmenter_class):
        from dream_stt.recognition_worker import RecognitionWorker, audio_key

        segmenter = segmenter_class(detector, config)
        worker = RecognitionWorker(
            lambda audio, task, language, ratio: recognizer.recognize(audio,
                                                                      speech_ratio=ratio))
        done = threading.Event()
        outcome = {}

        def on_done(result):
            outcome.update(result=result, at=time.perf_counter())
            done.set()
        try:
            started = time.perf_counter()
            utterance = cut_at = None
            for i in range(0, samples.size, 1600):
                time.sleep(max(0.0, started + (i + 1600) / 16000 - time.perf_counter()))
                found = segmenter.feed(samples[i:i + 1600], i)
                preview = segmenter.take_preview()
                if preview is not None:
                    worker.speculate(audio_key('', preview.start_index, preview.samples,
                                               'transcribe', None), preview.samples,
                                     'transcribe', None, preview.speech_ratio)
                if found:
                    utterance, cut_at, cut_index = found[0], time.perf_counter(), i + 1600
                    worker.final(audio_key('', utterance.start_index, utterance.samples,
                                           'transcribe', None), utterance.samples,
                                 'transcribe', None, utterance.speech_ratio, on_done)
                    break
            if utterance is None or not done.wait(120):
                return None
        finally:
            worker.close()
        speech_end = utterance.end_index - round(config.post_roll * 16000)
        recognizer.loaded.model.forget_encodings()  # from scratch, as without early recognition
        decode_started, cpu_started = time.perf_counter(), time.process_time()
        recognizer.recognize(utterance.samples, speech_ratio=utterance.speech_ratio)
        return {'utterance_s': utterance.duration,
                'status': outcome['result'].recognition.status.name,
                'reused': outcome['result'].reused,
                'wait_s': (cut_index - speech_end) / 16000,
                'speech_end_to_transcript_s': outcome['at'] - (started + speech_end / 16000),
                'cut_to_transcript_s': outcome['at'] - cut_at,
                'decode_s': time.perf_counter() - decode_started,
                'decode_cpu_s': time.process_time() - cpu_started}

    def _translation(self, recognizer, samples, audio, detector):
        from dream_stt.file_transcription import transcribe_recording
        from dream_stt.word_error_rate import word_error_rate

        items = []
        for s in samples:
            started = time.perf_counter()
            result, _ = transcribe_recording(audio[s.name], recognizer, detector,
                                             task='translate')
            items.append({'name': s.name, 'spoken': s.text, 'reference': s.english,
                          'original_text': result.original_text, 'text': result.text,
                          'language': result.language,
                          'language_probability': round(result.language_probability, 3),
                          'status': result.status.name, 'passes': result.passes,
                          'seconds': round(time.perf_counter() - started, 2)})
        return {'wer_vs_reference_english': round(word_error_rate(
                    [s.english for s in samples], [i['text'] for i in items]), 4),
                'language_detected_correctly': sum(i['language'] == s.language
                                                   for s, i in zip(samples, items)),
                'items': items}
