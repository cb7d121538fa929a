"""The archive: a tree of session bags read into one pandas table, one row per session.

Failed sessions are rows too (marked by ``final_state``, ``error`` and ``failure_stage``); a
bag that cannot be read at all becomes an issue in the list returned beside the table, never
an exception, so one corrupt recording cannot stop the analysis of hundreds.
"""
import os
import pathlib
from dataclasses import dataclass

from dream_analysis.session_bag import BagUnreadable, read_session_bag
from dream_session.bag_recovery import is_bag_dir


@dataclass(frozen=True)
class ArchiveIssue:
    """A bag that was skipped, or read only in part."""

    bag: str
    kind: str        # 'skipped' or the bag_state of a bag read in part ('recovered', ...)
    message: str


def find_bags(root):
    """Bag folders under ``root`` (or ``root`` itself), sorted; hidden folders are ignored."""
    root = pathlib.Path(root)
    if not root.exists():
        raise FileNotFoundError(f'sessions folder not found: {root}')
    if not root.is_dir():
        raise NotADirectoryError(f'{root} is not a folder: pass the folder holding the '
                                 'session bags (one sub-folder per session)')
    if is_bag_dir(root):
        return [root]
    found = []
    for current, dirs, _ in os.walk(root):
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

    bags = find_bags(root)
    rows, issues = [], []
    for bag in (progress(bags) if progress else bags):
        try:
            record = read_session_bag(bag)
        except BagUnreadable as exc:
            issues.append(ArchiveIssue(str(bag), 'skipped', str(exc)))
            continue
        if record['bag_state'] != 'complete' or record['bag_notes']:
            issues.append(ArchiveIssue(str(bag), record['bag_state'], record['bag_notes']))
        rows.append(record)
    rows = _without_copies(rows, issues)
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else ['session_id'])
    if rows:
        table = _unique_ids(table).sort_values('start_time', kind='stable')
        table = table.reset_index(drop=True)
    return table, issues


def _without_copies(rows, issues):
    """Rows less the bags that are byte-for-byte copies of an earlier one (a session folder
    copied under another name, e.g. as a backup): one session must count once. Only bags
    sharing a session id are compared."""
    by_id = {}
    for row in rows:
        by_id.setdefault(row['session_id'], []).append(row)
    copies = set()
    for same in by_id.values():
        if len(same) < 2:
            continue
        first_of = {}
        for row in same:
            digest = _recording_digest(row['bag'])
            if digest in first_of:
                copies.add(id(row))
                issues.append(ArchiveIssue(
                    row['bag'], 'skipped',
                    f'a copy of {first_of[digest]} (the same recording): counted once'))
            else:
                first_of[digest] = row['bag']
    return [row for row in rows if id(row) not in copies]


def _recording_digest(bag):
    """The content of a bag folder's recordings, whatever the files are named."""
    import hashlib

    digests = []
    for path in sorted(pathlib.Path(bag).glob('*.mcap*')):
        digest = hashlib.sha256()
        with open(path, 'rb') as stream:
            for block in iter(lambda: stream.read(1 << 20), b''):
                digest.update(block)
        digests.append(digest.hexdigest())
    return tuple(sorted(digests))


def _unique_ids(table):
    """Two bags of one session id (a re-recorded replay) stay two rows with distinct ids."""
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
