"""``dream bench soak``: many sessions in a row through the real nodes; memory and failures.

The graph is the shipped configuration minus the audio source and VAD: a spoken dream
(espeak-ng, made once) is published as an utterance for each session, so every session runs
speech recognition, CLIPDraw, the simulated plotter and the recorder. CLIP is a tiny random
model by default (the figures are about leaks and robustness, not drawing quality); any of
``--clip-model``, ``--clip-pretrained`` or ``--clip-model-config`` asks for a real one,
with the clipdraw node's defaults for the others. Prints JSON.
"""
import json
import math
import pathlib
import resource
import sys
import tempfile
import time

DREAMS = ['A red whale flew over the sleeping city.',
          'I was walking in a forest of glass trees.',
          'My grandmother was a lighthouse on a quiet sea.']


def _rss_mb():
    for line in pathlib.Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _clip_options(args):
    """The clipdraw node's CLIP parameters the user gave; none means the tiny CLIP."""
    given = {'clip_model': args.clip_model, 'clip_pretrained': args.clip_pretrained,
             'clip_model_config': args.clip_model_config}
    return {k: v.strip() for k, v in given.items() if v.strip()}


def _clip_label(given):
    """The JSON's 'clip': the CLIP options asked for, or the tiny one's purpose."""
    if not given:
        return 'tiny random (timings and leaks only)'
    return ', '.join(f'{k}={v}' for k, v in given.items())


def _check_options(args):
    """Usage errors before the speech is synthesised and the nodes start (otherwise every
    session fails, or a wait never ends); returns the CLIP parameters asked for."""
    from dream_stt import model_store

    if args.sessions < 1:
        raise ValueError(f'--sessions must be >= 1, got {args.sessions}')
    if args.iterations < 1:
        raise ValueError(f'--iterations must be >= 1, got {args.iterations}')
    if not (math.isfinite(args.session_timeout) and args.session_timeout > 0):
        raise ValueError(f'--session-timeout must be > 0, got {args.session_timeout:g}')
    clip = _clip_options(args)
    config = clip.get('clip_model_config')
    if config and not pathlib.Path(config).expanduser().is_file():
        raise ValueError(f'--clip-model-config: file not found: {config}')
    model_store.check_option('--stt-model', args.stt_model)
    return clip


class SoakBenchmark:
    help = 'many sessions in a row through the real nodes: memory growth and failures'

    def add_arguments(self, parser):
        parser.add_argument('--sessions', type=int, default=20, help='sessions to run')
        parser.add_argument('--iterations', type=int, default=5, help='CLIPDraw iterations')
        parser.add_argument('--stt-model', default='tiny.en', help='Whisper model')
        parser.add_argument('--clip-model', default='',
                            help='open_clip architecture (default: a tiny random CLIP when '
                                 'no --clip-* option is given)')
        parser.add_argument('--clip-pretrained', default='',
                            help="CLIP weights (default: the clipdraw node's)")
        parser.add_argument('--clip-model-config', default='',
                            help='CLIP architecture JSON (for a model open_clip does not list)')
        parser.add_argument('--config', help='system YAML (default: the shipped one)')
        parser.add_argument('--session-timeout', type=float, default=300.0,
                            help='seconds a session may take (default %(default)s)')

    def main(self, args):
        asked = _check_options(args)
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from dream_audio.file_source import read_audio_file
        from dream_audio.speech_synthesis import synthesize
        from dream_interfaces.msg import Utterance
        from dream_session.runner import SingleProcessRunner
        from dream_session.system_config import load_system

        work = pathlib.Path(tempfile.mkdtemp(prefix='dream-soak-'))
        clip = asked
        if not asked:
            from dream_clipdraw.tiny_clip import write_tiny_clip
            tiny = write_tiny_clip(work / 'clip')
            clip = {'clip_model': tiny.model_name, 'clip_pretrained': tiny.weights,
                    'clip_model_config': tiny.config}
        utterances = []
        for i, text in enumerate(DREAMS):
            path = synthesize(text, work / f'dream{i}.wav', pad_before=0.3, pad_after=0.3)
            samples = read_audio_file(path).samples
            utterances.append((samples * 32767).clip(-32768, 32767).astype('<i2').tobytes())
        specs = [s for s in load_system(args.config, overrides={
            'stt': {'model': args.stt_model, 'task': 'transcribe', 'language': 'en'},
            'clipdraw': dict(clip, iterations=args.iterations, num_strokes=32),
            'sim': {'time_scale': 0.0, 'output_dir': str(work / 'plots')},
            'recorder': {'output_dir': str(work / 'sessions'), 'close_grace': 0.2}})
            if s.name not in ('audio_capture', 'vad')]
        runner = SingleProcessRunner(specs).start()
        manager = runner.nodes['session_manager']
        node = rclpy.create_node('soak', context=runner.context)
        runner.add_node(node)
        pub = node.create_publisher(Utterance, 'audio/utterance',
                                    QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        while pub.get_subscription_count() < 2:
            time.sleep(0.05)
        rss, durations, outcomes = [_rss_mb()], [], []
        try:
            for i in range(args.sessions):
                start = time.monotonic()
                before = manager.finished_count
                msg = Utterance(sample_rate=16000, channels=1, encoding='pcm_s16le',
                                speech_ratio=1.0, end_reason=Utterance.END_SILENCE)
                msg.data = utterances[i % len(utterances)]
                pub.publish(msg)
                if not runner.wait(lambda: manager.finished_count > before,
                                   timeout=args.session_timeout, install_signals=False):
                    print(f'session {i} did not finish', file=sys.stderr)
                    break
                durations.append(time.monotonic() - start)
                outcomes.append((manager.finished[-1].state, manager.finished[-1].message))
                rss.append(_rss_mb())
                print(f'session {i + 1}/{args.sessions}: '
                      f'{manager.finished[-1].message or "done"} ({durations[-1]:.1f} s, '
                      f'{rss[-1]:.0f} MB)', file=sys.stderr)
        finally:
            runner.stop()
        states = [state for state, _ in outcomes]
        half = len(rss) // 2
        median = sorted(durations)[len(durations) // 2] if durations else None
        print(json.dumps({
            'benchmark': 'soak', 'sessions_requested': args.sessions,
            'sessions_finished': len(states), 'done': states.count(5),
            'failed': states.count(6), 'cancelled': states.count(7),
            'failure_messages': sorted({text for state, text in outcomes if state != 5}),
            'session_seconds_median': median,
            'rss_mb_start': round(rss[0], 1), 'rss_mb_end': round(rss[-1], 1),
            'rss_mb_max': round(max(rss), 1),
            'rss_mb_growth_per_session_second_half': round(
                (rss[-1] - rss[half]) / max(1, len(rss) - 1 - half), 2),
            'bags': len(list((work / 'sessions').glob('*'))) if (work / 'sessions').exists()
            else 0,
            'clip': _clip_label(asked),
        }, indent=2))
        return 0 if states and all(s == 5 for s in states) else 1
