"""ROS node: a microphone or an audio file -> ``audio/chunks`` (dream_interfaces/AudioChunk).

Each chunk is stamped with the capture time of its first sample (the PortAudio ADC time for
the microphone; playback start + index / rate for a file), never with the publish time, and
carries a running sample index. An AudioChunk with no data marks the end of the stream.
A missing microphone or a bad file is logged as an error and the node stays up: it retries
the microphone, and setting ``source`` or ``file_path`` at run time starts a new source.

Time: stamps come from the node's clock, so under ``use_sim_time`` they are sim time (/clock).
Until the first /clock arrives that clock reads 0, so a file waits for it (within
``wait_for_subscriber``, as for a subscriber) before it takes its playback start; if none comes
it plays anyway, stamped from 0, with a warning. The microphone stamps whatever the clock reads.
The pacing of ``realtime`` playback and the silent-device watchdog stay on the wall clock:
they are about real audio hardware and real waiting, not about the simulation.
"""
import sys
import threading
import time

import numpy as np
from dream_interfaces.msg import AudioChunk
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from dream_audio.file_source import AudioFileError, FileSource
from dream_audio.levels import peak_dbfs
from dream_audio.microphone_source import AudioDeviceError, MicrophoneSource
from dream_audio.parameters import declare, refuse_other_words
from dream_audio.pcm import ENCODINGS
from dream_audio.resampling import TARGET_RATE
from dream_audio.ros_messages import chunk_to_msg, end_of_stream_msg
from dream_runtime.node_process import run_node

# Reliable: a lost chunk is a hole in the dream. 100 s of 0.1 s chunks of history, so that a
# file played faster than real time is not overwritten before a slower reader takes it.
CHUNK_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                       reliability=ReliabilityPolicy.RELIABLE)
SOURCES = ('microphone', 'file')
# The text parameters that take one of a few words (refused otherwise, listed by dream params).
CHOICES = {'source': SOURCES, 'encoding': ENCODINGS}
SILENT_DEVICE_TIMEOUT = 5.0  # seconds without a block before the device is reopened


class AudioCaptureNode(Node):
    def __init__(self, acquire_resources=True, **kwargs):
        """``acquire_resources=False``: open no microphone or file (a node built only to read
        its parameters, as ``dream params`` does)."""
        # Before the Node: destroy_node needs them, also on a node whose start failed.
        self._lock = threading.Lock()
        self._worker = None
        self._stopping = None
        self._file = None
        super().__init__('audio_capture', **kwargs)
        # Before the declarations: a source or encoding not in its words fails the start.
        refuse_other_words(self, CHOICES)
        declare(self, 'source', 'microphone', 'where audio comes from: microphone or file')
        declare(self, 'file_path', '', 'audio file to play when source is file (WAV, FLAC, '
                'OGG...; any rate and channel count)')
        declare(self, 'realtime', True, 'play files at the pace of speech (false: as fast '
                'as they decode)')
        declare(self, 'chunk_duration', 0.1, 'seconds of audio per chunk', 0.01, 1.0)
        declare(self, 'device', '', 'PortAudio input device, index or part of its name; '
                'empty: the default input')
        declare(self, 'device_sample_rate', 0, 'rate asked of the device in Hz; 0: its '
                'default (audio is resampled to 16 kHz anyway)', 0, 384000)
        declare(self, 'encoding', 'pcm_s16le', f'encoding of the chunks: {", ".join(ENCODINGS)}')
        declare(self, 'session_id', '', 'session id stamped on every chunk')
        declare(self, 'frame_id', 'microphone', 'header.frame_id of the chunks')
        declare(self, 'wait_for_subscriber', 10.0, 'seconds a file waits for a subscriber '
                'to audio/chunks (and, under use_sim_time, for /clock) before it plays (so '
                'that none of it is lost or stamped 0)', 0.0, 3600.0)
        declare(self, 'retry_period', 5.0, 'seconds between attempts to open a missing '
                'microphone', 0.5, 600.0)
        self._publisher = self.create_publisher(AudioChunk, 'audio/chunks', CHUNK_QOS)
        # Why the last source could not play (None: it played or plays): a one-shot run
        # from a file ends on it rather than waiting for speech that cannot come.
        self.source_error = None
        # What went wrong while the last file played (it stopped decoding part way, or it is
        # shorter than its header says), or None; and the loudest sample it gave (dBFS,
        # None before any audio), so that a run that heard no speech can say why.
        self.source_problem = None
        self.source_peak_dbfs = None
        self.add_post_set_parameters_callback(self._on_parameters_set)
        if acquire_resources:
            self._start_source()

    # -- parameters --------------------------------------------------------------------
    def _param(self, name):
        return self.get_parameter(name).value

    def _on_parameters_set(self, parameters):
        if any(p.name in ('source', 'file_path', 'device', 'device_sample_rate')
               for p in parameters):
            self._start_source()

    # -- sources -----------------------------------------------------------------------
    def _now(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _clock_ready(self):
        """False while use_sim_time is on and no /clock has come yet (the clock reads 0)."""
        clock = self.get_clock()
        return not clock.ros_time_is_active or clock.now().nanoseconds > 0

    def _start_source(self):
        self.stop_source()
        source = self._param('source')      # one of SOURCES: refused otherwise
        with self._lock:
            self._stopping = threading.Event()
            target = self._play_file if source == 'file' else self._capture_microphone
            self._worker = threading.Thread(target=target, args=(self._stopping,), daemon=True,
                                            name=f'audio-{source}')
            self._worker.start()

    def stop_source(self):
        with self._lock:
            worker, stopping, current = self._worker, self._stopping, self._file
            self._worker = None
        if worker is None:
            return
        stopping.set()
        if current is not None:
            current.stop()
        worker.join(timeout=5.0)

    @property
    def source_running(self):
        """Whether a source is playing or capturing (False once a file has played out)."""
        worker = self._worker
        return worker is not None and worker.is_alive()

    def wait_for_source(self, timeout=None):
        """Block until the current source ends (a file played out); for tests and tools."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return worker is None or not worker.is_alive()

    def _publish(self, chunk):
        self._publisher.publish(chunk_to_msg(chunk, self._param('encoding'),
                                             self._param('session_id'),
                                             self._param('frame_id')))

    def _publish_end(self, index, capture_time):
        self._publisher.publish(end_of_stream_msg(index, TARGET_RATE, capture_time,
                                                  self._param('encoding'),
                                                  self._param('session_id'),
                                                  self._param('frame_id')))

    def _play_file(self, stopping):
        path = self._param('file_path')
        self.source_error = self.source_problem = self.source_peak_dbfs = None
        if not path:
            self.source_error = 'source is "file" but file_path is empty: set file_path'
            self.get_logger().error(self.source_error)
            return
        try:
            source = FileSource(path, chunk_duration=self._param('chunk_duration'),
                                realtime=self._param('realtime'), clock=self._now)
        except AudioFileError as exc:
            self.source_error = f'cannot play: {exc}'
            self.get_logger().error(self.source_error)
            return
        self._file = source
        waited = 0.0
        while ((self._publisher.get_subscription_count() == 0 or not self._clock_ready())
               and not stopping.is_set() and waited < self._param('wait_for_subscriber')):
            stopping.wait(0.05)
            waited += 0.05
        if not self._clock_ready():
            self.get_logger().warning('use_sim_time is on but no /clock has come: the file '
                                      'is stamped from time 0')
        info = source.info
        self.get_logger().info(
            f'playing {path} ({source.source_encoding}, {info.samplerate} Hz, '
            f'{info.channels} ch, {info.duration:.1f} s)')
        end_index, end_time = 0, self._now()
        peak = 0.0
        try:
            for chunk in source:
                self._publish(chunk)
                end_index, end_time = chunk.end_index, chunk.time_of(chunk.end_index)
                peak = max(peak, float(np.max(np.abs(chunk.samples))))
                self.source_peak_dbfs = peak_dbfs(peak)
            if source.warning:
                self.source_problem = source.warning
                self.get_logger().warning(source.warning)
        except AudioFileError as exc:
            self.source_problem = str(exc)
            self.get_logger().error(str(exc))
        finally:
            self._file = None
        self._publish_end(end_index, end_time)
        if not stopping.is_set():
            self.get_logger().info(f'{path} played out ({end_index / TARGET_RATE:.1f} s)')

    def _capture_microphone(self, stopping):
        device = self._param('device')
        device = int(device) if device.strip().isdigit() else (device or None)
        while not stopping.is_set():
            microphone = MicrophoneSource(
                device=device, device_sample_rate=self._param('device_sample_rate') or None,
                block_duration=self._param('chunk_duration'), clock=self._now)
            try:
                microphone.open()
            except AudioDeviceError as exc:
                self.get_logger().error(
                    f'{exc}; retrying in {self._param("retry_period"):g} s',
                    throttle_duration_sec=60.0)
                stopping.wait(self._param('retry_period'))
                continue
            self.get_logger().info(
                f'capturing from {microphone.device_name!r} at '
                f'{microphone.source_sample_rate} Hz, {microphone.source_channels} ch')
            end_index, end_time = 0, self._now()
            last_data = time.monotonic()
            try:
                while not stopping.is_set():
                    chunk = microphone.read(timeout=0.5)
                    if chunk is not None and chunk.samples.size:
                        self._publish(chunk)
                        end_index, end_time = chunk.end_index, chunk.time_of(chunk.end_index)
                        last_data = time.monotonic()
                    elif time.monotonic() - last_data > SILENT_DEVICE_TIMEOUT:
                        self.get_logger().warning(
                            f'no audio from {microphone.device_name!r} for '
                            f'{SILENT_DEVICE_TIMEOUT:g} s: reopening it')
                        break
            finally:
                microphone.close()
                self._publish_end(end_index, end_time)

    def destroy_node(self):
        self.stop_source()
        return super().destroy_node()


def main(args=None):
    return run_node(AudioCaptureNode, args)


if __name__ == '__main__':
    sys.exit(main())
