"""``dream replay BAG``: a recorded session back onto its topics, or re-run from a stage.

Plain replay publishes every recorded message with its timing (``--rate``, ``--clock`` for
nodes with ``use_sim_time``, ``--topics`` to choose). ``--from-stage`` runs the pipeline again
from a chosen stage as a new, recorded session: the stages before it are played from the bag,
the stages from it on run live (with ``dream run``'s options, which plain replay refuses, as a
re-run refuses --set for the nodes it plays from the bag), e.g. re-draw an old transcript with
another CLIP model::

    dream replay sessions/20261122T130509Z_x --from-stage clipdraw --set clipdraw.preset=cpu
"""
import sys
import threading
import time

from dream_session.run_verb import STATE_NAMES, add_system_arguments, report, system_overrides

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
            rerun, timeout_help='give up on the re-run after this many seconds')

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
        skipped = UPSTREAM.get(args.from_stage, ())
        aimed = {text: parse_assignment(text)[0] for text in args.set}
        aimed = {text: node for text, node in aimed.items() if node in skipped}
        if aimed:
            nodes = ', '.join(dict.fromkeys(aimed.values()))
            self._parser.error(f'--set {", ".join(aimed)}: the re-run from stage '
                               f'{args.from_stage} does not start {nodes} (played from the bag)')

    def main(self, args):
        from dream_session.bag_recovery import bag_folder, needs_recovery
        self._refuse_misplaced(args)
        args.bag = bag_folder(args.bag)
        if needs_recovery(args.bag):
            raise ValueError(f'{args.bag} was not closed properly: run '
                             f'"dream bag recover {args.bag}" first')
        if args.from_stage:
            return self._rerun(args)
        return self._play(args)

    def _play(self, args):
        import rclpy
        from dream_session.bag_replay import BagPlayer
        rclpy.init()
        node = rclpy.create_node('dream_replay')
        try:
            player = BagPlayer(node, args.bag, rate=args.rate, publish_clock=args.clock,
                               topics=args.topics)
            player.wait_for_subscribers()
            count = player.play(progress=_progress_bar(len(player.messages)))
            print(f'published {count} messages', file=sys.stderr)
            time.sleep(0.5)    # let the last messages leave before the node goes
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
        return 0

    def _rerun(self, args):
        from rclpy.serialization import deserialize_message

        from dream_session.bag_replay import message_class, read_messages
        from dream_session.runner import SingleProcessRunner
        from dream_session.system_config import NodeSpec, load_system

        recorded = {}
        for _, topic, msgtype, raw in read_messages(args.bag):
            recorded.setdefault(topic, deserialize_message(raw, message_class(msgtype)))
        needed = {'stt': 'audio/utterance', 'clipdraw': 'speech/transcript',
                  'plot': 'drawing'}[args.from_stage]
        if needed not in recorded:
            raise ValueError(f'{args.bag} has no {needed} message to start the '
                             f'{args.from_stage} stage from')
        specs = [s for s in load_system(args.config, driver=args.driver,
                                        record=not args.no_record,
                                        overrides=system_overrides(
                                            args, {'session_manager': {'once': True}}))
                 if s.name not in UPSTREAM[args.from_stage]]
        if args.from_stage == 'plot':
            specs.append(NodeSpec('clipdraw', 'dream_session.recorded_drawing_server:'
                                  'RecordedDrawingServer', '', {'bag': str(args.bag)}))
        runner = SingleProcessRunner(specs, use_sim_time=args.use_sim_time).start()
        manager = runner.nodes['session_manager']
        try:
            self._inject(runner, recorded, args.from_stage)
            finished = runner.wait(manager.first_finished.is_set, timeout=args.timeout)
        finally:
            runner.stop()
        sessions = report(runner)
        if not finished or not sessions:
            print('the re-run did not finish', file=sys.stderr)
            return 2
        return 0 if sessions[0].state == STATE_NAMES.index('done') else 1

    @staticmethod
    def _inject(runner, recorded, stage):
        """Play the upstream stages' part: speech starting, the utterance, then (past stt)
        the transcript. The session must exist before the utterance comes, as it does live
        (it opens when speech starts): the recorder files a message under a live session."""
        import threading

        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool

        from dream_interfaces.msg import SessionStatus, Transcript, Utterance
        import rclpy
        node = rclpy.create_node('dream_replay', context=runner.context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        listening = threading.Event()
        node.create_subscription(
            SessionStatus, 'session/status',
            lambda s: s.session_id and s.state == SessionStatus.STATE_LISTENING
            and listening.set(), latched)
        runner.add_node(node)
        utterance = recorded.get('audio/utterance') or Utterance()
        utterance.session_id = ''          # the re-run is a new session
        speaking = node.create_publisher(Bool, 'audio/speaking', qos)
        pubs = [(node.create_publisher(Utterance, 'audio/utterance', qos), utterance)]
        if stage != 'stt':
            transcript = recorded['speech/transcript']
            transcript.session_id = ''
            pubs.append((node.create_publisher(Transcript, 'speech/transcript', qos),
                         transcript))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() for p in [speaking] + [p for p, _ in pubs]):
            time.sleep(0.05)
        speaking.publish(Bool(data=True))
        listening.wait(10)
        time.sleep(0.3)                    # the recorder opens the session's bag
        for pub, msg in pubs:
            pub.publish(msg)
            time.sleep(0.3)
        speaking.publish(Bool(data=False))


def _progress_bar(total):
    from tqdm import tqdm
    bar = tqdm(total=total, unit='msg', file=sys.stderr)
    lock = threading.Lock()

    def update(done, _total):
        with lock:
            bar.update(done - bar.n)
            if done == _total:
                bar.close()
    return update
