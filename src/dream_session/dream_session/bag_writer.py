"""One rosbag2 (MCAP) per session, written from raw serialized messages with rosbags.

Crash safety: rosbags buffers up to 1 MiB of messages in an open MCAP chunk and writes the
index and ``metadata.yaml`` only on close. We close the chunk and flush it to disk at least
every ``flush_interval`` seconds, so a killed recorder loses at most that much;
:mod:`dream_session.bag_recovery` turns such an unfinished bag into a complete one.
"""
import os
import socket
import pathlib
import threading
import time

from rosbags.rosbag2 import StoragePlugin, Writer

from dream_session.interface_types import dream_typestore
from dream_session.session_paths import session_dir_name

UNFINISHED_MARKER = 'RECORDING'


class SessionBagWriter:
    """Writes the messages of one session into ``root/<time>_<safe id>/``."""

    def __init__(self, root, session_id, *, started=None, flush_interval=0.5,
                 typestore=None, clock=time.monotonic):
        self.session_id = session_id
        self.path = pathlib.Path(root) / session_dir_name(session_id, started)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._typestore = typestore or dream_typestore()
        self._writer = Writer(self.path, version=Writer.VERSION_LATEST,
                              storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        # Marks the bag as still being written (removed on close): recovery and readers know.
        # The host: a pid means nothing on another machine sharing the sessions folder.
        (self.path / UNFINISHED_MARKER).write_text(
            f'{session_id}\n{os.getpid()}\n{socket.gethostname()}\n')
        self._connections = {}
        self._lock = threading.Lock()
        self._flush_interval = flush_interval
        self._clock = clock
        self._last_flush = clock()
        self._unflushed = False
        self.message_count = 0
        self.closed = False

    def add_topic(self, topic, msgtype):
        """Declare a topic; ``msgtype`` like ``dream_interfaces/msg/Transcript``."""
        with self._lock:
            if topic not in self._connections:
                self._connections[topic] = self._writer.add_connection(
                    topic, msgtype, typestore=self._typestore)
            return self._connections[topic]

    def has_topic(self, topic):
        return topic in self._connections

    def write(self, topic, timestamp_ns, data):
        """Write one serialized (CDR) message; the topic must have been added."""
        with self._lock:
            if self.closed:
                raise RuntimeError(f'bag {self.path} is closed')
            self._writer.write(self._connections[topic], int(timestamp_ns), bytes(data))
            self.message_count += 1
            self._unflushed = True
        self.flush_if_due()

    def write_message(self, topic, msgtype, timestamp_ns, message):
        """Serialize a rosbags message object and write it (for tools without rclpy)."""
        self.add_topic(topic, msgtype)
        self.write(topic, timestamp_ns, self._typestore.serialize_cdr(message, msgtype))

    def flush_if_due(self):
        if self._unflushed and self._clock() - self._last_flush >= self._flush_interval:
            self.flush()

    def flush(self):
        """Put everything written so far on disk as complete MCAP chunks."""
        with self._lock:
            if self.closed or not self._unflushed:
                return
            storage = self._writer.storage
            if storage.chunk.bio.tell():
                storage.close_chunk()
            storage.bio.flush()
            os.fsync(storage.bio.fileno())
            self._unflushed = False
            self._last_flush = self._clock()

    def close(self):
        with self._lock:
            if self.closed:
                return
            self._writer.close()
            self.closed = True
        (self.path / UNFINISHED_MARKER).unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
