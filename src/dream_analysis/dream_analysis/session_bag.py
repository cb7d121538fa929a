"""One session's bag (or bags) read into one flat record, without ever writing to the archive.

A bag whose recorder was killed (``RECORDING`` marker, or no ``metadata.yaml``) is copied to a
temporary folder and mended there with dream_session's recovery, so the archive stays exactly
as it was. A bag that breaks off while being read keeps what was read before the break; a
message that cannot be decoded is counted and skipped. Messages are recognised by type, not by
topic name, so remapped topics are still read. A session recorded in several bags (its
recorder restarted) is read from all of them at once (``read_session_bags``).
"""
import collections
import datetime
import hashlib
import pathlib
import shutil
import tempfile

from dream_session.bag_recovery import is_bag_dir, needs_recovery
from dream_session.prompt_policy import REFUSAL_PATTERN


STATE_NAMES = ('idle', 'listening', 'transcribing', 'generating', 'plotting', 'done', 'failed',
               'cancelled')
TERMINAL_STATES = ('done', 'failed', 'cancelled')
SESSION_ERRORS = ('none', 'audio', 'speech rejected', 'speech recognition', 'generation', 'plot',
                  'timeout', 'internal')
# The error of a session whose bags hold no last status (done, failed or cancelled).
NO_OUTCOME = 'no outcome'
# Session errors that mean the dream never reached CLIP because of the speech side.
SPEECH_ERRORS = ('audio', 'speech rejected', 'speech recognition')
TRANSCRIPT_STATUS = ('ok', 'rejected: no speech', 'rejected: low confidence',
                     'rejected: repetition', 'rejected: empty', 'error')
GENERATION_ERRORS = ('none', 'invalid prompt', 'invalid options', 'model unavailable',
                     'cancelled', 'numerical', 'busy', 'internal')
PLOT_ERRORS = ('none', 'cancelled', 'invalid drawing', 'out of bounds', 'busy', 'not active',
               'device', 'device alarm', 'connection lost', 'timeout', 'internal')
SAMPLE_BYTES = {'pcm_s16le': 2, 'f32le': 4}

_PKG = 'dream_interfaces/msg/'
STATUS = _PKG + 'SessionStatus'
UTTERANCE = _PKG + 'Utterance'
TRANSCRIPT = _PKG + 'Transcript'
DRAWING = _PKG + 'Drawing'
GENERATION_RESULT = _PKG + 'GenerationResult'
PLOT_RESULT = _PKG + 'PlotResult'
IMAGE = 'sensor_msgs/msg/Image'


class BagUnreadable(Exception):
    """Nothing usable could be read from a bag (corrupt, empty or not a rosbag2)."""


class NotASessionBag(BagUnreadable):
    """A readable bag that holds none of our messages (another project's recording)."""


def _name(names, index):
    return names[index] if 0 <= index < len(names) else f'unknown ({index})'


def _ns(stamp):
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def read_session_bag(bag_dir):
    """The record of one session (a dict of plain values); BagUnreadable if nothing is usable.

    The record's ``bag_state`` says how it was read: ``complete``, ``recovered`` (an
    unfinished recording mended in a temporary copy) or ``read partly`` (the bag broke off).
    """
    return read_session_bags([bag_dir])


def read_session_bags(bag_dirs):
    """The record of one session recorded in several bags, read as one.

    A recorder restarted while a session ran leaves it in two bags (the killed recorder's,
    holding its beginning, and the new one's, holding the latched statuses again and the
    rest); one restarted after it ended could write its last latched statuses into a bag of
    their own. The messages of all the bags are taken together in time order, a message that
    a bag recorded earlier too (the same bytes) counted once. ``bag`` lists the bags ('; ')
    in the order they were recorded, ``bag_name`` names the first; ``bag_state`` is the worst
    of theirs, ``bag_notes`` names the bags and their notes.
    """
    keyed = len(bag_dirs) > 1
    read = sorted((_bag_messages(pathlib.Path(bag), keyed) for bag in bag_dirs),
                  key=lambda bag_read: min(t for found in bag_read[1].values()
                                           for t, _, _ in found))
    bags = [bag for bag, _, _, _ in read]
    record = _session_record(_merged(read), bags[0])
    record['bag'] = '; '.join(str(bag) for bag in bags)
    states = {state for _, _, state, _ in read}
    record['bag_state'] = next((s for s in ('read partly', 'recovered') if s in states),
                               'complete')
    notes = [f'{bag.name}: {note}' if keyed else note
             for bag, _, _, bag_notes in read for note in bag_notes]
    if keyed:
        notes.insert(0, f'one session recorded in {len(bags)} bags, read as one: '
                        + ', '.join(bag.name for bag in bags))
    record['bag_notes'] = '; '.join(notes)
    return record


def _merged(read):
    """msgtype -> [(log time ns, message)] of every bag read, in time order, less the copies
    of a message (its hash key) that another bag recorded first."""
    merged = collections.defaultdict(list)
    for index, (_, messages, _, _) in enumerate(read):
        for msgtype, found in messages.items():
            merged[msgtype] += [(t, index, key, msg) for t, key, msg in found]
    for msgtype, found in merged.items():
        found.sort(key=lambda item: item[:2])
        first_bag = {}
        merged[msgtype] = [(t, msg) for t, index, key, msg in found
                           if key is None or first_bag.setdefault(key, index) == index]
    return merged


def _bag_messages(bag_dir, keyed):
    """(bag_dir, {msgtype: [(log time ns, key, message)]}, bag_state, notes) of one bag;
    key: a hash of the message's bytes where ``keyed``, else None."""
    if not is_bag_dir(bag_dir):
        raise BagUnreadable(f'{bag_dir}: not a rosbag2 folder (no metadata.yaml, no .mcap)')
    if needs_recovery(bag_dir):
        return _salvage(bag_dir, 'unfinished recording', keyed)
    try:
        return _read(bag_dir, bag_dir, 'complete', [], keyed)
    except NotASessionBag:
        raise
    except BagUnreadable as exc:
        if not any(bag_dir.glob('*.mcap')):
            raise
        # A finished bag whose file was damaged later: salvage what the stream still holds.
        try:
            return _salvage(bag_dir, f'damaged bag ({exc})', keyed)
        except BagUnreadable:
            raise exc from None


def _salvage(bag_dir, what, keyed):
    """Read a bag by mending a temporary copy of it (dream_session's recovery)."""
    from dream_session.bag_recovery import BagRecoveryError, recover_bag
    with tempfile.TemporaryDirectory(prefix='dream-analysis-') as tmp:
        copy = pathlib.Path(tmp) / bag_dir.name
        try:
            shutil.copytree(bag_dir, copy)
        except (OSError, shutil.Error) as exc:    # shutil.Error lists every file it missed
            errors = exc.args[0] if isinstance(exc, shutil.Error) else [(bag_dir, copy, exc)]
            raise BagUnreadable(f'{bag_dir}: {what} that cannot be copied to be mended: '
                                f'{_first_copy_error(errors)}') from exc
        (copy / 'metadata.yaml').unlink(missing_ok=True)

        def here(exc):   # name the archive's bag, never the temporary copy
            return str(exc).replace(str(copy), str(bag_dir))
        try:
            report = recover_bag(copy)
        except (BagRecoveryError, OSError, ValueError, KeyError) as exc:
            raise BagUnreadable(f'{bag_dir}: {what} that cannot be mended: {here(exc)}') from exc
        except Exception as exc:  # the MCAP/rosbags stack raises many types on garbage
            raise BagUnreadable(f'{bag_dir}: {what} that cannot be mended: '
                                f'{type(exc).__name__}: {here(exc)}') from exc
        note = (f'{what} mended in a temporary copy: {report["messages"]} messages salvaged'
                + (' (file cut off)' if report['truncated'] else ''))
        return _read(copy, bag_dir, 'recovered', [note], keyed)


def _first_copy_error(errors):
    source, _, why = errors[0]
    why = getattr(why, 'strerror', None) or str(why)
    more = f' (and {len(errors) - 1} more)' if len(errors) > 1 else ''
    return f'{pathlib.Path(source).name}: {why}{more}'


def _read(path, original, state, notes, keyed):
    from rosbags.rosbag2 import Reader

    messages = collections.defaultdict(list)   # msgtype -> [(log time ns, key, message)]
    undecodable = 0
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # rosbags raises ReaderError, YAML, MCAP and OS errors
        raise BagUnreadable(f'{original}: not readable as a rosbag2: '
                            f'{type(exc).__name__}: {exc}') from exc
    try:
        try:
            store = typestore_for(reader.connections)
        except Exception as exc:
            raise BagUnreadable(f'{original}: its message definitions cannot be used: '
                                f'{type(exc).__name__}: {exc}') from exc
        try:
            for connection, timestamp, raw in reader.messages():
                try:
                    msg = store.deserialize_cdr(raw, connection.msgtype)
                except Exception:  # one bad message must not lose the session
                    undecodable += 1
                    continue
                key = hashlib.blake2b(raw, digest_size=16).digest() if keyed else None
                messages[connection.msgtype].append((int(timestamp), key, msg))
        except Exception as exc:
            if not messages:
                raise BagUnreadable(f'{original}: no message could be read: '
                                    f'{type(exc).__name__}: {exc}') from exc
            state = 'read partly'
            notes.append(f'bag breaks off ({type(exc).__name__}: {exc}); kept what came before')
    finally:
        reader.close()
    if undecodable:
        notes.append(f'{undecodable} message(s) could not be decoded and were skipped')
    if not messages:
        raise BagUnreadable(f'{original}: the bag holds no messages')
    if not any(msgtype.startswith('dream_interfaces/') for msgtype in messages):
        held = ', '.join(sorted(messages)[:4]) + (', ...' if len(messages) > 4 else '')
        raise NotASessionBag(f'{original}: not a Dreaming Machine session bag (no '
                             f'dream_interfaces messages; it holds {held})')
    return pathlib.Path(original), messages, state, notes


_STORES = {}


def typestore_for(connections):
    """A typestore built from the definitions the bag carries, shared by bags that agree.

    Every bag stores its own message definitions; building a typestore (and compiling its
    deserializers) costs far more than reading a session, and the bags of one archive
    almost always carry the same definitions, so stores are cached by their content.
    """
    from rosbags.interfaces import MessageDefinitionFormat
    from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore

    definitions = sorted({(c.msgtype, c.msgdef.format.name, c.msgdef.data)
                          for c in connections
                          if c.msgdef.format != MessageDefinitionFormat.NONE})
    key = hashlib.sha256(repr(definitions).encode('utf-8')).hexdigest()
    if key in _STORES:
        return _STORES[key]
    types = {}
    for msgtype, fmt, data in definitions:
        if fmt == 'MSG':
            types.update(get_types_from_msg(data, msgtype))
        else:
            separator = '=' * 80 + '\n'
            parts = [p.split('\n', 1)[1] for p in data.split(separator)[1:]] \
                if data.startswith(f'{separator}IDL: ') else [data]
            for idl in parts:
                types.update(get_types_from_idl(idl))
    if not types:   # a bag without definitions: ours (and ROS 2's standard types)
        from dream_session.interface_types import dream_typestore
        store = dream_typestore()
    else:
        store = get_typestore(Stores.EMPTY)
        store.register(types)
    if len(_STORES) > 16:
        _STORES.clear()
    _STORES[key] = store
    return store


def _session_id(messages, bag_name):
    """The session the bag is about: the id its status messages name most often."""
    counts = collections.Counter(m.session_id for _, m in messages.get(STATUS, ())
                                 if m.session_id)
    if not counts:
        for msgtype in (TRANSCRIPT, DRAWING, UTTERANCE, GENERATION_RESULT, PLOT_RESULT):
            counts.update(m.session_id for _, m in messages.get(msgtype, ()) if m.session_id)
    return counts.most_common(1)[0][0] if counts else bag_name


def _session_record(messages, bag):
    sid = _session_id(messages, bag.name)

    def mine(msgtype):
        # Idle statuses (no session id) belong to no session; other messages without an id
        # were routed here by the recorder because this session was the latest.
        allowed = (sid,) if msgtype == STATUS else ('', sid)
        return [(t, m) for t, m in messages.get(msgtype, ()) if m.session_id in allowed]

    record = {'session_id': sid, 'bag': str(bag), 'bag_name': bag.name}
    first = min(t for found in messages.values() for t, _ in found)
    record.update(_status_fields(mine(STATUS), first))
    record.update(_audio_fields(mine(UTTERANCE)))
    record.update(_transcript_fields(mine(TRANSCRIPT)))
    record.update(_drawing_fields(mine(DRAWING), mine(GENERATION_RESULT)))
    record.update(_plot_fields(mine(PLOT_RESULT)))
    if not record['prompt'] and record['generation_error']:
        record['prompt'] = record['text']   # the goal carried the transcript as its prompt
    record['previews'] = len(messages.get(IMAGE, ()))
    record['messages'] = sum(len(found) for found in messages.values())
    return record


def _status_fields(statuses, first_log_ns):
    statuses = sorted(statuses, key=lambda tm: (_ns(tm[1].header.stamp) or tm[0], tm[0]))
    start_ns = next((_ns(m.session_start) for _, m in statuses if _ns(m.session_start)), 0)
    start_ns = start_ns or first_log_ns
    fields = {
        'start_time': datetime.datetime.fromtimestamp(start_ns / 1e9, datetime.timezone.utc),
        'final_state': 'unknown', 'finished': False, 'failed': True, 'error': 'none',
        'error_message': '',
        'failure_stage': '', 'total_s': float('nan'),
    }
    for state in STATE_NAMES[1:5]:
        fields[f'{state}_s'] = float('nan')
    if not statuses:
        fields.update(error=NO_OUTCOME, error_message=f'{NO_OUTCOME} recorded: the bag holds '
                      'no session/status')
        return fields
    entries = []   # (entered at ns, state name), consecutive repeats merged
    for log_ns, msg in statuses:
        since = _ns(msg.state_since) or _ns(msg.header.stamp) or log_ns
        name = _name(STATE_NAMES, msg.state)
        if not entries or entries[-1][1] != name:
            entries.append((since, name))
    durations = collections.defaultdict(float)
    for (since, name), (nxt, _) in zip(entries, entries[1:]):
        durations[name] += max(0, nxt - since) / 1e9
    for state in STATE_NAMES[1:5]:
        if state in durations:
            fields[f'{state}_s'] = durations[state]
    last = statuses[-1][1]
    final = _name(STATE_NAMES, last.state)
    fields['final_state'] = final
    fields['finished'] = final in TERMINAL_STATES
    fields['failed'] = final != 'done'
    fields['error'] = _name(SESSION_ERRORS, last.error_code)
    if fields['error'] == 'speech rejected' and REFUSAL_PATTERN.search(last.message):
        fields['error'] = 'prompt refused'   # understood, and declined by the blocklist
    fields['error_message'] = last.message if final in ('failed', 'cancelled') else ''
    if final in ('failed', 'cancelled'):
        fields['failure_stage'] = _name(STATE_NAMES, last.previous_state)
    if fields['finished']:
        fields['total_s'] = max(0, entries[-1][0] - start_ns) / 1e9
    else:   # the session never ended, as far as its bags know
        fields.update(error=NO_OUTCOME, error_message=(
            f'{NO_OUTCOME} recorded: the recording ends while {final}; its session manager '
            'or recorder stopped'))
    return fields


def _audio_fields(utterances):
    seconds = 0.0
    for _, u in utterances:
        frame = SAMPLE_BYTES.get(u.encoding, 2) * max(1, int(u.channels))
        if u.sample_rate:
            seconds += len(u.data) / frame / float(u.sample_rate)
    return {'utterances': len(utterances), 'audio_s': seconds if utterances else float('nan')}


def _transcript_fields(transcripts):
    finals = [m for _, m in sorted(transcripts, key=lambda tm: tm[0]) if m.is_final]
    chosen = next((m for m in reversed(finals) if m.status == 0), finals[-1] if finals else None)
    fields = {'transcript_attempts': len(finals)}
    if chosen is None:
        fields.update(text='', original_text='', language='', language_probability=float('nan'),
                      task='', avg_logprob=float('nan'), no_speech_prob=float('nan'),
                      compression_ratio=float('nan'), transcript_status='none',
                      transcript_message='', stt_model='', stt_seconds=float('nan'))
        return fields
    fields.update(
        text=chosen.text, original_text=chosen.original_text or chosen.text,
        language=chosen.language, language_probability=float(chosen.language_probability),
        task='translate' if chosen.task == 1 else 'transcribe',
        avg_logprob=float(chosen.avg_logprob), no_speech_prob=float(chosen.no_speech_prob),
        compression_ratio=float(chosen.compression_ratio),
        transcript_status=_name(TRANSCRIPT_STATUS, chosen.status),
        transcript_message=chosen.status_message, stt_model=chosen.model,
        stt_seconds=float(chosen.processing_time))
    return fields


def _drawing_fields(drawings, results):
    from dream_clipdraw.drawing_io import from_msg
    from dream_clipdraw.errors import InvalidDrawing

    fields = {'generation_error': '', 'generation_message': '', 'drawing': None,
              'drawing_error': '', 'prompt': '', 'n_strokes': 0, 'canvas_width': 0,
              'canvas_height': 0, 'drawing_clip_model': '', 'drawing_clip_pretrained': '',
              'drawing_score': float('nan'), 'prompt_truncated': False, 'prompt_handling': '',
              'preset': '', 'iterations': 0, 'generation_s': float('nan')}
    message = drawings[-1][1] if drawings else None
    if results:
        result = sorted(results, key=lambda tm: tm[0])[-1][1]
        fields['generation_error'] = _name(GENERATION_ERRORS, result.error_code)
        fields['generation_message'] = result.message
        if message is None and result.error_code == 0 and len(result.drawing.strokes):
            message = result.drawing
    if message is None:
        return fields
    fields.update(prompt=message.prompt, n_strokes=len(message.strokes),
                  canvas_width=int(message.canvas_width), canvas_height=int(message.canvas_height),
                  drawing_clip_model=message.clip_model,
                  drawing_clip_pretrained=message.clip_pretrained,
                  drawing_score=float(message.score),
                  prompt_truncated=bool(message.prompt_truncated),
                  prompt_handling=message.prompt_handling, preset=message.preset,
                  iterations=int(message.iterations),
                  generation_s=float(message.generation_time))
    try:
        fields['drawing'] = from_msg(message)
    except (InvalidDrawing, ValueError, TypeError) as exc:
        fields['drawing_error'] = str(exc)
    return fields


def _plot_fields(results):
    if not results:
        return {'plot_error': '', 'plot_message': '', 'strokes_plotted': 0,
                'plot_s': float('nan')}
    result = sorted(results, key=lambda tm: tm[0])[-1][1]
    return {'plot_error': _name(PLOT_ERRORS, result.error_code), 'plot_message': result.message,
            'strokes_plotted': int(result.strokes_done), 'plot_s': float(result.duration)}
