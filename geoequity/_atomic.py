"""Atomic file output: write to a temporary sibling, then rename over the target.

A failure part-way never leaves a half-written file where the user expects output.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` with the same suffix; move it into place on success.

    The parent folder is created if needed. On any exception the temporary file is removed and
    ``path`` is left as it was.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f"{target.suffix}.tmp",
                               dir=target.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as GDAL want to create the file themselves
    tmp_path = Path(tmp[: -len(".tmp")]) if tmp.endswith(".tmp") else Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as exc:   # a full disk while writing: name the user's file
            if exc.filename in (None, str(tmp_path)):
                raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from None
            raise
        try:
            os.replace(tmp_path, target)
        except OSError as exc:   # name the user's path, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(target)) from None
    finally:
        for leftover in (tmp_path, Path(tmp)):
            if leftover.exists() and leftover != target:
                leftover.unlink()


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)
