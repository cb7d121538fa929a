"""Turn a bag whose recorder died into a complete, readable rosbag2.

A killed recorder leaves an MCAP file without its summary and footer, and no
``metadata.yaml``. Every chunk flushed before the kill is intact, so we stream the file up to
the first incomplete record and write its messages, with their original definitions, into a
new bag that replaces the broken one (kept beside it as ``*.mcap.partial``). A bag cut off or
corrupted after it was closed looks finished but cannot be read; it is mended the same way.
"""
import os
import pathlib
import shutil
import socket
import struct
from dataclasses import dataclass

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from dream_session.bag_writer import UNFINISHED_MARKER

MCAP_MAGIC = b'\x89MCAP0\r\n'   # how every MCAP file starts, even one cut off at once


class BagRecoveryError(Exception):
    """The bag cannot be recovered (no MCAP file, not MCAP at all)."""


class NotABag(ValueError):
    """The path given as a session bag is not one."""


def bag_folder(path):
    """The session bag a user named, by its folder or the .mcap file in it; NotABag, saying
    what is there instead, for anything else (a recording that never started, a typo)."""
    path = pathlib.Path(path)
    if path.is_file() and path.suffix == '.mcap':
        # else random bytes named .mcap pass for a recording whose recorder died
        with open(path, 'rb') as stream:
            if stream.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
                raise NotABag(f'{path} is not a readable MCAP file, so not a session bag')
        path = path.parent
    if not path.exists():
        raise NotABag(f'no such session bag: {path}')
    if not path.is_dir():
        raise NotABag(f'{path} is a file, not a session bag (a folder with metadata.yaml '
                      'and a .mcap file)')
    if not is_bag_dir(path):
        raise NotABag(f'{path} is not a session bag: it holds neither metadata.yaml nor a '
                      '.mcap file')
    return path


def is_bag_dir(path):
    """Whether ``path`` is a rosbag2 folder, finished (metadata.yaml) or not (a .mcap file)."""
    path = pathlib.Path(path)
    return path.is_dir() and ((path / 'metadata.yaml').is_file() or any(path.glob('*.mcap')))


def needs_recovery(bag_dir):
    bag_dir = pathlib.Path(bag_dir)
    return (bag_dir / UNFINISHED_MARKER).exists() or not (bag_dir / 'metadata.yaml').exists()


@dataclass(frozen=True)
class Recorder:
    """The process that the bag's marker names as writing it."""

    pid: int
    host: str = ''          # '' : this host (and markers written before hosts were kept)

    def __str__(self):
        return f'pid {self.pid}' + (f' on host {self.host}' if self.host else '')


def live_recorder(bag_dir, *, force=False):
    """The Recorder still writing the bag, or None (finished, or its recorder died).

    The writer's marker holds the session id, its pid and its host; a live recorder means
    recovering would rename the file under it. A marker written on another host cannot be
    checked from here: it counts as live unless ``force`` (someone checked that host)."""
    try:
        lines = (pathlib.Path(bag_dir) / UNFINISHED_MARKER).read_text().splitlines()
        pid = int(lines[1])
    except (OSError, ValueError, IndexError):
        return None
    host = lines[2].strip() if len(lines) > 2 else ''
    if host == socket.gethostname():
        host = ''
    if host:
        return None if force else Recorder(pid, host)
    if pid <= 0:        # os.kill(0 or -n) would signal whole process groups
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:     # alive, another user's
        return Recorder(pid)
    except OSError:
        return None
    try:                # a killed recorder not yet reaped by its parent writes no more
        with open(f'/proc/{pid}/stat') as stat:
            if stat.read().rpartition(')')[2].split()[0] == 'Z':
                return None
    except (OSError, IndexError):
        pass
    return Recorder(pid)


def still_recording(bag, recorder, doing):
    """Why ``doing`` (e.g. 'recovered') waits for the bag's recorder."""
    if not recorder.host:
        return f'{bag}: being recorded ({recorder}), not {doing}: its recorder is still writing it'
    return (f'{bag}: being recorded ({recorder}), not {doing}: this machine cannot tell whether '
            f'that recorder still runs; once it has stopped, run "dream bag recover --force '
            f'{bag}"')


def damage(bag_dir):
    """Why a bag that looks finished cannot be read to its end (e.g. a file cut off after it
    was closed), or None: only reading it tells, its metadata.yaml still says all is well."""
    from rosbags.rosbag2 import Reader
    try:
        with Reader(bag_dir) as reader:
            for _ in reader.messages():
                pass
    except Exception as exc:  # rosbags raises its own, MCAP, YAML and OS errors
        return str(exc) or type(exc).__name__
    return None


def unreadable(bag, exc):
    """The one line for a bag that cannot be read, naming it and the repair where one exists
    (only then: recovery of a bag with nothing readable only fails in turn)."""
    bag = pathlib.Path(bag)
    return f'{bag}: damaged bag, cannot be read ({str(exc) or type(exc).__name__})' \
        + recovery_hint(bag)


def recovery_hint(bag):
    """': run "dream bag recover BAG"' if that would save something, else why not ('' if the
    bag holds no MCAP file at all)."""
    bag = pathlib.Path(bag)
    if recoverable(bag):
        return f': run "dream bag recover {bag}"'
    if bag.is_dir() and any(bag.glob('*.mcap')):
        return ': nothing in it can be recovered'
    return ''


def recoverable(bag_dir):
    """Whether ``recover_bag`` would find a channel or message in the bag (reads only up to
    the first one)."""
    bag_dir = pathlib.Path(bag_dir)
    files = sorted(bag_dir.glob('*.mcap')) if bag_dir.is_dir() else []
    if not files:
        return False
    with open(files[0], 'rb') as stream:
        try:
            for record in StreamReader(stream, record_size_limit=1 << 30).records:
                if isinstance(record, (Channel, Message)):
                    return True
        except (McapError, EOFError, ValueError, OSError, struct.error):
            pass
    return False


def _salvage(mcap_path):
    """Schemas, channels and messages readable before the file breaks off."""
    schemas, channels, messages = {}, {}, []
    truncated = False
    with open(mcap_path, 'rb') as stream:
        try:
            for record in StreamReader(stream, record_size_limit=1 << 30).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    messages.append(record)
        except (McapError, EOFError, ValueError, OSError, struct.error):
            truncated = True
    return schemas, channels, messages, truncated


def recover_bag(bag_dir):
    """Rewrite an unfinished bag in place; returns a dict describing what was salvaged."""
    bag_dir = pathlib.Path(bag_dir)
    files = sorted(bag_dir.glob('*.mcap'))
    if not files:
        raise BagRecoveryError(f'{bag_dir}: no .mcap file to recover')
    schemas, channels, messages, truncated = _salvage(files[0])
    if not channels and not messages:
        raise BagRecoveryError(f'{bag_dir}: nothing readable in {files[0].name}')
    # The writer names the MCAP file (and metadata.yaml names it) after its folder: stage it
    # under the file's own name, which may differ from the bag's if the folder was renamed.
    workdir = bag_dir.with_name(f'.{bag_dir.name}.recovering')
    shutil.rmtree(workdir, ignore_errors=True)
    staging = workdir / files[0].stem
    writer = Writer(staging, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    # The bag carries its own definitions: rebuild the types from them, nothing else.
    store = get_typestore(Stores.EMPTY)
    for schema in schemas.values():
        store.register(get_types_from_msg(schema.data.decode(), schema.name))
    connections = {}
    for cid, channel in sorted(channels.items()):
        schema = schemas.get(channel.schema_id)
        if schema is None:
            continue
        connections[cid] = writer.add_connection(channel.topic, schema.name, typestore=store)
    kept = 0
    for message in sorted(messages, key=lambda m: m.log_time):
        if message.channel_id in connections:
            writer.write(connections[message.channel_id], message.log_time, message.data)
            kept += 1
    writer.close()
    broken = files[0].with_name(files[0].name + '.partial')
    n = 0
    while broken.exists():   # never overwrite the original kept by an earlier recovery
        n += 1
        broken = files[0].with_name(f'{files[0].name}.partial.{n}')
    files[0].rename(broken)
    for produced in staging.iterdir():
        produced.rename(bag_dir / produced.name)
    shutil.rmtree(workdir)
    (bag_dir / UNFINISHED_MARKER).unlink(missing_ok=True)
    return {'bag': str(bag_dir), 'messages': kept, 'topics': len(connections),
            'truncated': truncated, 'original': str(broken)}
