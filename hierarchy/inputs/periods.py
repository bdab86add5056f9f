"""Periods of time (day, week, month, quarter, year): which period a time falls in, where a period
starts and what it is called, and which period suits a set of times.

``auto`` picks the finest of day / week / month / quarter / year that cuts the span of the dated
documents into at most 60 periods *and* leaves about 10 documents per period on average (at least 6
periods are always allowed): finer periods would be mostly noise. Years read from a year column are
never split finer.

Plain arithmetic on times (seconds since the epoch, :mod:`topicmap.hierarchy.inputs.dates`), used by
the build (``--period`` checked before clustering) and by the trends of a finished tree
(:mod:`topicmap.hierarchy.analysis.trends`). The names load without NumPy (``--help`` lists them);
the functions import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topicmap.hierarchy.base.errors import InputError

if TYPE_CHECKING:
    import numpy as np

PERIODS = ("day", "week", "month", "quarter", "year")  # finest first
PERIOD_CHOICES = ("auto", *PERIODS)
DAY = 86_400
MAX_PERIODS = 60
DOCS_PER_PERIOD = 10
MIN_PERIODS = 6
FINEST = {"iso": "day", "epoch": "day", "year": "year"}  # a column's resolution: no period finer than it


def period_ordinals(times: np.ndarray, period: str) -> np.ndarray:
    """Every time's period as an integer that counts periods since 1970 (weeks start on Monday)."""
    import numpy as np

    seconds = np.floor(np.asarray(times, dtype=np.float64)).astype(np.int64)
    days = np.floor_divide(seconds, DAY)
    if period == "day":
        return days
    if period == "week":
        return np.floor_divide(days + 3, 7)  # 1970-01-01 was a Thursday; week 0 starts Monday 1969-12-29
    months = seconds.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    if period == "month":
        return months
    if period == "quarter":
        return np.floor_divide(months, 3)
    if period == "year":
        return np.floor_divide(months, 12)
    raise ValueError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}")


def period_start(ordinal: int, period: str) -> float:
    """Seconds since the epoch at which period ``ordinal`` begins."""
    import numpy as np

    if period == "day":
        return float(ordinal * DAY)
    if period == "week":
        return float((ordinal * 7 - 3) * DAY)
    months = {"month": 1, "quarter": 3, "year": 12}[period] * ordinal
    return float(np.datetime64(int(months), "M").astype("datetime64[s]").astype(np.int64))


def period_label(ordinal: int, period: str) -> str:
    """A sortable name: 2024-03-05 (day; for a week, its Monday), 2024-03, 2024-Q1, 2024."""
    import numpy as np

    if period in ("day", "week"):
        return str(np.datetime64(int(period_start(ordinal, period) // DAY), "D"))
    if period == "month":
        return str(np.datetime64(int(ordinal), "M"))
    if period == "quarter":
        return f"{1970 + ordinal // 4}-Q{ordinal % 4 + 1}"
    return str(1970 + ordinal)


def choose_period(times: np.ndarray, finest: str = "day") -> str:
    """The finest period from ``finest`` up whose count over the span stays within what the data can fill (module docstring)."""
    import numpy as np

    t = np.asarray(times, dtype=np.float64)
    t = t[np.isfinite(t)]
    candidates = PERIODS[PERIODS.index(finest):]
    if t.size == 0:
        return candidates[0]
    most = min(MAX_PERIODS, max(MIN_PERIODS, t.size // DOCS_PER_PERIOD))
    ends = np.array([t.min(), t.max()])
    for period in candidates:
        lo, hi = period_ordinals(ends, period)
        if hi - lo + 1 <= most:
            return period
    return candidates[-1]


def resolve_period(period: str | None, fmt: str | None, times: np.ndarray) -> str:
    """``period`` checked against the column's resolution; ``auto`` (or None) chosen by :func:`choose_period`."""
    finest = FINEST.get(fmt or "iso", "day")
    period = period or "auto"
    if period not in PERIOD_CHOICES:
        raise InputError(f"--period {period!r}: choose one of {', '.join(PERIOD_CHOICES)}")
    if period == "auto":
        return choose_period(times, finest)
    if PERIODS.index(period) < PERIODS.index(finest):
        raise InputError(f"--period {period}: the tree's times are years, so no period finer than a year can be counted")
    return period
