"""Atomic file output: write to a temporary sibling, then rename over the target.

A failure part-way never leaves a half-written file where the user expects output. Temporary
names carry their writer (``.<stem>.~gq-<host>-<pid>-XXXXXXXX<suffix>``), so the temporary files
of a killed process are recognised and removed by the next write into the same folder; files of
a live process, of another host or of anyone else are never touched.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# this host, as temporary file names carry it (letters and digits of its name)
HOST_TAG = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
# .<stem>.~gq-<host>-<pid>-<random><suffix>[.tmp], and what a writer adds (-journal, -wal)
_TEMP = re.compile(r"^\..*\.~gq-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-")


def process_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this host (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale_temps(folder: str | os.PathLike) -> None:
    """Remove the temporary files killed geoequity processes of this host left in ``folder``."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        hit = _TEMP.match(entry.name)
        if (hit and hit["host"] == HOST_TAG and int(hit["pid"]) != os.getpid()
                and not process_alive(int(hit["pid"])) and not entry.is_dir()):
            try:
                os.unlink(entry.path)
            except OSError:
                pass   # gone already, or not ours to remove after all


@dataclass
class PendingFile:
    """A finished temporary file beside ``target``, moved over it by :meth:`commit`."""

    target: Path
    path: Path
    committed: bool = False

    def commit(self) -> Path:
        try:
            os.replace(self.path, self.target)
        except OSError as exc:   # name the user's path, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(self.target)) from None
        self.committed = True
        return self.target


@contextmanager
def pending_path(path: str | os.PathLike) -> Iterator[PendingFile]:
    """Yield a :class:`PendingFile` whose ``path`` sits beside ``path`` with the same suffix.

    Write to ``.path``, then call ``.commit()`` to move it into place. Leaving the block without
    committing (or with an exception) removes the temporary file and leaves ``path`` as it was.
    The parent folder is created if needed.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.~gq-{HOST_TAG}-{os.getpid()}-",
                               suffix=f"{target.suffix}.tmp", dir=target.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as GDAL want to create the file themselves
    pending = PendingFile(target, Path(tmp[: -len(".tmp")]))
    try:
        yield pending
    finally:
        for leftover in (pending.path, Path(tmp)):
            if leftover.exists() and leftover != target:
                leftover.unlink()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` with the same suffix; move it into place on success.

    The parent folder is created if needed. On any exception the temporary file is removed and
    ``path`` is left as it was.
    """
    with pending_path(path) as pending:
        try:
            yield pending.path
        except OSError as exc:   # a full disk while writing: name the user's file
            if exc.filename in (None, str(pending.path)):
                raise OSError(exc.errno, exc.strerror or str(exc), str(pending.target)) from None
            raise
        pending.commit()


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)
