"""``dream plot``: plan a drawing for paper and plot it with a driver core (no ROS graph),
or check a running DrawStrokes server with the conformance kit."""
import argparse
import json
import math
import pathlib
import signal
import sys
import tempfile

DRIVERS = ('sim', 'grbl', 'axidraw')
# Signals that cancel a plot with the pen up, like Ctrl-C (SIGHUP is absent on Windows).
STOP_SIGNALS = tuple(getattr(signal, n) for n in ('SIGTERM', 'SIGHUP') if hasattr(signal, n))
# The planner's hint names the goal field (PaperSetup.out_of_bounds); here it is a flag.
CLI_CLIP_HINT = 'Leave out --no-clip to clip them.'
MAX_MACHINE_MM = 5000.0     # the range of the nodes' machine_width_mm/machine_height_mm


def _check_options(args):
    """Usage errors before anything moves: found after the plot, the paper is drawn."""
    from dream_plotter.outcome import PlotError
    from dream_plotter.paper import paper_size
    try:
        paper_size(args.paper)
    except PlotError as exc:  # the goal's code (OUT_OF_BOUNDS) means nothing to a user
        raise ValueError(f'--paper: {exc.message}') from None
    args.machine_mm = _machine(args.machine, args.driver)
    for flag, value in (('--margin', args.margin), ('--pen-width', args.pen_width)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f'{flag} must be a finite number >= 0, got {value:g}')
    _check_work_area(args)
    if not 0.0 <= args.min_opacity <= 1.0:     # also refuses NaN
        raise ValueError(f'--min-opacity must be in [0, 1], got {args.min_opacity:g}')
    if args.pen_change_wait is not None and not (math.isfinite(args.pen_change_wait)
                                                 and args.pen_change_wait >= 0):
        raise ValueError(f'--pen-change-wait must be a finite number >= 0, got '
                         f'{args.pen_change_wait:g}')
    if args.out:
        if args.driver != 'sim':
            raise ValueError(f'--out is for the sim driver only ({args.driver} draws on '
                             'paper)')
        _check_out(pathlib.Path(args.out))


def _paper_defaults(args):
    """What the layout falls back to: the command's own margin (a request's 0 means "the
    default", and --margin 0 means none) and the machine travel."""
    from dream_plotter.paper import PaperDefaults
    width, height = args.machine_mm
    return PaperDefaults(margin_mm=args.margin, machine_width_mm=width,
                         machine_height_mm=height)


def _check_work_area(args):
    """Paper, margins and machine travel must leave a work area (the planner's rule, checked
    before the drawing is read so that the message names the options)."""
    from dream_plotter.outcome import PlotError
    from dream_plotter.paper import ORIENTATION_NAMES, PaperRequest, resolve_layout
    request = PaperRequest(paper=args.paper, margin_mm=args.margin,
                           orientation=ORIENTATION_NAMES[args.orientation])
    try:
        resolve_layout(request, _paper_defaults(args), (0.0, 0.0, 1.0, 1.0))
    except PlotError as exc:
        raise ValueError(f'--paper/--margin/--machine: {exc.message}') from None


def _machine(text, driver):
    """--machine WxH or an AxiDraw model: the travel in mm (x, y) that the driver nodes'
    machine_width_mm and machine_height_mm (or the AxiDraw node's model) set; (0, 0) = not
    limited. Left out: an AxiDraw's is its V3's, as the node's, and other drivers' is not
    limited."""
    import re

    from dream_plotter.axidraw_driver import AXIDRAW_MODELS, axidraw_travel
    if text is None:
        return axidraw_travel('V3') if driver == 'axidraw' else (0.0, 0.0)
    model = text.strip().lower().removeprefix('axidraw-')
    if model in (name.lower() for name in AXIDRAW_MODELS):
        return axidraw_travel(model)
    match = re.fullmatch(r'\s*([0-9.]+)\s*[xX*]\s*([0-9.]+)\s*(mm)?\s*', text)
    try:
        width, height = (float(match.group(1)), float(match.group(2))) if match else (0, 0)
    except ValueError:      # '1.2.3x4'
        width = height = 0.0
    if not (0 < width <= MAX_MACHINE_MM and 0 < height <= MAX_MACHINE_MM):
        models = ', '.join(f'axidraw-{name.lower()}' for name in AXIDRAW_MODELS
                           if name != 'none')
        raise ValueError(f"--machine '{text}': give the travel as WIDTHxHEIGHT in mm, two "
                         f'numbers in (0, {MAX_MACHINE_MM:g}] (e.g. 300x218), a model '
                         f'({models}) or none')
    return width, height


def _check_out(png):
    """--out: a .png (its .svg goes next to it) that can be written; missing folders are
    made when writing, so the nearest existing one must take new files."""
    if png.suffix.lower() != '.png':
        raise ValueError(f"--out '{png}': use a file name ending in .png (an .svg goes next "
                         'to it)')
    folder = next((p for p in (png.parent, *png.parent.parents) if p.exists()),
                  pathlib.Path('.'))
    if not folder.is_dir():
        raise ValueError(f"--out '{png}': {folder} is not a folder")
    targets = (png, png.with_suffix('.svg'))
    for path in targets:
        if path.is_dir():
            raise ValueError(f"--out '{png}': {path} is a folder")
    # Permissions, a read-only file system: only trying tells.
    try:
        for path in targets:
            if path.exists():
                with open(path, 'ab'):
                    pass
        with tempfile.NamedTemporaryFile(dir=folder, prefix='.dream-write-test-'):
            pass
    except OSError as exc:
        raise ValueError(f"--out '{png}': cannot write there: {exc.strerror or exc}") from None


def _check_pen_changes(args, pen_changes):
    """A real plotter needs someone to swap pens: without a terminal to ask, refuse rather
    than draw every pen's strokes with the first pen."""
    if (pen_changes and args.driver != 'sim' and args.pen_change_wait is None
            and not sys.stdin.isatty()):
        raise ValueError(
            f'the drawing needs {pen_changes} pen change(s) and stdin is not a terminal, so '
            'nobody can be asked to swap pens: run it from a terminal (Enter after each '
            'change), or add --pen-change-wait SECONDS to pause with the pen parked at '
            'each change')


def _plan(drawing, request, settings, defaults=None):
    """plan_drawing, with its out-of-bounds hint naming --clip instead of the goal field."""
    from dream_plotter.outcome import ErrorCode, PlotError
    from dream_plotter.planner import CLIP_HINT, plan_drawing
    try:
        return plan_drawing(drawing, request, defaults, settings)
    except PlotError as exc:
        if exc.code != ErrorCode.OUT_OF_BOUNDS or CLIP_HINT not in exc.message:
            raise
        raise PlotError(exc.code, exc.message.replace(CLIP_HINT, CLI_CLIP_HINT)) from None


class PlotVerb:
    stop_signal = None    # the signal that cancelled the plot, for the exit code
    help = 'plot a drawing (sim, GRBL or AxiDraw) or check a DrawStrokes driver'
    description = (
        'Plan a drawing (.json from the generator, or .svg) for paper and plot it.\n'
        'The sim driver writes what the pen drew (--out sim.png, plus an .svg next to it).\n'
        'With --conformance ACTION_NAME, run the driver contract checks against a running\n'
        'DrawStrokes server instead (see DRIVER_CONTRACT.md). Ctrl-C, SIGTERM or SIGHUP cancel\n'
        'with the pen up (exit 130, 143, 129).')

    def add_arguments(self, parser):
        from dream_plotter.planner import MIN_OPACITY
        parser.add_argument('drawing', nargs='?', help='drawing file (.json or .svg)')
        parser.add_argument('--driver', choices=DRIVERS, default='sim')
        parser.add_argument('--port', help='serial port or pyserial URL (grbl: /dev/ttyUSB0 '
                                           'by default; axidraw: found by USB id)')
        parser.add_argument('--baud', type=int, default=115200, help='grbl serial speed')
        parser.add_argument('--paper', default='A4',
                            help='A3, A4, A5, A6, letter, legal, tabloid or WxH in mm')
        parser.add_argument('--orientation', choices=('auto', 'portrait', 'landscape'),
                            default='auto')
        parser.add_argument('--margin', type=float, default=10.0, help='margin in mm')
        parser.add_argument('--machine', metavar='WxH|MODEL',
                            help='machine travel in mm from the paper origin (as the '
                                 'machine_width_mm/machine_height_mm node parameters), or an '
                                 'AxiDraw model (axidraw-v3 = SE/A4 300x218, axidraw-a3 '
                                 '430x297, axidraw-xlx 595x218, axidraw-minikit 160x101.6), '
                                 'or none; a larger work area is cut to it, with a warning '
                                 '(default: axidraw-v3 with --driver axidraw, else none)')
        parser.add_argument('--clip', action=argparse.BooleanOptionalAction, default=True,
                            help='clip strokes that leave the work area, with a warning, as '
                                 'a session does (CLIPDraw strokes often run past the canvas; '
                                 'default); --no-clip refuses such a drawing')
        parser.add_argument('--pen-width', type=float, default=0.5, help='pen width in mm')
        parser.add_argument('--min-opacity', type=float, default=MIN_OPACITY,
                            help='leave out strokes fainter than this (colour alpha times SVG '
                                 'opacity, 0..1): a pen has no transparency; alpha 0 is '
                                 'always left out (default %(default)s)')
        parser.add_argument('--out', help='sim: PNG to write (an SVG goes next to it)')
        parser.add_argument('--dry-run', action='store_true', help='plan and report only')
        parser.add_argument('--json', action='store_true',
                            help='print the plan figures and the outcome as JSON on stdout')
        parser.add_argument('--start-stroke', type=int, default=0,
                            help='resume: first stroke to draw (plan order)')
        parser.add_argument('--time-scale', type=float, default=0.0,
                            help='sim: simulated seconds per second (0 = no waiting)')
        parser.add_argument('--speed', type=float, default=40.0, help='pen-down speed, mm/s')
        parser.add_argument('--travel-speed', type=float, default=120.0,
                            help='pen-up speed, mm/s')
        parser.add_argument('--tolerance', type=float, default=0.05,
                            help='curve flattening tolerance, mm')
        parser.add_argument('--no-two-opt', action='store_true',
                            help='skip the vpype 2-opt refinement of the stroke order')
        parser.add_argument('--no-sort', action='store_true',
                            help='keep the generation order (no vpype linesort)')
        parser.add_argument('--pen-change-wait', type=float, metavar='SECONDS',
                            help='at each pen change, pause this long with the pen parked '
                                 'instead of waiting for Enter (needed without a terminal)')
        parser.add_argument('--pen-mode', choices=('servo', 'z'), default='servo',
                            help='grbl: pen lifted by a servo (M3 S) or the Z axis')
        parser.add_argument('--conformance', metavar='ACTION_NAME',
                            help='check a running DrawStrokes server against the contract')
        parser.add_argument('--conformance-strokes', type=int, default=400,
                            help='strokes of the drawing used for the cancel and busy checks')

    # ---------------------------------------------------------------------------------------
    def main(self, args):
        if args.conformance:
            return self._conformance(args)
        if not args.drawing:
            raise ValueError('give a drawing file (.json or .svg), or --conformance NAME')
        from dream_plotter.drawing_files import load_drawing
        from dream_plotter.motion_profile import MotionLimits
        from dream_plotter.paper import ORIENTATION_NAMES, PaperRequest
        from dream_plotter.planner import PlanSettings
        from dream_plotter.timeline import plan_estimate

        _check_options(args)
        drawing = load_drawing(args.drawing)
        request = PaperRequest(paper=args.paper, margin_mm=args.margin,
                               orientation=ORIENTATION_NAMES[args.orientation],
                               out_of_bounds=1 if args.clip else 0,
                               pen_width_mm=args.pen_width)
        settings = PlanSettings(tolerance_mm=args.tolerance, sort=not args.no_sort,
                                two_opt=not args.no_two_opt, min_opacity=args.min_opacity,
                                limits=MotionLimits(draw_speed=args.speed,
                                                    travel_speed=args.travel_speed,
                                                    pen_change_time=args.pen_change_wait
                                                    or 0.0))
        plan = _plan(drawing, request, settings, _paper_defaults(args))
        estimate = plan_estimate(plan, args.start_stroke)
        report = {'drawing': str(args.drawing), 'strokes': plan.strokes_total,
                  'paths': len(plan.paths), 'paper': plan.layout.describe(),
                  'estimate': vars(estimate), 'warnings': plan.warnings}
        self._say(f'{plan.strokes_total} strokes -> {len(plan.paths)} paths on '
                  f'{plan.layout.describe()}')
        self._say(f'estimate: {estimate.duration:.0f} s, pen down '
                  f'{estimate.pen_down_distance:.0f} mm, pen up '
                  f'{estimate.pen_up_distance:.0f} mm, {estimate.pen_changes} pen changes')
        for warning in plan.warnings:
            self._say(f'warning: {warning}')
        if args.dry_run:
            if args.json:
                print(json.dumps(report, indent=2))
            return 0
        _check_pen_changes(args, estimate.pen_changes)
        driver = self._driver(args)
        outcome = self._execute(driver, plan, args)
        report['outcome'] = outcome.as_dict()
        if args.driver == 'sim' and args.out:
            png = driver.sheet.write_png(args.out)
            svg = driver.sheet.write_svg(pathlib.Path(args.out).with_suffix('.svg'))
            report['files'] = [str(png), str(svg)]
            self._say(f'wrote {png} and {svg}')
        if args.json:
            print(json.dumps(report, indent=2))
        name = outcome.error_code.name
        self._say(f'{outcome.label}: {outcome.message} (strokes done {outcome.strokes_done}/'
                  f'{plan.strokes_total}, next_stroke {outcome.next_stroke})')
        if outcome.ok:
            return 0
        if name != 'CANCELLED':
            return 1
        # 128 + signal number, as a shell reports a process that the signal ended
        return 128 + (self.stop_signal or signal.SIGINT)

    @staticmethod
    def _say(text):
        print(text, file=sys.stderr, flush=True)

    def _driver(self, args):
        import threading
        self.cancel = threading.Event()    # set on Ctrl-C/SIGTERM; ends a pen-change wait
        if args.driver == 'sim':
            from dream_plotter.sim_driver import SimDriver
            driver = SimDriver(time_scale=args.time_scale)
        elif args.driver == 'grbl':
            from dream_plotter.grbl_driver import GrblDriver, GrblSettings
            driver = GrblDriver(GrblSettings(port=args.port or '/dev/ttyUSB0',
                                             baudrate=args.baud, pen_mode=args.pen_mode,
                                             allowed_ports=None))
        else:
            from dream_plotter.axidraw_driver import AxiDrawDriver, AxiDrawSettings
            driver = AxiDrawDriver(AxiDrawSettings(port=args.port or 'auto',
                                                   allowed_ports=None))
        if args.pen_change_wait is not None:   # the drivers pause for pen_change_time
            driver.pen_change_hook = lambda pen, color: self._announce_pen(
                pen, color, args.pen_change_wait)
        elif sys.stdin.isatty():
            driver.pen_change_hook = self._ask_pen
        driver.connect()
        return driver

    @staticmethod
    def _rgb(color):
        return '#' + ''.join(f'{int(round(255 * c)):02x}' for c in color[:3])

    def _ask_pen(self, pen, color):
        self._say(f'pen change: load pen {pen} ({self._rgb(color)}) and press Enter')
        sys.stdin.readline()

    def _announce_pen(self, pen, color, pause):
        self._say(f'pen change: load pen {pen} ({self._rgb(color)}); plotting goes on in '
                  f'{pause:g} s')

    def _execute(self, driver, plan, args):
        import threading

        from tqdm import tqdm
        cancel = self.cancel
        result = {}
        bar = tqdm(total=plan.strokes_total, initial=args.start_stroke, unit='stroke',
                   file=sys.stderr, dynamic_ncols=True, leave=True)
        latest = [None]
        finished = threading.Event()
        previous = self._catch_stop_signals(finished)

        def work():
            try:
                result['outcome'] = driver.execute(plan, args.start_stroke,
                                                   lambda p: latest.__setitem__(0, p), cancel)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                result['error'] = exc
            finally:
                finished.set()

        # An interrupted Thread.join() may later return early, so wait on an Event instead.
        threading.Thread(target=work, name='plot', daemon=True).start()
        try:
            while not finished.wait(0.1):
                self._update_bar(bar, latest[0])
        except KeyboardInterrupt:
            self._say('\ncancelling: lifting the pen...')
            cancel.set()
            while not finished.is_set():
                try:
                    finished.wait(0.2)
                except KeyboardInterrupt:
                    self._say('still stopping the plotter: the pen goes up first')
        finally:
            self._update_bar(bar, latest[0])
            bar.close()
            if finished.is_set():
                driver.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if 'error' in result:
            raise result['error']
        return result['outcome']

    def _catch_stop_signals(self, finished=None):
        """SIGTERM and SIGHUP (kill, a closed terminal or ssh session) cancel like Ctrl-C
        (KeyboardInterrupt until ``finished`` is set): their default action would end the
        process with the pen down. Returns the previous handlers, for the caller to put
        back once the plotter has stopped."""
        import threading
        self.stop_signal = None
        if threading.current_thread() is not threading.main_thread():
            return {}

        def stop(signum, frame):
            self.stop_signal = self.stop_signal or signum
            if finished is None or not finished.is_set():
                raise KeyboardInterrupt

        return {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}

    @staticmethod
    def _update_bar(bar, progress):
        if progress is None:
            return
        if progress.strokes_done > bar.n:
            bar.update(progress.strokes_done - bar.n)
        text = f'{"down" if progress.pen_down else "up"}, {progress.time_left:.0f} s left'
        # redraw when the text changes: a bar redrawn only by update() shows a stale pen
        # state and time during a long stroke
        if text != bar.postfix:
            bar.set_postfix_str(text)

    def _conformance(self, args):
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        from dream_plotter.conformance import run_conformance
        # rclpy's own handlers would shut ROS down under the kit and leave it waiting out its
        # per-check timeouts: Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt instead,
        # which ends the kit at once (its running goals cancelled).
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
        previous = self._catch_stop_signals()
        try:
            checks = run_conformance(args.conformance, long_strokes=args.conformance_strokes)
        except KeyboardInterrupt:
            self._say('conformance check interrupted: running goals were cancelled; no '
                      'verdict')
            return 128 + (self.stop_signal or signal.SIGINT)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            rclpy.try_shutdown()
        if args.json:
            print(json.dumps([vars(c) for c in checks], indent=2))
        else:
            for check in checks:
                print(check.line())
        failed = [c for c in checks if c.passed is False]
        self._say(f'{len(checks) - len(failed)}/{len(checks)} checks did not fail'
                  + (f'; failed: {", ".join(c.name for c in failed)}' if failed else ''))
        return 1 if failed else 0
