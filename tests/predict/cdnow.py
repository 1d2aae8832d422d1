"""The CDNOW sample (tests/predict/data, see its README) loaded as arrays."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
#: The papers' 39-week calibration period ends on this day; the holdout runs to 1998-06-30.
CALIBRATION_END = date(1997, 9, 30).toordinal()


def transactions():
    """Every purchase: (sample customer id, day as a date ordinal, dollar value)."""
    raw = np.loadtxt(DATA / "CDNOW_sample.txt")
    ymd = raw[:, 2].astype(int)
    day = np.array([date(v // 10000, v // 100 % 100, v % 100).toordinal() for v in ymd], dtype=float)
    return raw[:, 1].astype(np.int64), day, raw[:, 4]


def published_summary():
    """The published calibration summary: ID, x, t_x, T (weeks), zbar (dollars)."""
    return np.genfromtxt(DATA / "cdnow_customers_summary_with_transactions.csv", delimiter=",", names=True)
