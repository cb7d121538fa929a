"""``dream replay BAG``: a recorded session back onto its topics, or re-run from a stage.

Plain replay publishes every recorded message with its timing (``--rate``, ``--clock`` for
nodes with ``use_sim_time``, ``--topics`` to choose). ``--from-stage`` runs the pipeline again
from a chosen stage as a new, recorded session: the stages before it are played from the bag,
the stages from it on run live (with ``dream run``'s options, which plain replay refuses, as a
re-run refuses --set for the nodes it plays from the bag), e.g. re-draw an old transcript with
another CLIP model::

    dream replay sessions/20261122T130509Z_x --from-stage clipdraw --set clipdraw.preset=cpu

A re-run starts from the accepted attempt (the last transcript with an OK status, and the
utterance it came from), not from one the visitor was asked to repeat; from stt without an
accepted transcript, the last utterance is re-transcribed. Once its recorded input is used,
a re-run asked to repeat fails then, not at its listening timeout. Its bag notes where it
came from (the status "re-run of BAG from stage S"). Exit status as ``dream run --once``:
0 done, 1 failed or cancelled (Ctrl-C or --timeout included), 2 no session happened. Plain
replay stops at once on Ctrl-C or SIGTERM (exit 130, 143).
"""
import argparse
import signal
import sys
import threading
import time

from dream_session.run_verb import (STATE_NAMES, OneSessionOver, add_system_arguments, report,
                                    require_session_manager, system_overrides)

SESSION_OPEN_WAIT = 10.0    # seconds for the manager's listening status after speech starts

# Nodes replaced by the recording when the pipeline restarts at each stage.
UPSTREAM = {
    'stt': ('audio_capture', 'vad'),
    'clipdraw': ('audio_capture', 'vad', 'stt'),
    'plot': ('audio_capture', 'vad', 'stt', 'clipdraw'),
}


class ReplayVerb:
    help = 'play a recorded session back, or re-run it from a stage'

    def add_arguments(self, parser):
        self._parser = parser
        parser.add_argument('bag', help='a session bag directory (or the .mcap file in it)')
        play = parser.add_argument_group('plain replay (without --from-stage)')
        self._play_options = [
            play.add_argument('--rate', type=float, default=1.0,
                              help='playback speed factor'),
            play.add_argument('--clock', action='store_true',
                              help='publish /clock from the bag'),
            play.add_argument('--topics', nargs='+', help='only these topics')]
        parser.add_argument('--from-stage', choices=sorted(UPSTREAM),
                            help='re-run the pipeline from this stage as a new session')
        rerun = parser.add_argument_group(
            're-run (only with --from-stage)',
            'the system that runs the stages from the chosen one on, as dream run starts it')
        self._system_options = add_system_arguments(
            rerun, timeout_help='give up on the re-run after this many seconds', sim_time=False)
        # Not offered (hidden), only accepted to say why not: see _refuse_misplaced.
        parser.add_argument('--use-sim-time', action='store_true', help=argparse.SUPPRESS)

    def _refuse_misplaced(self, args):
        """A usage error for options that the chosen mode would ignore, and for --set aimed
        at nodes that the re-run does not start (their part is played from the bag)."""
        from dream_session.system_config import parse_assignment

        def given(actions):
            return [a.option_strings[0] for a in actions if getattr(args, a.dest) != a.default]
        if not args.from_stage and given(self._system_options):
            self._parser.error(f'{", ".join(given(self._system_options))}: only with '
                               '--from-stage (plain replay starts no nodes)')
        if args.from_stage and given(self._play_options):
            self._parser.error(f'{", ".join(given(self._play_options))}: only without '
                               '--from-stage (the re-run plays no recorded timing)')
        if args.use_sim_time:
            self._parser.error(
                '--use-sim-time: a re-run (--from-stage) runs live, in wall time: nothing '
                'publishes /clock in it, so its stamps would all be 0 and its stage timeouts '
                'would never fire' if args.from_stage else
                '--use-sim-time: plain replay starts no nodes; --clock publishes the bag\'s '
                'time for nodes that run with use_sim_time')
        skipped = UPSTREAM.get(args.from_stage, ())
        aimed = {text: parse_assignment(text)[0] for text in args.set}
        aimed = {text: node for text, node in aimed.items() if node in skipped}
        if aimed:
            nodes = ', '.join(dict.fromkeys(aimed.values()))
            self._parser.error(f'--set {", ".join(aimed)}: the re-run from stage '
                               f'{args.from_stage} does not start {nodes} (played from the bag)')

    def main(self, args):
        from dream_session.bag_recovery import (bag_folder, live_recorder, needs_recovery,
                                                recovery_hint, still_recording)
        self._refuse_misplaced(args)
        args.bag = bag_folder(args.bag)
        recorder = live_recorder(args.bag)
        if recorder is not None and recorder.host:
            raise ValueError(still_recording(args.bag, recorder, 'replayed'))
        if recorder is not None:
            raise ValueError(f'{args.bag} is being recorded ({recorder}), so it cannot be '
                             'replayed yet: replay it once its session has ended')
        if needs_recovery(args.bag):
            hint = recovery_hint(args.bag)
            raise ValueError(f'{args.bag} was not closed properly, so it cannot be replayed'
                             + (f'{hint} first' if hint.startswith(': run') else hint))
        if args.from_stage:
            return self._rerun(args)
        return self._play(args)

    def _play(self, args):
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        from dream_session.bag_replay import BagPlayer
        # rclpy's own handlers would invalidate the context and leave playback asleep until
        # its next message (then failing to publish): Ctrl-C and SIGTERM stop it at once.
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
        stopped_by = []

        def stop(signum, frame):
            stopped_by.append(signum)
            raise KeyboardInterrupt
        previous = signal.signal(signal.SIGTERM, stop)
        node = rclpy.create_node('dream_replay')
        progress = None
        try:
            player = BagPlayer(node, args.bag, rate=args.rate, publish_clock=args.clock,
                               topics=args.topics)
            player.wait_for_subscribers()
            progress = _progress_bar(len(player.messages))
            count = player.play(progress=progress)
            print(f'published {count} messages', file=sys.stderr)
            time.sleep(0.5)    # let the last messages leave before the node goes
        except KeyboardInterrupt:
            if progress is not None:
                progress.bar.close()
            print('dream replay: interrupted', file=sys.stderr)
            return 128 + (stopped_by[0] if stopped_by else signal.SIGINT)
        finally:
            signal.signal(signal.SIGTERM, previous)
            node.destroy_node()
            rclpy.try_shutdown()
        return 0

    def _rerun(self, args):
        from dream_session.runner import SingleProcessRunner
        from dream_session.system_config import NodeSpec, load_system

        recorded = recorded_input(args.bag, args.from_stage)
        require_session_manager(args, f'--from-stage {args.from_stage}')
        specs = [s for s in load_system(args.config, driver=args.driver,
                                        record=not args.no_record,
                                        overrides=system_overrides(
                                            args, {'session_manager': {'once': True}}))
                 if s.name not in UPSTREAM[args.from_stage]]
        if args.from_stage == 'plot':
            specs.append(NodeSpec('clipdraw', 'dream_session.recorded_drawing_server:'
                                  'RecordedDrawingServer', '', {'bag': str(args.bag)}))
        runner = SingleProcessRunner(specs).start()     # wall time: no /clock in a re-run
        runner.catch_signals()          # a Ctrl-C while the recording is injected counts
        over = RecordedInputUsed(runner)
        try:
            over.why = self._inject(runner, recorded, args.from_stage,
                                    origin=f're-run of {args.bag} from stage {args.from_stage}')
            finished = not over.why and runner.wait(over, timeout=args.timeout)
        finally:
            runner.stop()
        sessions = report(runner)       # a session cut short by stop() counts as cancelled
        if sessions:
            return 0 if sessions[0].state == STATE_NAMES.index('done') else 1
        why = over.why or ('interrupted' if runner.interrupted else
                           f'none within {args.timeout:g} s' if not finished else 'none')
        print(f'no session finished: {why}', file=sys.stderr)
        return 2

    @staticmethod
    def _inject(runner, recorded, stage, origin):
        """Play the upstream stages' part: speech starting, the utterance, then (past stt)
        the transcript. The session must exist before the utterance comes, as it does live
        (it opens when speech starts): the recorder files a message under a live session.
        The session's id is known then (its listening status), and the injected messages
        carry it, as the first utterance of the new session; a status message with
        ``origin`` as its text records in the new bag where the re-run came from. Returns
        why the injection stopped short (interrupted, no session opened), or None."""
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool

        from dream_interfaces.msg import SessionStatus, Transcript, Utterance
        import rclpy
        node = rclpy.create_node('dream_replay', context=runner.context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        listening = []
        node.create_subscription(
            SessionStatus, 'session/status',
            lambda s: s.session_id and s.state == SessionStatus.STATE_LISTENING
            and listening.append(s), latched)
        status_pub = node.create_publisher(SessionStatus, 'session/status', latched)
        runner.add_node(node)
        utterance = recorded.get('audio/utterance') or Utterance()
        speaking = node.create_publisher(Bool, 'audio/speaking', qos)
        pubs = [(node.create_publisher(Utterance, 'audio/utterance', qos), utterance)]
        if stage != 'stt':
            pubs.append((node.create_publisher(Transcript, 'speech/transcript', qos),
                         recorded['speech/transcript']))

        def pause(seconds, until=lambda: False):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not until() and not runner.interrupted:
                time.sleep(0.02)
            return not runner.interrupted
        if not pause(10, lambda: all(p.get_subscription_count()
                                     for p in [speaking] + [p for p, _ in pubs])):
            return 'interrupted'
        speaking.publish(Bool(data=True))
        if not pause(SESSION_OPEN_WAIT, lambda: bool(listening)):
            return 'interrupted'
        if not listening:
            return (f'the session manager opened no session within {SESSION_OPEN_WAIT:g} s '
                    'of speech starting')
        if not pause(0.3):                 # the recorder opens the session's bag
            return 'interrupted'
        note = listening[0]
        note.message = origin
        status_pub.publish(note)
        for _, msg in pubs:                # the re-run is a new session: its first utterance
            msg.session_id, msg.utterance_index = note.session_id, 0
        for pub, msg in pubs:
            pub.publish(msg)
            if not pause(0.3):
                return 'interrupted'
        speaking.publish(Bool(data=False))
        return None


def recorded_input(bag, stage):
    """{topic: message} that a re-run from ``stage`` starts from: the accepted transcript
    (the last final one with an OK status) and the utterance it came from (same session and
    utterance index); from stt without an accepted one, the last utterance (another model
    may accept it). ValueError when the bag has nothing to start from."""
    from rclpy.serialization import deserialize_message

    from dream_interfaces.msg import Transcript
    from dream_session.bag_replay import message_class, read_messages
    found = {'audio/utterance': [], 'speech/transcript': [], 'session/status': [],
             'drawing': []}
    for _, topic, msgtype, raw in read_messages(bag):
        if topic.lstrip('/') in found:
            found[topic.lstrip('/')].append(deserialize_message(raw, message_class(msgtype)))
    utterances = found['audio/utterance']
    accepted = [t for t in found['speech/transcript']
                if t.is_final and t.status == Transcript.STATUS_OK]
    chosen = {}
    if accepted:
        chosen['speech/transcript'] = transcript = accepted[-1]
        same = [u for u in utterances if (u.session_id, u.utterance_index)
                == (transcript.session_id, transcript.utterance_index)]
        if same:
            chosen['audio/utterance'] = same[-1]
    elif stage != 'stt':
        ended = 'ended unrecorded'
        if found['session/status']:
            last = found['session/status'][-1]
            state = STATE_NAMES[last.state]
            ended = f'ended {state}' + (
                f' in {STATE_NAMES[last.previous_state]}' if state in ('failed', 'cancelled')
                else '') + (f' ({last.message})' if last.message else '')
        raise ValueError(f'no accepted transcript in {bag}: the session {ended}')
    if stage == 'stt' and 'audio/utterance' not in chosen:
        if not utterances:
            raise ValueError(f'{bag} has no audio/utterance message to start the stt stage '
                             'from')
        chosen['audio/utterance'] = utterances[-1]
    if stage == 'plot' and not found['drawing']:
        raise ValueError(f'{bag} has no drawing message to start the plot stage from')
    return chosen


class RecordedInputUsed(OneSessionOver):
    """The wait of a re-run, whose input (the recorded messages) is used up once injected:
    a session listening again then (asked to repeat a rejected utterance) will hear nothing
    more, and fails, as ``dream run --once`` fails one when its file has played out."""

    ENDED = "the re-run's recorded input was used"
    UNHEARD = "the re-run's recorded input started no session"

    def input_used_up(self):
        return True


def _progress_bar(total):
    from tqdm import tqdm
    bar = tqdm(total=total, unit='msg', file=sys.stderr)
    lock = threading.Lock()

    def update(done, _total):
        with lock:
            bar.update(done - bar.n)
            if done == _total:
                bar.close()
    update.bar = bar
    return update
