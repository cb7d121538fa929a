"""``dream run``: the whole machine in one process, from launch/dreaming_machine.yaml.

Without ``--once`` it serves visitors (microphone by default) until SIGINT/SIGTERM, then
cancels live sessions (the plotter lifts its pen) and closes the recordings. With
``--audio-file F --once`` it runs one session from a file and exits with its outcome:
0 done, 1 failed or cancelled (Ctrl-C or --timeout included), 2 no session happened (the
file could not play, or played out without speech). A file that is missing or cannot be read
as audio is found before any node starts. Without ``--once`` a file that has played out is
said so in the log, and the machine goes on serving until SIGINT/SIGTERM (a new file can be
set at run time: ``audio_capture.file_path``).
"""
import os
import sys
import time

STATE_NAMES = ['idle', 'listening', 'transcribing', 'generating', 'plotting', 'done', 'failed',
               'cancelled']


def add_system_arguments(parser, timeout_help='give up after this many seconds (with --once)',
                         sim_time=True):
    """Options shared by ``dream run`` and ``dream replay --from-stage``; returns their
    argparse actions (replay refuses them without --from-stage). ``sim_time``: offer
    --use-sim-time (a re-run has no /clock to follow)."""
    actions = [
        parser.add_argument('--config',
                            help='system YAML (default: launch/dreaming_machine.yaml)'),
        parser.add_argument('--driver', help='plotter driver from the config (default: sim)'),
        parser.add_argument('--no-record', action='store_true', help='do not record sessions'),
        parser.add_argument('--sessions-dir',
                            help='where session bags go (recorder.output_dir)'),
        parser.add_argument('--clip-weights', default=os.environ.get('CLIP_WEIGHTS'),
                            help='CLIP weights file or tag (default: $CLIP_WEIGHTS)'),
        parser.add_argument('--set', action='append', default=[], metavar='NODE.PARAM=VALUE',
                            help='override one parameter (repeatable), e.g. '
                                 'clipdraw.preset=cpu; the value as typed, read as the '
                                 "parameter's type (text stays text: stt.language=no)"),
        parser.add_argument('--timeout', type=float, default=None, help=timeout_help),
    ]
    if sim_time:
        actions.append(parser.add_argument('--use-sim-time', action='store_true',
                                           help='all nodes on /clock'))
    return actions


def system_overrides(args, extra=None):
    from dream_session.system_config import parse_assignment
    overrides = {}

    def put(node, param, value):
        overrides.setdefault(node, {})[param] = value
    if args.sessions_dir:
        put('recorder', 'output_dir', os.path.abspath(args.sessions_dir))
    if args.clip_weights:
        put('clipdraw', 'clip_pretrained', args.clip_weights)
    for node, params in (extra or {}).items():
        for param, value in params.items():
            put(node, param, value)
    for text in args.set:
        put(*parse_assignment(text))
    return overrides


def report(runner):
    """Print each finished session and each recording; return the finished sessions."""
    manager = runner.nodes.get('session_manager')
    sessions = list(manager.finished) if manager is not None else []
    for session in sessions:
        print(f'session {session.session_id}: {STATE_NAMES[session.state]}'
              + (f' ({session.message})' if session.message else ''), file=sys.stderr)
    recorder = runner.nodes.get('recorder')
    for path in (recorder.closed_bags if recorder is not None else []):
        print(f'recorded: {path}', file=sys.stderr)
    return sessions


class RunVerb:
    help = 'run the whole machine in one process (no ROS 2 launch needed)'

    def add_arguments(self, parser):
        parser.add_argument('--audio-file',
                            help='take the dream from this file, not the mic (without --once '
                                 'the machine serves on after the file has played out, and '
                                 'says so, until Ctrl-C)')
        parser.add_argument('--once', action='store_true',
                            help='run one session and exit with its outcome')
        parser.add_argument('--fast', action='store_true',
                            help='play --audio-file as fast as possible, not in real time '
                                 '(each dream in the file is still a session of its own)')
        add_system_arguments(parser)

    def main(self, args):
        from dream_session.runner import SingleProcessRunner
        from dream_session.system_config import load_system

        extra = {}
        if args.audio_file:
            problem = audio_file_problem(args.audio_file)
            if problem and args.once:     # the file could not play: no session happened
                print(f'no session finished: {problem}', file=sys.stderr)
                return 2
            if problem:                   # 2 is a --once outcome; a refused run is 1
                from dream_session.command import UsageError
                raise UsageError(problem)
            extra['audio_capture'] = {'source': 'file',
                                      'file_path': os.path.abspath(args.audio_file),
                                      'realtime': not args.fast}
        if args.once:
            extra['session_manager'] = {'once': True}
            require_session_manager(args, '--once')
        specs = load_system(args.config, driver=args.driver, record=not args.no_record,
                            overrides=system_overrides(args, extra))
        runner = SingleProcessRunner(specs, use_sim_time=args.use_sim_time)
        print('starting: ' + ', '.join(spec.name for spec in specs), file=sys.stderr)
        runner.start()
        runner.catch_signals()      # from here on Ctrl-C/SIGTERM wind the run down
        over = OneSessionOver(runner, from_file=bool(args.audio_file)) if args.once else None
        try:
            if args.once:
                finished = runner.wait(over, timeout=args.timeout)
                clockless = args.use_sim_time and not finished and not _clock_came(runner)
            else:
                print('serving visitors; Ctrl-C to stop', file=sys.stderr)
                runner.wait(FilePlayedOut(runner) if args.audio_file else None)
        finally:
            runner.stop()
        sessions = report(runner)       # a session cut short by stop() counts as cancelled
        if not args.once:
            return 0
        if sessions:
            return 0 if sessions[0].state == STATE_NAMES.index('done') else 1
        why = over.why or ('interrupted' if runner.interrupted else
                           f'none within {args.timeout:g} s' if not finished else 'none')
        if clockless:
            why += (' (--use-sim-time, and no /clock came: the nodes stood still; play one, '
                    'e.g. dream replay BAG --clock)')
        print(f'no session finished: {why}', file=sys.stderr)
        return 2


def audio_file_problem(path):
    """Why ``path`` cannot be the run's audio file before anything starts, or None: missing,
    not a file, or not readable as audio (its header; a file that breaks further in is found
    when it plays)."""
    if os.path.isdir(path):
        return f'{path} is a directory, not an audio file'
    if not os.path.exists(path):
        return f'no such audio file: {path}'
    if not os.path.isfile(path):
        return f'{path} is not a regular file, so not an audio file'
    from dream_audio.file_source import AudioFileError, file_info
    try:
        file_info(path)
    except AudioFileError as exc:
        return f'cannot play: {exc}'    # as the capture node says it
    return None


class FilePlayedOut:
    """For ``runner.wait`` when serving from a file: says once in the log that the file has
    played out (sessions go on); never ends the wait."""

    def __init__(self, runner):
        self.capture = runner.nodes.get('audio_capture')
        self._playing = False
        self._told = False

    def __call__(self):
        if self.capture is None:
            return False
        running = self.capture.source_running
        if running:
            self._playing, self._told = True, False   # (a new file_path plays again)
        elif self._playing and not self._told:
            self._told = True
            problem = self.capture.source_problem
            print('the audio file has played out'
                  + (f' ({problem})' if problem else '')
                  + '; sessions go on until Ctrl-C', file=sys.stderr)
        return False


def _clock_came(runner):
    """Whether the nodes' sim clock has moved (a /clock message came)."""
    manager = runner.nodes.get('session_manager')
    return manager is None or manager.get_clock().now().nanoseconds > 0


def require_session_manager(args, what):
    """ConfigError before anything starts when ``what`` (a one-session run) has no session
    manager to run its session in the system of ``args`` (--config, --driver)."""
    from dream_session.system_config import ConfigError, load_system
    specs = load_system(args.config, driver=args.driver, record=False)
    if not any(spec.name == 'session_manager' for spec in specs):
        raise ConfigError(f'{what} runs one session, and the config has no session_manager '
                          f'node to run it (its nodes: {", ".join(s.name for s in specs)})')


class OneSessionOver:
    """Whether a one-session run is over: its session finished, or its input could not play,
    or the input was used up and no session started (silence) -- rather than waiting for
    speech that cannot come. ``why`` says which, for the last two. A session still listening
    once the input is used up (asked to repeat) is failed then, as ``ENDED`` says.

    The input is the run's audio file (none: a live microphone, never used up); a subclass
    names another input by its ``input_error``, ``input_used_up`` and texts."""

    QUIET = 2.0     # seconds with the input used up and no session busy
    ENDED = 'the audio file ended'
    UNHEARD = 'the audio file played out and no speech was heard in it'

    def __init__(self, runner, from_file=False):
        self.manager = runner.nodes['session_manager']
        self.capture = runner.nodes.get('audio_capture') if from_file else None
        self.vad = runner.nodes.get('vad')
        self.why = None
        self._quiet_since = None
        self._told = False

    def input_error(self):
        """Why the input could not play, or None."""
        return self.capture.source_error if self.capture is not None else None

    def input_used_up(self):
        """Whether everything the input will ever give has been handled."""
        if self.capture is None:
            return False
        return not self.capture.source_running and (self.vad is None
                                                    or self.vad.streams_ended > 0)

    def __call__(self):
        if self.manager.first_finished.is_set():
            return True
        error = self.input_error()
        if error:
            self.why = error
            return True
        live = self.manager.live_sessions()
        if not self.input_used_up() or (live and not self.manager.waiting_for_speech()):
            self._quiet_since = None
            return False
        self._quiet_since = self._quiet_since or time.monotonic()
        if time.monotonic() - self._quiet_since < self.QUIET:
            return False
        if live:    # asked for a repeat (or heard speech start) that the input cannot give
            if not self._told:
                self._told = True
                self.manager.speech_ended(self.ENDED)
            return False
        self.why = self.unheard()
        return True

    def unheard(self):
        """The why of an input used up without a session: UNHEARD, with what went wrong
        while it played (a decoding failure, a short file) or a hint when it was very
        quiet."""
        if self.capture is None:
            return self.UNHEARD
        from dream_audio.levels import quiet_hint
        notes = [getattr(self.capture, 'source_problem', None),
                 quiet_hint(getattr(self.capture, 'source_peak_dbfs', None))]
        notes = [note for note in notes if note]
        return self.UNHEARD + (f' ({"; ".join(notes)})' if notes else '')
