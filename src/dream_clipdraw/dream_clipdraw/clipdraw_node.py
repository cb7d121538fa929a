"""ROS 2 node: the ``generate_drawing`` action (dream_interfaces/GenerateDrawing) on CLIPDraw.

Busy policy: one drawing at a time (it takes the whole CPU). A goal that arrives while
another runs is accepted and at once aborted with ERROR_BUSY, so the client gets a result
saying why (a rejected goal carries no reason); the running goal is not disturbed.

CLIP is loaded once (at start when ``preload_model`` is true, else on the first goal) and
reused; changing a ``clip_*`` or ``device`` parameter reloads it on the next goal. A missing
or corrupt model fails that goal with ERROR_MODEL_UNAVAILABLE and the node stays up.

Publishes, all reliable (so a recorder of any reliability matches):
  drawing (dream_interfaces/Drawing, transient local, depth 1): each finished drawing;
  drawing/preview (sensor_msgs/Image rgb8): the render every ``preview_every`` iterations;
  drawing/markers (visualization_msgs/MarkerArray, transient local): flattened strokes as
    LINE_STRIPs, 1 canvas pixel = ``marker_scale`` metres, y up (the canvas's y flipped);
  generate_drawing/feedback_mirror (GenerationFeedback) and
  generate_drawing/result_mirror (GenerationResult): the action's feedback and results
    again on plain topics, for the session recording.
A goal runs in a worker thread (see offloaded_execution) while the node's single-threaded
executor goes on serving it, so cancel requests are seen; cancel is checked every iteration.

Time: every header stamp comes from the node's clock (sim time, /clock, under use_sim_time);
``elapsed``, ``time_left`` and ``generation_time`` measure the computation in wall seconds.
"""
import re
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from dream_interfaces.action import GenerateDrawing
from dream_interfaces.msg import Drawing as DrawingMsg, GenerationFeedback, GenerationResult

from dream_clipdraw.bezier import cubic_chain_points
from dream_clipdraw.clip_acceleration import (
    clip_compile_mode, COMPILE_MODES, PRECISIONS, STEP_GRAPH_MODES)
from dream_clipdraw.errors import (
    ClipModelError, InvalidOptions, InvalidPrompt, NumericalError)
from dream_clipdraw.offloaded_execution import offloaded
from dream_clipdraw.openmp_policy import prefer_passive_openmp
from dream_clipdraw.presets import (
    MARKER_PALETTE, MAX_CANVAS, MAX_ITERATIONS, MAX_PATHS, preset_names)
from dream_runtime.node_process import run_node

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     history=HistoryPolicy.KEEP_LAST,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
PREVIEW = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE,
                     history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE)

BUSY_MESSAGE = ('another drawing is being generated; this node makes one at a time: '
                'retry when it has finished')


def _int_range(low, high):
    return [IntegerRange(from_value=low, to_value=high, step=1)]


def _float_range(low, high):
    return [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]


# name: (default, description, range or None)
PARAMETERS = {
    'preset': ('cpu', 'faithful, cpu or plotter: the settings a goal starts from', None),
    'num_strokes': (0, 'strokes per drawing; 0 = the preset\'s', _int_range(0, MAX_PATHS)),
    'iterations': (0, 'optimisation iterations; 0 = the preset\'s',
                   _int_range(0, MAX_ITERATIONS)),
    'canvas_size': (0, 'square canvas in pixels; 0 = the preset\'s (224)',
                    _int_range(0, MAX_CANVAS)),
    'seed': (-1, 'seed when a goal gives a negative one; negative = random each time',
             _int_range(-1, 2 ** 32 - 1)),    # Drawing.seed is uint32
    'num_pens': (0, 'plotter: palette size (1 = black .. 8 markers); 0 = the preset\'s',
                 _int_range(0, len(MARKER_PALETTE))),
    'pen_width': (0.0, 'plotter: stroke width in canvas pixels; 0 = the preset\'s',
                  _float_range(0.0, 100.0)),
    'path_length_budget': (0.0, 'plotter: cap on total stroke length (px) when a goal '
                           'gives none; 0 = none', _float_range(0.0, 1e7)),
    'clip_model': ('', 'open_clip architecture; empty = ViT-B-32-quickgelu (OpenAI)', None),
    'clip_pretrained': ('', 'weights: file, folder or cached open_clip tag; empty = '
                        '$CLIP_WEIGHTS or the cached "openai" tag', None),
    'clip_model_config': ('', 'architecture JSON for a model open_clip does not list', None),
    'clip_cache_dir': ('', 'another folder searched for cached weights', None),
    'renderer': ('torch', 'torch or diffvg (when pydiffvg is installed)', None),
    'device': ('cpu', 'cpu or cuda', None),
    'clip_precision': ('float32', 'CLIP image tower arithmetic: float32, or bfloat16 '
                       '(autocast, GPUs only)', None),
    'clip_compile': ('auto', 'torch.compile mode of CLIP\'s image tower: auto '
                     '(reduce-overhead = CUDA graphs on a GPU, default with step_graph on, '
                     'off on the CPU), off, default, reduce-overhead or max-autotune', None),
    'step_graph': ('off', 'on: replay each step but Adam as one CUDA graph (experimental, '
                   'not yet timed on a GPU; CLIP compiled without graphs of its own under '
                   'clip_compile auto); off: eager steps', None),
    'preview_every': (10, 'publish drawing/preview every N iterations; 0 = never',
                      _int_range(0, MAX_ITERATIONS)),
    'preload_model': (True, 'load CLIP at start rather than on the first goal', None),
    'marker_scale': (0.001, 'metres per canvas pixel for drawing/markers',
                     _float_range(1e-6, 10.0)),
    'frame_id': ('drawing', 'frame of the preview image and the markers', None),
    'threads': (0, 'torch intra-op threads; 0 = torch\'s default', _int_range(0, 256)),
}


def _renderers():
    from dream_clipdraw.rasterizer import available_renderers   # imports torch
    return available_renderers()


# The text parameters that take one of a few words: name -> the words, from the code that
# uses them (device takes cuda:N too).
CHOICES = {
    'preset': preset_names,
    'renderer': _renderers,
    'device': lambda: ('cpu', 'cuda', 'cuda:N'),
    'clip_precision': lambda: PRECISIONS,
    'clip_compile': lambda: COMPILE_MODES,
    'step_graph': lambda: STEP_GRAPH_MODES,
}


def choice_error(name, value):
    """Why ``value`` cannot be parameter ``name`` (listing what can), or ''."""
    if name not in CHOICES:
        return ''
    if name == 'device':
        fits = re.fullmatch(r'cpu|cuda(:[0-9]+)?', value)
    else:
        fits = value in CHOICES[name]()
    return '' if fits else f'{name} must be one of {", ".join(CHOICES[name]())}, got {value!r}'


MODEL_PARAMETERS = ('clip_model', 'clip_pretrained', 'clip_model_config', 'clip_cache_dir',
                    'device', 'clip_precision', 'clip_compile', 'step_graph')


class ClipDrawNode(Node):
    """Serves GenerateDrawing goals one at a time with a CLIP loaded once."""
    def __init__(self, acquire_resources=True, **kwargs):
        """``acquire_resources=False``: no CLIP loaded at start, whatever ``preload_model``
        says (a node built only to read its parameters)."""
        super().__init__('clipdraw', **kwargs)
        # Before the declarations: a bad value fails the node's start at once.
        self.add_on_set_parameters_callback(self._validate)
        for name, (default, text, limits) in PARAMETERS.items():
            descriptor = ParameterDescriptor(description=text)
            if limits and isinstance(limits[0], IntegerRange):
                descriptor.integer_range = limits
            elif limits:
                descriptor.floating_point_range = limits
            self.declare_parameter(name, default, descriptor)
        self._busy = threading.Lock()
        self._model_lock = threading.Lock()
        self._clip = None
        self._clip_key = None
        self._closing = threading.Event()
        # Every torch call of the node (loading, compiling, drawing) runs on this one
        # long-lived thread: CUDA graphs recorded by torch.compile belong to the thread that
        # recorded them, and a drawing in a fresh thread per goal re-recorded them and, on an
        # H100, failed (cuDNN could not allocate during the capture).
        self._torch_thread = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix='clipdraw-torch')
        self._drawing_pub = self.create_publisher(DrawingMsg, 'drawing', LATCHED)
        self._preview_pub = self.create_publisher(Image, 'drawing/preview', PREVIEW)
        self._markers_pub = self.create_publisher(MarkerArray, 'drawing/markers', LATCHED)
        self._feedback_pub = self.create_publisher(
            GenerationFeedback, 'generate_drawing/feedback_mirror', RELIABLE)
        self._result_pub = self.create_publisher(
            GenerationResult, 'generate_drawing/result_mirror', RELIABLE)
        threads = self._param('threads')
        if threads > 0:
            import torch
            torch.set_num_threads(threads)
        if acquire_resources and self._param('preload_model'):
            try:
                self._torch_thread.submit(self._model).result()
            except (ClipModelError, InvalidOptions) as exc:
                self.get_logger().error(f'CLIP not loaded at start: {exc}')
        # Served only now: a client that sees the server can expect its goals answered at
        # once (the session manager gives up on a server that stays silent).
        self._server = ActionServer(
            self, GenerateDrawing, 'generate_drawing',
            offloaded(self, self._execute, 'generate_drawing-goal'),
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda handle: CancelResponse.ACCEPT)
        self.get_logger().info('generate_drawing action ready')

    def _param(self, name):
        return self.get_parameter(name).value

    def _validate(self, parameters):
        for p in parameters:
            reason = choice_error(p.name, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    # -- model --------------------------------------------------------------------------
    def _model(self):
        """The CLIP for the current parameters, loading it if they changed."""
        from dream_clipdraw.clip_model import load_clip
        from dream_clipdraw.presets import make_preset

        key = tuple(self._param(n) for n in MODEL_PARAMETERS)
        with self._model_lock:
            if self._clip is None or key != self._clip_key:
                model, pretrained, config, cache, device, precision, compile_mode, graph = key
                started = time.perf_counter()
                self._clip = None
                clip = load_clip(model or None, pretrained or None, config_file=config or None,
                                 cache_dir=cache or None, device=device)
                precision, compiled = clip.accelerate(
                    precision, clip_compile_mode(compile_mode, graph, clip.device.type))
                clip.warm_up(make_preset(self._param('preset')).augmentations)
                self._clip, self._clip_key = clip, key
                self.get_logger().info(
                    f'CLIP {clip.describe()} loaded on {clip.device} ({precision}'
                    f'{", compiled" if compiled else ""}) in '
                    f'{time.perf_counter() - started:.1f} s')
            return self._clip

    # -- action ---------------------------------------------------------------------------
    def _execute(self, handle):
        """Runs in a worker thread: the goal from start to its terminal state."""
        goal = handle.request
        if self._closing.is_set():      # busy: a client may try again, a restarted node
            return self._finish(handle, GenerationResult.ERROR_BUSY,
                                'the drawing node is shutting down')
        if not self._busy.acquire(blocking=False):
            return self._finish(handle, GenerationResult.ERROR_BUSY, BUSY_MESSAGE)
        try:
            return self._torch_thread.submit(self._generate, handle, goal).result()
        finally:
            self._busy.release()

    def _generate(self, handle, goal):
        from dream_clipdraw import drawing_io
        from dream_clipdraw.optimizer import generate_drawing
        from dream_clipdraw.presets import is_plotter_preset, make_preset
        from dream_clipdraw.prompt_embedding import clean_prompt

        codes = GenerationResult
        try:
            clean_prompt(goal.prompt)
            name = goal.options.preset or self._param('preset')
            preset = make_preset(name, **self._overrides(goal.options, is_plotter_preset(name)))
        except InvalidPrompt as exc:
            return self._finish(handle, codes.ERROR_INVALID_PROMPT, str(exc))
        except InvalidOptions as exc:
            return self._finish(handle, codes.ERROR_INVALID_OPTIONS, str(exc))
        try:
            clip = self._model()
        except ClipModelError as exc:
            return self._finish(handle, codes.ERROR_MODEL_UNAVAILABLE, str(exc))
        except InvalidOptions as exc:
            return self._finish(handle, codes.ERROR_INVALID_OPTIONS, str(exc))
        seed = goal.options.seed if goal.options.seed >= 0 else self._param('seed')
        session = goal.session_id
        preview_every = self._param('preview_every')

        def progress(p):
            self._publish_feedback(handle, session, p)
            if preview_every and (p.iteration % preview_every == 0 or p.iteration == p.total):
                self._preview_pub.publish(self._image_msg(p.image))

        def cancelled():
            return handle.is_cancel_requested or self._closing.is_set()

        self.get_logger().info(f'[{session}] drawing {goal.prompt[:60]!r} with preset '
                               f'{preset.name}, {preset.num_paths} strokes, '
                               f'{preset.iterations} iterations')
        try:
            drawing = generate_drawing(clip, goal.prompt, negatives=list(goal.negative_prompts),
                                       preset=preset, seed=seed,
                                       renderer=self._param('renderer'),
                                       step_graph=self._param('step_graph'), progress=progress,
                                       cancel=cancelled, session_id=session)
        except InvalidPrompt as exc:
            return self._finish(handle, codes.ERROR_INVALID_PROMPT, str(exc))
        except InvalidOptions as exc:
            return self._finish(handle, codes.ERROR_INVALID_OPTIONS, str(exc))
        except NumericalError as exc:
            return self._finish(handle, codes.ERROR_NUMERICAL, str(exc))
        except Exception as exc:  # a bug must fail the goal, not the node
            self.get_logger().error(f'[{session}] drawing failed:\n{traceback.format_exc()}')
            return self._finish(handle, codes.ERROR_INTERNAL,
                                f'internal error: {type(exc).__name__}: {exc}')
        msg = drawing_io.to_msg(drawing, session_id=session,
                                stamp=self.get_clock().now().to_msg(),
                                frame_id=self._param('frame_id'))
        if drawing.cancelled:
            why = ('stopped: the drawing node is shutting down'
                   if self._closing.is_set() and not handle.is_cancel_requested
                   else 'cancelled')
            return self._finish(handle, codes.ERROR_CANCELLED,
                                f'{why} after {drawing.iterations} iterations', msg)
        self._drawing_pub.publish(msg)
        self._markers_pub.publish(self._markers_msg(drawing, msg.header.stamp))
        self.get_logger().info(f'[{session}] done: {len(drawing.strokes)} strokes, score '
                               f'{drawing.score:.3f}, {drawing.generation_time:.1f} s')
        return self._finish(handle, codes.ERROR_NONE,
                            f'{len(drawing.strokes)} strokes in {drawing.iterations} '
                            f'iterations, score {drawing.score:.3f}', msg)

    def _overrides(self, options, plotter):
        """Preset overrides: the goal's non-zero options, else the node's non-zero params
        (the node's pen parameters only for a plotter preset: they describe its pens)."""
        def pick(goal_value, param, pens=False):
            if goal_value:
                return goal_value
            value = self._param(param) if plotter or not pens else None
            return value if value else None

        return dict(num_paths=pick(options.num_strokes, 'num_strokes'),
                    iterations=pick(options.iterations, 'iterations'),
                    canvas_size=pick(0, 'canvas_size'),
                    num_pens=pick(options.num_pens, 'num_pens', pens=True),
                    pen_width=pick(0.0, 'pen_width', pens=True),
                    path_length_budget=pick(float(options.path_length_budget),
                                            'path_length_budget', pens=True))

    def _finish(self, handle, code, message, drawing_msg=None):
        result = GenerateDrawing.Result()
        outcome = result.outcome
        outcome.header.stamp = self.get_clock().now().to_msg()
        outcome.session_id = handle.request.session_id
        outcome.error_code = code
        outcome.message = message
        if drawing_msg is not None:
            outcome.drawing = drawing_msg
        outcome.drawing.session_id = handle.request.session_id
        if code == GenerationResult.ERROR_NONE:
            handle.succeed()
        elif code == GenerationResult.ERROR_CANCELLED and handle.is_cancel_requested:
            handle.canceled()
        else:
            handle.abort()
        if code not in (GenerationResult.ERROR_NONE, GenerationResult.ERROR_CANCELLED):
            self.get_logger().warning(f'[{outcome.session_id}] goal failed ({code}): {message}')
        self._result_pub.publish(outcome)
        return result

    def _publish_feedback(self, handle, session, p):
        feedback = GenerateDrawing.Feedback()
        f = feedback.progress
        f.header.stamp = self.get_clock().now().to_msg()
        f.session_id = session
        f.iteration = int(p.iteration)
        f.total_iterations = int(p.total)
        f.score = float(p.score) if np.isfinite(p.score) else float('nan')
        f.elapsed = float(p.elapsed)
        f.time_left = float(p.elapsed / max(p.iteration, 1) * max(p.total - p.iteration, 0))
        handle.publish_feedback(feedback)
        self._feedback_pub.publish(f)

    def _image_msg(self, image):
        pixels = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        msg = Image()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self._param('frame_id')
        msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
        msg.encoding = 'rgb8'
        msg.step = msg.width * 3
        msg.data = np.ascontiguousarray(pixels).tobytes()
        return msg

    def _markers_msg(self, drawing, stamp):
        return drawing_markers(drawing, stamp, self._param('frame_id'),
                               self._param('marker_scale'))

    def wind_down(self):
        """Its process got SIGINT/SIGTERM: a running drawing stops at its next iteration
        and its goal is answered while it still can be; done once it has been."""
        self._closing.set()
        return lambda: not self._busy.locked()

    def destroy_node(self):
        # Also called on a node whose construction failed (a bad parameter override).
        if hasattr(self, '_torch_thread'):
            self._closing.set()          # a running drawing stops at its next iteration
            self._torch_thread.shutdown(wait=False)
        return super().destroy_node()


def drawing_markers(drawing, stamp, frame_id, scale, steps=8):
    """MarkerArray: a DELETEALL, then one LINE_STRIP per stroke along its flattened curve."""
    from geometry_msgs.msg import Point

    markers = MarkerArray()
    clear = Marker(action=Marker.DELETEALL)
    clear.header.frame_id = frame_id
    clear.header.stamp = stamp
    markers.markers.append(clear)
    for i, stroke in enumerate(drawing.strokes):
        m = Marker(type=Marker.LINE_STRIP, action=Marker.ADD, ns='strokes', id=i)
        m.header.frame_id = frame_id
        m.header.stamp = stamp
        m.pose.orientation.w = 1.0
        m.scale.x = float(stroke.width * scale)
        r, g, b, a = (float(c) for c in stroke.color)
        m.color.r, m.color.g, m.color.b, m.color.a = r, g, b, a
        curve = cubic_chain_points(np.asarray(stroke.points, dtype=float), steps)
        m.points = [Point(x=float(x * scale), y=float(-y * scale), z=0.0) for x, y in curve]
        markers.markers.append(m)
    return markers


def main(args=None):
    prefer_passive_openmp()
    return run_node(ClipDrawNode, args)


if __name__ == '__main__':
    sys.exit(main())
