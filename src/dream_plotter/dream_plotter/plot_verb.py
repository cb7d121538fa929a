"""``dream plot``: plan a drawing for paper and plot it with a driver core (no ROS graph),
or check a running DrawStrokes server with the conformance kit."""
import json
import math
import pathlib
import sys
import tempfile

DRIVERS = ('sim', 'grbl', 'axidraw')
# The planner's hint names the goal field (PaperSetup.out_of_bounds); here it is a flag.
CLI_CLIP_HINT = 'Add --clip to clip them.'


def _check_options(args):
    """Usage errors before anything moves: found after the plot, the paper is drawn."""
    from dream_plotter.outcome import PlotError
    from dream_plotter.paper import paper_size
    try:
        paper_size(args.paper)
    except PlotError as exc:  # the goal's code (OUT_OF_BOUNDS) means nothing to a user
        raise ValueError(f'--paper: {exc.message}') from None
    for flag, value in (('--margin', args.margin), ('--pen-width', args.pen_width)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f'{flag} must be a finite number >= 0, got {value:g}')
    if args.out:
        if args.driver != 'sim':
            raise ValueError(f'--out is for the sim driver only ({args.driver} draws on '
                             'paper)')
        _check_out(pathlib.Path(args.out))


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


def _plan(drawing, request, settings):
    """plan_drawing, with its out-of-bounds hint naming --clip instead of the goal field."""
    from dream_plotter.outcome import ErrorCode, PlotError
    from dream_plotter.planner import CLIP_HINT, plan_drawing
    try:
        return plan_drawing(drawing, request, settings=settings)
    except PlotError as exc:
        if exc.code != ErrorCode.OUT_OF_BOUNDS or CLIP_HINT not in exc.message:
            raise
        raise PlotError(exc.code, exc.message.replace(CLIP_HINT, CLI_CLIP_HINT)) from None


class PlotVerb:
    help = 'plot a drawing (sim, GRBL or AxiDraw) or check a DrawStrokes driver'
    description = (
        'Plan a drawing (.json from the generator, or .svg) for paper and plot it.\n'
        'The sim driver writes what the pen drew (--out sim.png, plus an .svg next to it).\n'
        'With --conformance ACTION_NAME, run the driver contract checks against a running\n'
        'DrawStrokes server instead (see DRIVER_CONTRACT.md). Ctrl-C cancels with the pen up.')

    def add_arguments(self, parser):
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
        parser.add_argument('--clip', action='store_true',
                            help='clip strokes that leave the work area instead of refusing')
        parser.add_argument('--pen-width', type=float, default=0.5, help='pen width in mm')
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
                                two_opt=not args.no_two_opt,
                                limits=MotionLimits(draw_speed=args.speed,
                                                    travel_speed=args.travel_speed))
        plan = _plan(drawing, request, settings)
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
        return 130 if name == 'CANCELLED' else 1

    @staticmethod
    def _say(text):
        print(text, file=sys.stderr, flush=True)

    def _driver(self, args):
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
        if sys.stdin.isatty():
            driver.pen_change_hook = self._ask_pen
        driver.connect()
        return driver

    def _ask_pen(self, pen, color):
        rgb = '#' + ''.join(f'{int(round(255 * c)):02x}' for c in color[:3])
        self._say(f'pen change: load pen {pen} ({rgb}) and press Enter')
        sys.stdin.readline()

    def _execute(self, driver, plan, args):
        import threading

        from tqdm import tqdm
        cancel = threading.Event()
        result = {}
        bar = tqdm(total=plan.strokes_total, initial=args.start_stroke, unit='stroke',
                   file=sys.stderr, dynamic_ncols=True, leave=True)
        latest = [None]
        finished = threading.Event()

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
        if 'error' in result:
            raise result['error']
        return result['outcome']

    @staticmethod
    def _update_bar(bar, progress):
        if progress is None:
            return
        if progress.strokes_done > bar.n:
            bar.update(progress.strokes_done - bar.n)
        bar.set_postfix_str(f'{"down" if progress.pen_down else "up"}, '
                            f'{progress.time_left:.0f} s left', refresh=False)

    def _conformance(self, args):
        import rclpy

        from dream_plotter.conformance import run_conformance
        rclpy.init()
        try:
            checks = run_conformance(args.conformance, long_strokes=args.conformance_strokes)
        finally:
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
