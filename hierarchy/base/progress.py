"""Progress reporting on stderr: a bar per long loop, a line per pipeline stage."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from topicmap.hierarchy.base.safe_text import printable


class Stages:
    """Times named stages; with ``enabled`` shows a bar that advances stage by stage on stderr."""

    def __init__(self, names: list[str], enabled: bool = True) -> None:
        self.timings: dict[str, float] = {}
        self._bar = tqdm(total=len(names), desc="build", unit="stage", file=sys.stderr, disable=not enabled, leave=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._bar.set_postfix_str(printable(name))
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            # the bar is cleared, so an error (a bad row met mid-stream, say) stays the last line on stderr
            self._bar.leave = False
            self._bar.close()
            raise
        self.timings[name] = round(time.perf_counter() - started, 3)
        self._bar.update(1)
        if self._bar.n >= self._bar.total:
            self._bar.set_postfix_str("done")
            self._bar.close()


def counter(total: int, desc: str, unit: str, enabled: bool = True) -> tqdm:
    """A plain progress bar on stderr (hidden when ``enabled`` is False); its description may name
    input, so it is printed with control characters made visible."""
    return tqdm(total=total, desc=printable(desc), unit=unit, file=sys.stderr, disable=not enabled, dynamic_ncols=True)
