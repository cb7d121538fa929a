"""``dream bag info|recover BAG``: what a session bag holds, and mending a killed recording."""
import sys


class BagVerb:
    help = 'inspect a session bag or recover one whose recorder was killed'

    def add_arguments(self, parser):
        parser.add_argument('action', choices=['info', 'recover'])
        parser.add_argument('bags', nargs='+',
                            help='session bag directories (or the .mcap files in them)')
        parser.add_argument('--force', action='store_true',
                            help='recover: a bag whose recorder ran on another host (sharing '
                                 'the sessions folder), which this machine cannot check; use '
                                 'it only once that recorder has stopped')

    def main(self, args):
        from dream_session.bag_recovery import bag_folder
        status = 0
        for bag in args.bags:
            # One bad bag is reported and the others still are: each error names its bag.
            try:
                bag = bag_folder(bag)
                ok = (self._recover(bag, args.force) if args.action == 'recover'
                      else self._report(bag))
            except BrokenPipeError:
                raise                   # the reader has gone: no other bag is wanted either
            except Exception as exc:
                print(f'dream bag: error: {exc}', file=sys.stderr)
                ok = False
            if not ok:
                status = 1
        return status

    @staticmethod
    def _recover(bag, force=False):
        from dream_session.bag_recovery import (BagRecoveryError, damage, live_recorder,
                                                needs_recovery, recover_bag, still_recording)
        recorder = live_recorder(bag, force=force)
        if recorder is not None:
            # Recovery renames the .mcap: the recorder would go on writing into the renamed
            # file, and the bag would end up with neither the new messages nor its index.
            why = still_recording(bag, recorder, 'recovered')
            raise BagRecoveryError(why if recorder.host else
                                   f'{why}; recover it only if that process dies without '
                                   'closing it')
        if needs_recovery(bag):
            why = 'unfinished recording'
        else:
            why = damage(bag)
            if why is None:
                print(f'{bag}: complete, nothing to recover')
                return True
            why = f'damaged bag ({why})'
        try:
            report = recover_bag(bag)
        except BagRecoveryError:
            raise
        except Exception as exc:  # the MCAP/rosbags stack raises many types on garbage
            raise BagRecoveryError(f'{bag}: {why} that cannot be recovered: {exc}') from exc
        print(f'{bag}: {why}: recovered {report["messages"]} messages on '
              f'{report["topics"]} topics (original kept as {report["original"]})')
        return True

    @staticmethod
    def _report(bag):
        from dream_session.bag_recovery import (live_recorder, needs_recovery, recovery_hint,
                                                unreadable)
        recorder = live_recorder(bag)
        if recorder is not None:    # not damaged: its index and metadata come when it closes
            print(f'{bag}: being recorded ({recorder})'
                  + (', or its recorder died there: this machine cannot tell; once it has '
                     f'stopped, run "dream bag recover --force {bag}"' if recorder.host
                     else ''))
            return True
        if needs_recovery(bag):
            print(f'{bag}: unfinished recording{recovery_hint(bag)}', file=sys.stderr)
            return False
        try:
            text = BagVerb._info(bag)
        except Exception as exc:  # rosbags raises its own, MCAP, YAML and OS errors
            raise ValueError(unreadable(bag, exc)) from exc
        print(text)
        return True

    @staticmethod
    def _info(bag):
        from rosbags.rosbag2 import Reader
        with Reader(bag) as reader:
            lines = [f'bag: {bag}', f'duration: {reader.duration / 1e9:.2f} s',
                     f'messages: {reader.message_count}']
            for conn in sorted(reader.connections, key=lambda c: c.topic):
                lines.append(f'  {conn.topic:<36} {conn.msgtype:<44} {conn.msgcount}')
            lines.insert(1, BagVerb._outcome(reader))
        return '\n'.join(lines)

    @staticmethod
    def _outcome(reader):
        """'session: ID, STATE: message' from the bag's last status: whether the session
        was done, failed or cancelled, without an analysis."""
        from dream_session.interface_types import dream_typestore
        from dream_session.run_verb import STATE_NAMES
        statuses = [c for c in reader.connections if c.topic == 'session/status']
        store, last = dream_typestore(), None
        # (rosbags reads every connection when given none)
        for conn, _, data in reader.messages(connections=statuses) if statuses else ():
            last = store.deserialize_cdr(data, conn.msgtype)
        if last is None:
            return 'session: none recorded (no session/status message)'
        state = STATE_NAMES[last.state] if last.state < len(STATE_NAMES) else str(last.state)
        if state in ('done', 'failed', 'cancelled'):
            return (f'session: {last.session_id}, {state}'
                    + (f': {last.message}' if last.message else ''))
        return (f'session: {last.session_id}, no outcome recorded: the recording ends while '
                f'{state}' + (f' ({last.message})' if last.message not in ('', state) else ''))
