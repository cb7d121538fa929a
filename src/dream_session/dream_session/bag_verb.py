"""``dream bag info|recover BAG``: what a session bag holds, and mending a killed recording."""
import sys


class BagVerb:
    help = 'inspect a session bag or recover one whose recorder was killed'

    def add_arguments(self, parser):
        parser.add_argument('action', choices=['info', 'recover'])
        parser.add_argument('bags', nargs='+',
                            help='session bag directories (or the .mcap files in them)')

    def main(self, args):
        from dream_session.bag_recovery import bag_folder
        status = 0
        for bag in args.bags:
            # One bad bag is reported and the others still are: each error names its bag.
            try:
                bag = bag_folder(bag)
                ok = self._recover(bag) if args.action == 'recover' else self._report(bag)
            except Exception as exc:
                print(f'dream bag: error: {exc}', file=sys.stderr)
                ok = False
            if not ok:
                status = 1
        return status

    @staticmethod
    def _recover(bag):
        from dream_session.bag_recovery import (BagRecoveryError, damage, needs_recovery,
                                                recover_bag, recording_pid)
        pid = recording_pid(bag)
        if pid is not None:
            # Recovery renames the .mcap: the recorder would go on writing into the renamed
            # file, and the bag would end up with neither the new messages nor its index.
            raise BagRecoveryError(f'{bag}: being recorded (pid {pid}), not recovered: its '
                                   'recorder is still writing it; recover it only if that '
                                   'process dies without closing it')
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
        from dream_session.bag_recovery import (needs_recovery, recording_pid, recovery_hint,
                                                unreadable)
        pid = recording_pid(bag)
        if pid is not None:     # not damaged: its index and metadata come when it closes
            print(f'{bag}: being recorded (pid {pid})')
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
        return '\n'.join(lines)
