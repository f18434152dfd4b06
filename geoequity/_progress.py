"""Progress reporting on stderr for long steps, silenced by ``--quiet`` (or ``set_quiet``).

Library code calls :func:`step` around a long stage and :func:`bar` around long loops; both
are no-ops apart from stderr output, so they are safe in notebooks and tests.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (``True``) or restore (``False``) progress output for the whole process."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    """Whether progress output is silenced."""
    return _QUIET


def info(message: str) -> None:
    """Print one informational line to stderr unless quiet."""
    if not _QUIET:
        print(message, file=sys.stderr, flush=True)


@contextmanager
def step(description: str) -> Iterator[None]:
    """Report the start and the duration of a stage: ``- description ... 1.2 s``."""
    if _QUIET:
        yield
        return
    print(f"- {description} ...", file=sys.stderr, end="", flush=True)
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        print(" failed", file=sys.stderr, flush=True)
        raise
    print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def bar(iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterable[T]:
    """Wrap a long loop in a tqdm progress bar on stderr (plain iterable when quiet)."""
    if _QUIET:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)
