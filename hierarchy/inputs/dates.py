"""A time column read into seconds since 1970-01-01 UTC: ISO dates or datetimes, years, or epoch seconds.

The format is decided once per column (:func:`detect_format`) from all its values, so a column of
``2019``, ``2020`` ... is read as years and not as seconds after 1970, and every value is then read
in that one format: a value that does not fit is reported with its row (one line), or, when the
caller allows it, the document is kept undated (NaN) and counted. Naive datetimes are taken as UTC;
an offset (``+02:00``, ``Z``) is honoured. Years mean the year's first instant.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import numpy as np

from topicmap.hierarchy.base.errors import InputError

FORMATS = ("iso", "year", "epoch")
FORMAT_NAMES = {"iso": "ISO dates or datetimes", "year": "years", "epoch": "epoch seconds"}
YEAR_RANGE = (1000, 2999)
# Seconds beyond this are not plausible epoch seconds (year 5138): most likely milliseconds.
EPOCH_LIMIT = 1e11
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_YEAR = re.compile(r"^\d{4}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class TimeColumn:
    """Times of one column, row-aligned with the documents: seconds since the epoch (UTC), NaN when undated."""

    column: str
    format: str
    times: np.ndarray
    bad: list[str] = field(default_factory=list)  # where each undated document is (its row), when skipping

    def manifest(self) -> dict[str, Any]:
        """What the tree file's manifest records, so ``assign`` and ``trends`` read the column the same way."""
        return {"column": self.column, "format": self.format, "dated": int(np.isfinite(self.times).sum()), "undated": int(np.isnan(self.times).sum())}


def value_kind(value: Any) -> str | None:
    """The format a single value looks like (None: empty or unreadable in every format)."""
    if isinstance(value, (datetime, date)):
        return "iso"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return "year" if float(value).is_integer() and YEAR_RANGE[0] <= value <= YEAR_RANGE[1] else "epoch"
    if isinstance(value, str):
        text = value.strip()
        if _YEAR.match(text):
            return "year" if YEAR_RANGE[0] <= int(text) <= YEAR_RANGE[1] else "epoch"
        if _ISO.match(text):
            return "iso"
        if _NUMBER.match(text):
            return "epoch"
    return None


def detect_format(values: Sequence[Any]) -> str | None:
    """The column's format: the kind most of its values have (ISO wins a tie; years only if there are more
    year-like numbers than other numbers). None when no value is readable."""
    counts = dict.fromkeys(FORMATS, 0)
    for value in values:
        kind = value_kind(value)
        if kind is not None:
            counts[kind] += 1
    return format_of_counts(counts)


def format_of_counts(counts: dict[str, int]) -> str | None:
    """:func:`detect_format` from how many values look like each format (a corpus read in one pass counts them as it goes)."""
    numbers = counts["year"] + counts["epoch"]
    if counts["iso"] == 0 and numbers == 0:
        return None
    if counts["iso"] >= numbers:
        return "iso"
    return "year" if counts["year"] > counts["epoch"] else "epoch"


def parse_value(value: Any, fmt: str) -> float:
    """Seconds since the epoch (UTC) of one value read as ``fmt``; ValueError saying why when it does not fit."""
    if value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("is empty")
    if isinstance(value, bool):
        raise ValueError(f"is {value!r}, not a date")
    if fmt == "iso":
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        elif isinstance(value, str) and _ISO.match(value.strip()):
            text = value.strip()
            if text.endswith("Z"):
                text = text[:-1] + "+00:00"
            try:
                moment = datetime.fromisoformat(text)
            except ValueError as exc:
                raise ValueError(f"is not a valid date ({exc})") from None
        else:
            raise ValueError("is not an ISO date or datetime (such as 2024-03-05 or 2024-03-05T14:30:00Z)")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if fmt == "year":
        year = _number(value)
        if year is None or not float(year).is_integer() or not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
            raise ValueError(f"is not a year between {YEAR_RANGE[0]} and {YEAR_RANGE[1]}")
        return datetime(int(year), 1, 1, tzinfo=timezone.utc).timestamp()
    if fmt == "epoch":
        seconds = _number(value)
        if seconds is None:
            raise ValueError("is not a number of seconds since 1970-01-01")
        if abs(seconds) >= EPOCH_LIMIT:
            raise ValueError("is too large for seconds since 1970-01-01 (milliseconds? divide by 1000)")
        return float(seconds)
    raise ValueError(f"unknown time format {fmt!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        number = float(value.strip())
        return number if math.isfinite(number) else None
    return None


def read_time_column(
    values: Sequence[tuple[str, Any]], source: str, column: str, skip_bad: bool = False, fmt: str | None = None
) -> TimeColumn:
    """Parse ``(where, value)`` pairs of one column; ``fmt`` None detects the format from the values.

    A value that does not fit the format raises :class:`InputError` naming ``source``, the row, the
    column and the value, unless ``skip_bad``: then the document stays undated (NaN) and its row is
    listed in ``bad``. ``fmt`` is given when documents are added to a tree that already has a format.
    """
    chosen = fmt or detect_format([value for _, value in values])
    return parse_time_column(values, len(values), values[0] if values else None, source, column, chosen, skip_bad)


def parse_time_column(
    values: Iterable[tuple[str, Any]], n: int, first: tuple[str, Any] | None, source: str, column: str, chosen: str | None, skip_bad: bool = False
) -> TimeColumn:
    """The ``n`` ``(where, value)`` pairs of one column (an iterator will do: read once) parsed as ``chosen``
    (None: no value was readable; ``first`` is the first pair, which that error names)."""
    if chosen is None:
        if skip_bad:
            return TimeColumn(column, "iso", np.full(n, np.nan), [where for where, _ in values])
        where, value = first if first is not None else ("row 1", None)
        raise InputError(f"{source}: {where}: field {column!r} is {_shown(value)}: no value of column {column!r} reads as a date, a year or epoch seconds")
    times = np.empty(n, dtype=np.float64)
    bad: list[str] = []
    for k, (where, value) in enumerate(values):
        try:
            times[k] = parse_value(value, chosen)
        except ValueError as exc:
            if not skip_bad:
                raise InputError(
                    f"{source}: {where}: field {column!r} {_shown(value)} {exc} (the column reads as {FORMAT_NAMES[chosen]}; "
                    "use --skip-bad-dates to keep such documents undated)"
                ) from None
            times[k] = np.nan
            bad.append(where)
    return TimeColumn(column, chosen, times, bad)


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value if len(value) <= limit else value[: limit - 3] + "...")
    return text
