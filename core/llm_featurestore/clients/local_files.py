"""The local store's data file: atomic replacement, and the temp files interrupted writes leave.

A write of :class:`~llm_featurestore.clients.local.LocalFeatureStore` goes to a temp
file beside the data file, named after the data file and its writer::

    .features.json.<machine>-<pid>.<random>.tmp

(``machine``: the host name, and on Linux the process's pid namespace), is flushed,
fsynced and renamed over the data file, so a crash mid-write leaves the previous file
whole, but leaves the temp file too. :func:`remove_leftovers`, run when a store opens
its file and before each of its writes, deletes the temp files of that data file that
no live writer holds:

* only names of that pattern, for that data file: nothing else beside it is touched,
  and nothing but the data file itself is ever read as data;
* the temp file of a writer on this machine whose process no longer runs goes at once;
* any other (another machine's writer, a pid reused since, a platform without a safe
  process check, the random-only names of earlier versions) goes once untouched for
  :data:`LEFTOVER_AGE_SECONDS`: no write takes that long, so a live writer in another
  process, or another store of this one, keeps its file until it renames it.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import tempfile
import time
from functools import lru_cache
from pathlib import Path

__all__ = ["LEFTOVER_AGE_SECONDS", "remove_leftovers", "write_atomically"]

logger = logging.getLogger("llm_featurestore.clients.local")

LEFTOVER_AGE_SECONDS = 600.0
"""A temp file whose writer cannot be proven dead is removed once this old (by mtime)."""


@lru_cache(maxsize=1)
def _machine() -> str:
    """This host's name and pid namespace: where a pid means this process table's pid."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return host
    return f"{host}_{namespace}"


def _pattern(data_path: Path) -> re.Pattern[str]:
    return re.compile(
        rf"^\.{re.escape(data_path.name)}\."
        r"(?:(?P<machine>[A-Za-z0-9_]+)-(?P<pid>\d+)\.)?[a-z0-9_]{8}\.tmp$"
    )


def write_atomically(data_path: Path, text: str) -> None:
    """Replace ``data_path`` with ``text`` (UTF-8): temp file, fsync, rename.

    The temp file is removed when the write fails; a process killed meanwhile leaves
    it for :func:`remove_leftovers`.
    """
    data_path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{data_path.name}.{_machine()}-{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=data_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, data_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_leftovers(data_path: Path, *, max_age_s: float = LEFTOVER_AGE_SECONDS) -> list[Path]:
    """Delete the temp files interrupted writes of ``data_path`` left (see the module).

    Never raises: a file that cannot be examined or removed stays.

    Returns:
        The files removed.
    """
    pattern = _pattern(data_path)
    try:
        entries = list(os.scandir(data_path.parent))
    except OSError:
        return []
    removed: list[Path] = []
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or not _abandoned(entry, match, now, max_age_s):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    if removed:
        logger.info(
            "Removed %d temp file(s) of interrupted writes beside %s", len(removed), data_path
        )
    return removed


def _abandoned(entry: os.DirEntry[str], match: re.Match[str], now: float, max_age_s: float) -> bool:
    pid = match.group("pid")
    if pid is not None and match.group("machine") == _machine() and not _running(int(pid)):
        return True
    try:
        return now - entry.stat(follow_symlinks=False).st_mtime > max_age_s
    except OSError:
        return False


def _running(pid: int) -> bool:
    """Whether process ``pid`` of this machine may still run (True when unsure)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True
