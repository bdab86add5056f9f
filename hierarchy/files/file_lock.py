"""One writer per file: an advisory lock on a sidecar file, so concurrent commands cannot lose each other's work.

A command that rewrites a file (``label`` and ``relabel`` in place, ``assign``, ``build -o`` over an old
tree, ...) holds ``.NAME.lock``, next to the file it writes, from before it reads until its write is
done. The lock is ``flock(2)``: the kernel drops it when its holder dies, even by SIGKILL, so a lock
left by a dead process is simply taken over. The sidecar records who holds it (pid, host, command,
since when) so that a second writer can say whom it is waiting for; the holder removes it on release.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from topicmap.hierarchy.base.errors import InputError, OutputError
from topicmap.hierarchy.files.safe_write import HOST, NAME_PART, StrPath, resolve_target

POLL_SECONDS = 0.1


class FileBusyError(OutputError):
    """Another process holds the lock of the file this command writes."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, as recorded in its sidecar file."""

    pid: int
    host: str
    command: str
    since: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, '{self.command}', since {self.since}"


def lock_path_for(path: StrPath) -> Path:
    """``.NAME.lock`` beside the file a write to ``path`` replaces (a symlink and its target share one lock)."""
    target = resolve_target(path)
    return target.parent / f".{target.name[:NAME_PART]}.lock"


class FileLock:
    """Exclusive lock on the file at ``path``; ``with FileLock(...)`` holds it, waiting up to ``wait`` seconds."""

    def __init__(self, path: StrPath, command: str, wait: float = 0.0) -> None:
        if not (isinstance(wait, (int, float)) and math.isfinite(wait) and wait >= 0):
            raise InputError(f"--wait {wait}: expected a number of seconds, 0 or more")
        self.path = Path(path)
        self.lock_path = lock_path_for(path)
        self.command = command
        self.wait = float(wait)
        self.took_over: Holder | None = None  # set when a dead holder's record was found and replaced
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, polling until ``wait`` runs out; the sidecar stays open meanwhile, so a waiter shows in lsof."""
        deadline = time.monotonic() + self.wait
        fd = self._open()
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise FileBusyError(self._busy_message(self.holder())) from None
                    time.sleep(min(POLL_SECONDS, remaining))
                    continue
                except OSError as exc:  # a filesystem without locks: write as before rather than not at all
                    print(f"warning: cannot lock {self.lock_path} ({exc.strerror}); a concurrent writer of {self.path} would not be noticed", file=sys.stderr)
                    os.close(fd)
                    return
                if _still_named(fd, self.lock_path):
                    break
                os.close(fd)  # its last holder removed it on release: lock the current one
                fd = -1
                fd = self._open()
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        previous = _read_holder(fd)
        if previous is not None:  # a holder that died without releasing (SIGKILL, power loss)
            self.took_over = previous
        _write_holder(fd, Holder(os.getpid(), HOST, self.command, datetime.now().astimezone().isoformat(timespec="seconds")))
        self._fd = fd

    def holder(self) -> Holder | None:
        """Who holds the lock now, as its sidecar says; None when it is free or says nothing readable."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)

    def release(self) -> None:
        """Remove the sidecar while still holding it, then unlock; a waiter that opened it notices and retries."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.lock_path)
        except OSError:
            pass
        os.close(fd)

    def _open(self) -> int:
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot create its lock file {self.lock_path} ({exc.strerror})") from None

    def _busy_message(self, holder: Holder | None) -> str:
        who = holder.describe() if holder else "its details are not recorded yet"
        if self.wait:
            return f"{self.path} is still being written by another topicmap process ({who}) after waiting {self.wait:g} s; try again when it has finished, or wait longer with --wait SECONDS"
        return f"{self.path} is being written by another topicmap process ({who}); try again when it has finished, or pass --wait SECONDS to wait for it"


def _still_named(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _read_holder(fd: int) -> Holder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return Holder(int(data["pid"]), str(data["host"]), str(data["command"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_holder(fd: int, holder: Holder) -> None:
    record = json.dumps({"pid": holder.pid, "host": holder.host, "command": holder.command, "since": holder.since})
    os.ftruncate(fd, 0)
    os.pwrite(fd, record.encode("utf-8") + b"\n", 0)
