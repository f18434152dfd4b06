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


def set_quiet(quiet: bool = True) -> None:
    """Silence (``True``, the default) or restore (``False``) progress output.

    geoequity prints its progress (``- walk travel costs ... 2.1 s``, bars of long loops,
    notes such as the first-use compile message) on stderr. ``geoequity.set_quiet()`` turns it
    off for the whole process, e.g. at the top of a notebook; the CLI's ``--quiet`` does the
    same. Results, warnings and errors are not affected.

    Parameters
    ----------
    quiet
        ``True`` to silence progress output, ``False`` to print it again.
    """
    global _QUIET
    _QUIET = bool(quiet)


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Silence progress output inside a ``with`` block, then restore the previous setting::

        with geoequity.quiet():
            costs = geoequity.travel_costs(children, schools, network=net)
    """
    was = _QUIET
    set_quiet(on)
    try:
        yield
    finally:
        set_quiet(was)


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


_CHECKED_KERNELS: set[str] = set()


def compile_notice(kernels: Iterable[object], what: str, seconds: int) -> None:
    """Say so, once per process, before numba compiles ``kernels`` on their first use.

    Checked on the first call for ``what`` only (later calls return at once): a kernel will
    compile when this process has not compiled it and numba's on-disk cache holds no entry
    for it (a fresh install, a new Python, or a changed kernel). Without numba, silent.
    """
    if what in _CHECKED_KERNELS:
        return
    _CHECKED_KERNELS.add(what)
    if any(_will_compile(k) for k in kernels):
        info(f"  compiling {what} (first use, about {seconds} s; later runs reuse it) ...")


def _will_compile(kernel: object) -> bool:
    try:
        return not kernel.overloads and not kernel._cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - no numba, or its cache layout changed: say nothing
        return False


def bar(iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterable[T]:
    """Wrap a long loop in a tqdm progress bar on stderr (plain iterable when quiet)."""
    if _QUIET:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)
