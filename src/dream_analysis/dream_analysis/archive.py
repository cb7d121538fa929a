"""The archive: a tree of session bags read into one pandas table, one row per session.

Failed sessions are rows too (marked by ``final_state``, ``error`` and ``failure_stage``); a
bag that cannot be read at all becomes an issue in the list returned beside the table, never
an exception, so one corrupt recording cannot stop the analysis of hundreds. A session is one
row however many bags hold it (a recorder restarted while it ran splits it in two), and a bag
copied under another name is not a session of its own.
"""
import os
import pathlib
import re
from dataclasses import dataclass

from dream_analysis.session_bag import BagUnreadable, read_session_bag, read_session_bags
from dream_session.bag_recovery import is_bag_dir
from dream_session.session_paths import safe_session_name

RECORDER_NAME = re.compile(r'\d{8}T\d{6}Z_.+')   # session_paths.session_dir_name


@dataclass(frozen=True)
class ArchiveIssue:
    """A bag that was skipped, or read only in part."""

    bag: str
    kind: str        # 'skipped' or the bag_state of a bag read in part ('recovered', ...)
    message: str


def find_bags(root, unreadable=None):
    """Bag folders under ``root`` (or ``root`` itself), sorted; hidden folders are ignored.

    unreadable: an optional list that receives the OSError of each folder that could not be
    listed (so it is reported, not silently passed over)."""
    root = pathlib.Path(root)
    if not root.exists():
        raise FileNotFoundError(f'sessions folder not found: {root}')
    if not root.is_dir():
        raise NotADirectoryError(f'{root} is not a folder: pass the folder holding the '
                                 'session bags (one sub-folder per session)')
    if is_bag_dir(root):
        return [root]
    found = []
    on_error = unreadable.append if unreadable is not None else None
    for current, dirs, _ in os.walk(root, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        here = pathlib.Path(current)
        if here != root and is_bag_dir(here):
            found.append(here)
            dirs[:] = []   # a bag folder holds no further sessions
    return sorted(found)


def read_archive(root, *, progress=None):
    """(table, issues): every readable session under ``root``, and what went wrong elsewhere.

    progress: optional callable wrapping an iterable (e.g. a tqdm factory).
    """
    import pandas as pd

    unlisted = []
    bags = find_bags(root, unreadable=unlisted)
    rows = []
    issues = [ArchiveIssue(str(exc.filename), 'skipped',
                           f'folder cannot be read: {exc.strerror or exc}') for exc in unlisted]
    for bag in (progress(bags) if progress else bags):
        try:
            record = read_session_bag(bag)
        except BagUnreadable as exc:
            issues.append(ArchiveIssue(str(bag), 'skipped', str(exc)))
            continue
        if record['bag_state'] != 'complete' or record['bag_notes']:
            issues.append(ArchiveIssue(str(bag), record['bag_state'], record['bag_notes']))
        rows.append(record)
    rows = _one_row_per_session(_without_copies(rows, issues), issues)
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else ['session_id'])
    if rows:
        table = _unique_ids(table).sort_values('start_time', kind='stable')
        table = table.reset_index(drop=True)
    return table, issues


def _without_copies(rows, issues):
    """Rows less the bags that are copies of another one (a session folder copied under
    another name, as a backup, before or after it was mended): one session must count once.
    Only bags sharing a session id are compared; the recorder's own folder is the one kept."""
    by_id = {}
    for row in rows:
        by_id.setdefault(row['session_id'], []).append(row)
    copies, copied = set(), set()
    for sid, same in by_id.items():
        if len(same) < 2:
            continue
        kept = {}
        for row in sorted(same, key=lambda r: _original_first(r, sid)):
            digest = _recording_digest(row['bag'])
            if digest in kept:
                copies.add(id(row))
                copied.add(row['bag'])
                issues.append(ArchiveIssue(
                    row['bag'], 'skipped',
                    f'a copy of {kept[digest]} (the same recording): counted once'))
            else:
                kept[digest] = row['bag']
    issues[:] = [i for i in issues if i.bag not in copied or i.kind == 'skipped']
    return [row for row in rows if id(row) not in copies]


def _original_first(row, session_id):
    """Sort key: the folder the recorder named for this session, a bag read whole, the path."""
    name = row['bag_name']
    recorder_named = bool(RECORDER_NAME.fullmatch(name)) and \
        name.endswith('_' + safe_session_name(session_id))
    return (not recorder_named, row.get('bag_state') != 'complete', row['bag'])


def _recording_digest(bag):
    """The recording as the recorder wrote it, whatever the files are named: a mended file's
    original (kept as ``.mcap.partial``) stands for it."""
    import hashlib

    files = {}
    for path in sorted(pathlib.Path(bag).glob('*.mcap*')):   # x.mcap sorts before x.mcap.partial
        if path.suffix in ('.mcap', '.partial'):
            files[path.name.removesuffix('.partial')] = path
    digests = []
    for path in files.values():
        digest = hashlib.sha256()
        with open(path, 'rb') as stream:
            for block in iter(lambda: stream.read(1 << 20), b''):
                digest.update(block)
        digests.append(digest.hexdigest())
    return tuple(sorted(digests))


def _one_row_per_session(rows, issues):
    """The rows of bags that hold one session (the same session id and session start, as
    its statuses give them) read together as one row (session_bag.read_session_bags): a
    recorder restarted while the session ran left it in two bags, or one restarted after it
    ended wrote its last, latched statuses into a bag of their own."""
    sessions = {}
    for row in rows:
        sessions.setdefault((row['session_id'], row['start_time']), []).append(row)
    merged = []
    for same in sessions.values():
        if len(same) == 1:
            merged += same
            continue
        try:
            merged.append(read_session_bags([row['bag'] for row in same]))
        except BagUnreadable as exc:    # it changed since it was read a moment ago
            merged += same
            issues.append(ArchiveIssue(same[0]['bag'], 'read apart', f'one of the bags of '
                                       f'session {same[0]["session_id"]}: {exc}'))
    return merged


def _unique_ids(table):
    """Two sessions given one id (different session starts) stay two rows with distinct ids."""
    seen = {}
    ids = []
    for sid, bag in zip(table['session_id'], table['bag_name']):
        seen[sid] = seen.get(sid, 0) + 1
        ids.append(sid if seen[sid] == 1 else f'{sid} ({bag})')
    table = table.copy()
    table['session_id'] = ids
    return table


def with_images(table, size=224, samples=2):
    """The table with an ``image`` column: each drawing rendered (size x size x 3 uint8), or
    None where there is no drawing. Kept apart from read_archive: a large archive's images
    take memory the analysis does not need all at once."""
    from dream_analysis.drawing_images import SquareView, to_uint8

    table = table.copy()
    table['image'] = [to_uint8(SquareView(d, size, samples).render()) if d is not None else None
                      for d in table['drawing']]
    return table
