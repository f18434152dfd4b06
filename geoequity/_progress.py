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
_OPEN_STEP = False  # a "- step ..." line is waiting for its duration


def set_quiet(quiet: bool) -> None:
    """Silence (``True``) or restore (``False``) progress output for the whole process."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    """Whether progress output is silenced."""
    return _QUIET


def info(message: str) -> None:
    """Print one informational line to stderr unless quiet."""
    global _OPEN_STEP
    if not _QUIET:
        if _OPEN_STEP:
            print(file=sys.stderr)
            _OPEN_STEP = False
        print(message, file=sys.stderr, flush=True)


@contextmanager
def step(description: str) -> Iterator[None]:
    """Report the start and the duration of a stage: ``- description ... 1.2 s``."""
    global _OPEN_STEP
    if _QUIET:
        yield
        return
    if _OPEN_STEP:
        print(file=sys.stderr)
    print(f"- {description} ...", file=sys.stderr, end="", flush=True)
    _OPEN_STEP = True
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        _close(" failed")
        raise
    _close(f" {time.perf_counter() - start:.1f} s", description)


def _close(text: str, description: str | None = None) -> None:
    global _OPEN_STEP
    if _OPEN_STEP:
        print(text, file=sys.stderr, flush=True)
    else:
        print(f"  {description or ''} done:{text}", file=sys.stderr, flush=True)
    _OPEN_STEP = False


def bar(iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterable[T]:
    """Wrap a long loop in a tqdm progress bar on stderr (plain iterable when quiet)."""
    if _QUIET:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)
