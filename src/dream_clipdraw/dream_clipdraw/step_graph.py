"""A whole CLIPDraw step recorded once as a CUDA graph, then replayed.

On a GPU a step is launch-bound: a couple of thousand small kernels, each costing the host
~20 us whatever its size. Compiling CLIP's image tower into graphs left the renderer's, the
warps' and the backward's kernels launched one by one. Here everything but Adam is one graph:
the render plan (in sizes fixed beforehand, see ``raster_fixed_plan``), drawing it, the
augmentations' warps, CLIP, the loss and the whole backward pass. What stays on the host is
drawing the augmentations' random parameters (copied into the graph's input), one read of
the plan's true sizes and of the finiteness check, and Adam (a skipped step must not move
Adam's state). CLIP may be compiled, without CUDA graphs of its own: its fused kernels are
recorded like the others (see :func:`unwatched`).

When the plan outgrows its capacities the step is redone after recording again with more
room (which the caller finds by planning alone, so that a growth costs one recording).
Elsewhere than on CUDA the same function runs eagerly, which is how the tests check it
(and, with the graph API emulated, what a replay computes).
"""
import contextlib
import logging
import threading

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

_LOG = logging.getLogger(__name__)

_WATCH = threading.local()       # the recording's _Reads, while one watches on this thread

# Eager runs before recording (on a side stream, as CUDA graphs require): they also make
# the cached tensors (tables, grids) that a recording must not create.
WARMUP_RUNS = 2


class StepGraph:
    """Runs ``differentiate(params)``: recorded as a CUDA graph when ``record`` (on CUDA)
    and replayed on a copy of ``params`` in a fixed buffer; recorded again after
    :meth:`invalidate` (the function's Python-side choices, such as capacities, changed).

    ``differentiate`` must leave the gradients in ``.grad`` of ``tensors`` (the trainable
    leaves) and return the tensors the caller reads; after a replay they hold that replay's
    values (the same tensors every time, so read them before the next call).
    """

    def __init__(self, differentiate, tensors, record):
        self.differentiate = differentiate
        self.tensors = tensors
        self.record = record
        self.params = None
        self.graph = None
        self.outputs = None
        self._read = {}
        self.recordings = 0

    def __call__(self, params):
        if self.params is None or self.params.shape != params.shape:
            self.params = torch.empty_like(params)
            self.invalidate()
        self.params.copy_(params)
        if not self.record:
            self._clear_gradients()
            return self.differentiate(self.params)
        if self.graph is None:
            try:
                self._record()
            except RuntimeError as exc:
                # torch reports what a graph cannot hold (an operator, memory) as a
                # RuntimeError; run eagerly from now on, where a real error shows again.
                lines = [line for line in str(exc).splitlines() if line.strip()]
                _LOG.warning('recording the step as a CUDA graph failed, running it eagerly: '
                             '%s: %s', type(exc).__name__, ' '.join(lines[:2]))
                self.record = False
                self.invalidate()
                return self(params)
        self.graph.replay()
        return self.outputs

    @property
    def will_record(self):
        """Whether the next call records (a recording costs as much as a few eager steps)."""
        return self.record and self.graph is None

    def invalidate(self):
        """Record again at the next call (the old graph's memory is released)."""
        self.graph = self.outputs = None
        self._read = {}

    def _clear_gradients(self):
        for tensor in self.tensors:
            tensor.grad = None

    def _record(self):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                self._clear_gradients()
                self.differentiate(self.params)
        torch.cuda.current_stream().wait_stream(side)
        # Gradients made during the recording belong to the graph: each replay rewrites them.
        self._clear_gradients()
        graph = torch.cuda.CUDAGraph()
        reads = _Reads()
        with torch.cuda.graph(graph), reads:
            self.outputs = self.differentiate(self.params)
        # A graph replays on addresses: every tensor it reads must outlive it, including
        # those only a cache holds (tables made once per device), which a cache may drop.
        self.graph, self._read = graph, reads.tensors
        self.recordings += 1


class _Reads(TorchDispatchMode):
    """Collects the tensors that the operators run under it read (the watch that
    :func:`unwatched` lifts)."""

    def __init__(self):
        super().__init__()
        self.tensors = {}

    def __enter__(self):
        _WATCH.reads = self
        return super().__enter__()

    def __exit__(self, *exc_info):
        _WATCH.reads = None
        return super().__exit__(*exc_info)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        for value in tree_flatten((args, kwargs or {}))[0]:
            if isinstance(value, torch.Tensor):
                self.tensors[id(value)] = value
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def unwatched():
    """Lifts a recording's watch on what operators read for the block (a no-op when none
    watches). torch.compile'd code runs eagerly under any dispatch mode, so a compiled
    CLIP would be recorded as its eager operators (~1,200 for ViT-B/32's forward and
    backward); it reads only its weights, the prompts' features and the step's own
    tensors, which outlive the graph without a watch. The watch must be the innermost
    mode."""
    reads = getattr(_WATCH, 'reads', None)
    if reads is None:
        yield
        return
    reads.__exit__(None, None, None)
    try:
        yield
    finally:
        reads.__enter__()
