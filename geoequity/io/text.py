"""Decoding CSV text: the one rule every CSV reader of geoequity follows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._progress import info

__all__ = ["looks_gb", "read_csv_text"]


def looks_gb(raw: bytes) -> bool:
    """True when the non-ASCII bytes of ``raw`` come in GB2312/GBK pairs (both bytes high), as
    Chinese text does; Latin-1/Windows-1252 text has isolated accented bytes instead."""
    high = np.frombuffer(raw, dtype=np.uint8) >= 0x80
    n = int(high.sum())
    if n == 0:
        return True
    paired = high[:-1] & high[1:]
    # in Chinese text nearly every high byte has a high neighbour; accents stand alone
    lone = high & ~np.concatenate([[False], paired]) & ~np.concatenate([paired, [False]])
    return int(lone.sum()) <= 0.05 * n


def read_csv_text(path: str | Path, **read_csv) -> pd.DataFrame:
    """``pandas.read_csv`` of a file in UTF-8 (with or without BOM), else in GB18030 when its
    bytes look like Chinese text (Excel in China saves CSV as GBK); a Latin-1/Windows-1252
    file is refused naming the line and the byte. The one decoding rule of every CSV reader;
    pandas' own errors (a damaged table) reach the caller."""
    path = Path(path)
    try:
        return pd.read_csv(path, encoding="utf-8-sig", **read_csv)
    except UnicodeDecodeError:
        raw = path.read_bytes()
        if not looks_gb(raw):
            bad = next(i for i, b in enumerate(raw) if b >= 0x80)
            line = raw.count(b"\n", 0, bad) + 1
            raise input_error(path, f"is not UTF-8 text (byte 0x{raw[bad]:02X} on line "
                              f"{line} looks like Latin-1/Windows-1252)",
                              "save it as UTF-8 (Excel: 'CSV UTF-8')") from None
        df = pd.read_csv(path, encoding="gb18030", **read_csv)
        info(f"  {path.name}: not UTF-8; read as GB18030 (GBK) text")
        return df
