"""What every benchmark table states about the machine it ran on."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    """Total memory in GiB from /proc/meminfo, or None where that file does not exist."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def report_head(title: str, script: str, argv: Sequence[str] | None = None) -> list[str]:
    """A report's title and the command that reproduces it, with when it was written."""
    command = " ".join([f"python bench/{script}", *(argv if argv is not None else sys.argv[1:])])
    return [title, "", f"Command: `{command}` (written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]


def write_report(path: Path, lines: Sequence[str], final_newline: bool = False) -> None:
    """The report's lines to ``path`` (folders made), said on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + ("\n" if final_newline else ""), encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
