"""CSV that is safe to open in a spreadsheet: text that would start a formula is kept as text.

Excel, LibreOffice Calc and Google Sheets read a cell whose text begins with ``=``, ``+``, ``-`` or
``@`` as a formula (tab and carriage return too, after some imports), so a document id or a label
such as ``=HYPERLINK("http://x", "click")`` would become a live formula in the user's sheet. Such
text cells get a leading apostrophe, as spreadsheet-safe exporters do (OWASP's advice for CSV
injection); the apostrophe is the spreadsheet's own "this is text" mark. Numbers (int and float
values, negative ones included) are written as numbers: only text is ever changed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell: text that a spreadsheet would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return TEXT_MARK + value
    return "" if value is None else value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A whole CSV document, every cell passed through :func:`safe_cell`.

    Lines end in CRLF (RFC 4180): Python's writer quotes a field only for the characters of its line
    terminator, so with a bare ``\\n`` a carriage return inside an id or label would split the row.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
