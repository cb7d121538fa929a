"""A block of captured audio as a source delivers it, before it becomes a ROS message."""
from dataclasses import dataclass

import numpy as np


@dataclass
class Chunk:
    """Mono float32 samples with the capture time of their FIRST sample.

    ``sample_index`` counts samples (at ``sample_rate``) since the source started, so a jump
    between consecutive chunks means audio was dropped. ``source_*`` describe the audio
    before resampling and down-mixing.
    """

    samples: np.ndarray
    sample_rate: int
    sample_index: int
    capture_time: float          # seconds, on the clock the source was given
    source_sample_rate: int
    source_channels: int
    source_encoding: str

    @property
    def end_index(self):
        return self.sample_index + len(self.samples)

    @property
    def duration(self):
        return len(self.samples) / self.sample_rate

    def time_of(self, sample_index):
        """Capture time of a sample of this stream, extrapolated from this chunk."""
        return self.capture_time + (sample_index - self.sample_index) / self.sample_rate
