"""``dream bag info|recover BAG``: what a session bag holds, and mending a killed recording."""
import sys


class BagVerb:
    help = 'inspect a session bag or recover one whose recorder was killed'

    def add_arguments(self, parser):
        parser.add_argument('action', choices=['info', 'recover'])
        parser.add_argument('bags', nargs='+',
                            help='session bag directories (or the .mcap files in them)')

    def main(self, args):
        from dream_session.bag_recovery import bag_folder, NotABag, needs_recovery, recover_bag
        status = 0
        for bag in args.bags:
            try:
                bag = bag_folder(bag)
            except NotABag as exc:
                print(f'dream bag: error: {exc}', file=sys.stderr)
                status = 1
                continue
            if args.action == 'recover':
                if not needs_recovery(bag):
                    print(f'{bag}: complete, nothing to recover')
                    continue
                report = recover_bag(bag)
                print(f'{bag}: recovered {report["messages"]} messages on '
                      f'{report["topics"]} topics (original kept as {report["original"]})')
            elif needs_recovery(bag):
                print(f'{bag}: unfinished recording: run "dream bag recover {bag}"',
                      file=sys.stderr)
                status = 1
            else:
                print(self._info(bag))
        return status

    @staticmethod
    def _info(bag):
        from rosbags.rosbag2 import Reader
        with Reader(bag) as reader:
            lines = [f'bag: {bag}', f'duration: {reader.duration / 1e9:.2f} s',
                     f'messages: {reader.message_count}']
            for conn in sorted(reader.connections, key=lambda c: c.topic):
                lines.append(f'  {conn.topic:<36} {conn.msgtype:<44} {conn.msgcount}')
        return '\n'.join(lines)
