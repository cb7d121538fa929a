"""Speech probability of 32 ms windows of 16 kHz audio, from Silero VAD.

The ONNX model ships inside the silero-vad pip package and runs offline on one thread; it is
a recurrent model, so windows must be fed in order and ``reset()`` called between streams.
"""
import warnings

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 512  # samples per decision at 16 kHz: what the model is trained for


class SileroSpeechDetector:
    window = WINDOW
    sample_rate = SAMPLE_RATE

    def __init__(self):
        import torch
        from silero_vad import load_silero_vad

        self._torch = torch
        with warnings.catch_warnings():  # silero-vad's own use of a deprecated importlib API
            warnings.simplefilter('ignore', DeprecationWarning)
            self._model = load_silero_vad(onnx=True)

    def reset(self):
        self._model.reset_states()

    def __call__(self, window):
        """Probability (0..1) that this window of WINDOW samples is speech."""
        window = np.ascontiguousarray(window, dtype=np.float32)
        if window.shape != (WINDOW,):
            raise ValueError(f'a window is {WINDOW} samples, got {window.shape}')
        with self._torch.no_grad():
            return float(self._model(self._torch.from_numpy(window), SAMPLE_RATE).item())
