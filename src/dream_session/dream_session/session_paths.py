"""File names for sessions: a session id never reaches the file system raw."""
import datetime
import hashlib
import re

_UNSAFE = re.compile(r'[^A-Za-z0-9_-]+')
MAX_ID_CHARS = 48


def safe_session_name(session_id):
    """A file-name-safe form of a session id: letters, digits, '-' and '_' only.

    Anything else (path separators, dots, spaces, control characters) is replaced, and a short
    hash of the raw id is appended whenever it had to change, so distinct ids stay distinct.
    """
    cleaned = _UNSAFE.sub('-', session_id).strip('-_')[:MAX_ID_CHARS] or 'session'
    if cleaned != session_id:
        digest = hashlib.sha256(session_id.encode('utf-8', 'surrogatepass')).hexdigest()[:8]
        cleaned = f'{cleaned}-{digest}'
    return cleaned


def session_dir_name(session_id, started=None):
    """``YYYYmmddTHHMMSSZ_<safe id>``: sorts by time, readable, unique per session."""
    started = started or datetime.datetime.now(datetime.timezone.utc)
    stamp = started.astimezone(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    return f'{stamp}_{safe_session_name(session_id)}'
