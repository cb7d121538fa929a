"""``dream bench hearing``: end of speech -> transcript through the real nodes.

``dream bench stt`` times recognition in one thread; this times what a visitor waits for in
the running machine: audio_capture plays a spoken ~12 s dream (espeak-ng) in real time, as a
microphone would deliver it, through the VAD and the speech node of the shipped
configuration (each node on its own executor thread, as ``dream run`` does). A listener
takes the arrival of the utterance (the VAD's cut) and of the final transcript on the system
clock, which also stamps the audio: the last word was heard at the utterance's end stamp
minus the VAD's post-roll. Prints JSON.
"""
import json
import math
import pathlib
import statistics
import sys
import tempfile
import threading
import time


def _check_options(args):
    """Usage errors before the speech is synthesised and the nodes start: a model the
    speech node cannot find would only show as an error transcript after the playback."""
    from dream_stt import model_store

    if args.repeats < 1:
        raise ValueError(f'--repeats must be >= 1, got {args.repeats}')
    if args.min_silence is not None and not (math.isfinite(args.min_silence)
                                             and args.min_silence > 0):
        raise ValueError(f'--min-silence must be > 0 seconds, got {args.min_silence}')
    if args.text is not None and not args.text.strip():  # else the default dream, unasked
        raise ValueError('--text is empty: give words to say, or leave it out for the '
                         'default dream')
    model_store.check_option('--stt-model', args.stt_model)


class HearingBenchmark:
    help = 'end of speech -> transcript through the capture, VAD and speech nodes'

    def add_arguments(self, parser):
        parser.add_argument('--repeats', type=int, default=3, help='dreams played (median)')
        parser.add_argument('--stt-model', default='',
                            help="Whisper model (default: the configuration's)")
        parser.add_argument('--min-silence', type=float, default=None,
                            help="VAD silence wait in seconds (default: the configuration's)")
        parser.add_argument('--no-early-recognition', action='store_true',
                            help='decode only after the cut')
        parser.add_argument('--text', default=None,
                            help='what is said (default: the ~12 s dream of bench stt)')
        parser.add_argument('--config', help='system YAML (default: the shipped one)')

    def main(self, args):
        _check_options(args)
        from dream_audio.speech_synthesis import synthesize
        from dream_stt.bench_corpus import LONG_DREAM

        work = pathlib.Path(tempfile.mkdtemp(prefix='dream-hearing-'))
        text = LONG_DREAM.text if args.text is None else args.text
        wav = synthesize(text, work / 'dream.wav', voice=LONG_DREAM.voice,
                         wpm=LONG_DREAM.wpm, pad_before=1.0, pad_after=4.0)
        runs = []
        for i in range(args.repeats):
            run = self._play_once(args, wav)
            runs.append(run)
            print(f'run {i + 1}/{args.repeats}: ' + (
                f'last word -> transcript {run["speech_end_to_transcript_s"]:.2f} s, '
                f'cut -> transcript {run["utterance_end_to_transcript_s"]:.2f} s'
                if 'error' not in run else run['error']), file=sys.stderr, flush=True)
        good = [r for r in runs if 'error' not in r]
        if not good:  # no figure to print: say why instead
            raise RuntimeError('every run failed: ' + '; '.join(
                sorted({r['error'] for r in runs})))

        def median(key):
            return round(statistics.median(r[key] for r in good), 3)
        print(json.dumps({
            'benchmark': 'hearing', 'runs': len(runs), 'ok': len(good),
            'errors': [r['error'] for r in runs if 'error' in r],
            'stt_model': good[0]['model'],
            'early_recognition': not args.no_early_recognition,
            'min_silence_s': runs[0]['min_silence_s'],
            'utterance_s': median('utterance_s'),
            'speech_end_to_transcript_s': median('speech_end_to_transcript_s'),
            'utterance_end_to_transcript_s': median('utterance_end_to_transcript_s'),
            'runs_detail': runs,
        }, indent=2))
        return 0 if len(good) == len(runs) else 1

    def _play_once(self, args, wav):
        import rclpy

        from dream_audio.vad_node import UTTERANCE_QOS
        from dream_interfaces.msg import Transcript, Utterance
        from dream_session.runner import SingleProcessRunner
        from dream_session.system_config import load_system
        from dream_stt.stt_node import TRANSCRIPT_QOS

        stt = {'early_recognition': not args.no_early_recognition}
        if args.stt_model:
            stt['model'] = args.stt_model
        vad = {} if args.min_silence is None else {'min_silence': args.min_silence}
        specs = [s for s in load_system(args.config, record=False, overrides={
            'audio_capture': {'source': 'file', 'file_path': str(wav), 'realtime': True},
            'vad': vad, 'stt': stt}) if s.name in ('audio_capture', 'vad', 'stt')]
        events = {}
        got = threading.Event()
        runner = SingleProcessRunner(specs, log=lambda *a: None).start()
        try:
            vad_node = runner.nodes['vad']
            post_roll = vad_node.get_parameter('post_roll').value
            min_silence = vad_node.get_parameter('min_silence').value
            model = runner.nodes['stt'].get_parameter('model').value
            node = rclpy.create_node('hearing_bench', context=runner.context)

            def now():
                return node.get_clock().now().nanoseconds * 1e-9

            def on_utterance(msg):
                events.setdefault('utterance', (now(), msg))

            def on_preview(msg):
                events['preview'] = (now(), msg)   # the last one: the pause that lasted
                events['previews'] = events.get('previews', 0) + 1

            def on_transcript(msg):
                if msg.is_final and 'transcript' not in events:
                    events['transcript'] = (now(), msg)
                    got.set()
            node.create_subscription(Utterance, 'audio/utterance', on_utterance, UTTERANCE_QOS)
            node.create_subscription(Utterance, 'audio/utterance_preview', on_preview,
                                     UTTERANCE_QOS)
            node.create_subscription(Transcript, 'speech/transcript', on_transcript,
                                     TRANSCRIPT_QOS)
            runner.add_node(node)
            if not got.wait(120):
                return {'error': 'no transcript within 120 s', 'min_silence_s': min_silence}
            deadline = time.monotonic() + 5.0   # the listener may take them in either order
            while 'utterance' not in events and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            runner.stop()
        if 'utterance' not in events:
            return {'error': 'a transcript came without an utterance', 'min_silence_s':
                    min_silence}
        cut_at, utterance = events['utterance']
        heard_at, transcript = events['transcript']
        if transcript.status == Transcript.STATUS_ERROR:  # no recognition was timed
            return {'error': f'error transcript: {transcript.status_message}',
                    'min_silence_s': min_silence}
        end = utterance.end.sec + utterance.end.nanosec * 1e-9
        start = utterance.start.sec + utterance.start.nanosec * 1e-9
        speech_end = end - post_roll if utterance.end_reason == Utterance.END_SILENCE else end
        preview_at = events.get('preview', (None,))[0]
        return {'model': model, 'min_silence_s': min_silence,
                'utterance_s': round(end - start, 3),
                'previews': events.get('previews', 0),
                'preview_after_speech_end_s': (None if preview_at is None
                                               else round(preview_at - speech_end, 3)),
                'status': transcript.status, 'text': transcript.text,
                'speech_end_to_transcript_s': round(heard_at - speech_end, 3),
                'utterance_end_to_transcript_s': round(heard_at - cut_at, 3),
                'processing_time_s': round(transcript.processing_time, 3)}
