"""Writing a file without losing anything: the one way topicmap writes files.

Every file topicmap writes (tree files, exports, evaluation reports, the LLM and embedding caches)
goes through :func:`write_chunks_atomic`. The data goes to a temp file next to the real target, is
flushed to disk and renamed over the target, so a reader sees the old file or the new one, never half.

* An existing target keeps its permission mode (a 0600 tree holding document texts stays 0600); a
  new file gets the usual mode under the umask.
* A target that is a symlink stays a symlink: the file it points to is replaced.
* The temp file is named ``.NAME.PID.HOST.TOKEN.tmp``: on SIGTERM it is removed (see
  :func:`stop_cleanly_on_sigterm`); after a SIGKILL the next write of the same target removes it,
  because its writer's pid is no longer running. A live writer's temp file is left alone.

:func:`refuse_same_file` stops a command whose output would overwrite one of its inputs.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from topicmap.hierarchy.base.errors import OutputError

StrPath = str | os.PathLike[str]

STALE_AFTER_SECONDS = 24 * 3600  # a temp file whose writer cannot be proven dead is removed after a day untouched
NAME_PART = 150  # of a target's name in its temp and lock file names, which must stay under the 255-byte limit
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "localhost"

# temp file -> the path the user asked for: what a SIGTERM must clean up. No lock guards it: single dict
# operations are atomic, and the signal handler must never wait for a lock its own thread may hold.
_writing: dict[str, str] = {}


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows it."""


# -- same file ----------------------------------------------------------------------------
def same_file(a: StrPath, b: StrPath) -> bool:
    """True when both paths name one file: the same path, a symlink to it, or a hard link (same inode)."""
    try:
        return os.path.samestat(os.stat(a), os.stat(b))
    except OSError:  # one does not exist (yet): compare where the paths lead
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_same_file(inputs: Mapping[str, StrPath | None], outputs: Mapping[str, StrPath | None]) -> None:
    """Refuse, before any work, an output that is one of the command's inputs.

    Keys say what each path is (``"-o"``, ``"--embeddings"``, ``"the documents"``); a ``None`` or
    ``"-"`` (standard output) is skipped.
    """
    for out_name, out in outputs.items():
        if out is None or str(out) == "-":
            continue
        for in_name, source in inputs.items():
            if source is not None and str(source) != "-" and same_file(source, out):
                raise OutputError(
                    f"{out_name} {out} is the same file as {in_name} {source}; writing it would destroy that input: "
                    "choose another output path"
                )


# -- targets ------------------------------------------------------------------------------
def resolve_target(path: StrPath) -> Path:
    """The file a write to ``path`` really replaces: a symlink is followed to the file it points to."""
    return Path(os.path.realpath(path))


def _target_directory(path: Path, target: Path) -> Path:
    """The directory the file will be written into; refuses a directory or a device as target, or a missing folder."""
    if target.is_dir():
        raise OutputError(f"{path}: is a directory, cannot write a file there")
    if target.exists() and not target.is_file():
        raise OutputError(f"{path}: is not a regular file (a device or pipe); give a file path")
    directory = target.parent
    if not directory.is_dir():
        raise OutputError(f"{path}: directory {directory} does not exist")
    return directory


def check_writable(path: StrPath) -> None:
    """Fail early, before long work, if ``path`` could not be written."""
    path = Path(path)
    target = resolve_target(path)
    directory = _target_directory(path, target)
    if not os.access(directory, os.W_OK):
        raise OutputError(f"{path}: directory {directory} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"{path}: file exists and is not writable")


# -- atomic writes ------------------------------------------------------------------------
def write_text_atomic(path: StrPath, text: str) -> Path:
    return write_chunks_atomic(path, [text.encode("utf-8")])


def write_bytes_atomic(path: StrPath, payload: bytes) -> Path:
    return write_chunks_atomic(path, [payload])


def write_chunks_atomic(path: StrPath, chunks: Iterable[str | bytes]) -> Path:
    """Write to a temp file beside the target, fsync, then rename it over the target (see the module doc)."""
    path = Path(path)
    target = resolve_target(path)
    directory = _target_directory(path, target)
    remove_stale_temps(target)
    try:
        previous = os.stat(target)
    except FileNotFoundError:
        previous = None
    tmp = directory / f".{target.name[:NAME_PART]}.{os.getpid()}.{HOST}.{secrets.token_hex(4)}.tmp"
    # A new file is created 0666 and the kernel applies the umask; over an existing one the temp file
    # starts private and takes the old file's mode once written.
    create_mode = 0o600 if previous is not None else 0o666
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, create_mode)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror})") from None
    _writing[str(tmp)] = str(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            fh.flush()
            if previous is not None:
                _copy_permissions(fh.fileno(), previous)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
        raise
    finally:
        _writing.pop(str(tmp), None)
    _fsync_directory(directory)
    return path


@contextmanager
def temp_beside(path: StrPath) -> Iterator[Path]:
    """A temp file name beside ``path`` for a writer that renames it itself (e.g. to a content-addressed name).

    Named and cleaned up like :func:`write_chunks_atomic`'s temp files: removed on an exception or
    SIGTERM, and by the next write of ``path`` after a SIGKILL. The caller renames it before leaving
    the block (what is left at the end is removed).
    """
    path = Path(path)
    remove_stale_temps(path)
    tmp = _temp_path(path)
    with _held(path, tmp):
        yield tmp


@contextmanager
def _held(path: Path, tmp: Path) -> Iterator[None]:
    """``tmp`` registered as an unfinished write of ``path`` for the block, removed at its end (renamed or not)."""
    _writing[str(tmp)] = str(path)
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        _writing.pop(str(tmp), None)
        _unlink_quietly(tmp)


def _temp_path(path: Path) -> Path:
    """A fresh temp name beside ``path`` that says whose it is (pid, host), so a later write can tell a dead writer's leftover."""
    return path.parent / f".{path.name[:NAME_PART]}.{os.getpid()}.{HOST}.{secrets.token_hex(4)}.tmp"


@contextmanager
def temp_directory_beside(path: StrPath) -> Iterator[Path]:
    """A new empty temp directory beside ``path``, for a writer that fills it and renames it itself
    (a partitioned sidecar: its part files, written here or by a cluster's workers).

    Named like :func:`temp_beside`'s files and cleaned up the same way (removed with everything in it on
    an exception or SIGTERM, and by the next write of ``path`` after a SIGKILL); what is left at the end
    of the block is removed.
    """
    path = Path(path)
    remove_stale_temps(path)
    tmp = _temp_path(path)
    try:
        os.mkdir(tmp)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    with _held(path, tmp):
        yield tmp


def fsync_directory(directory: StrPath) -> None:
    """Make a rename in ``directory`` durable."""
    _fsync_directory(Path(directory))


def _copy_permissions(fd: int, previous: os.stat_result) -> None:
    """Give the new file the old one's mode, and its group when we may."""
    os.fchmod(fd, stat.S_IMODE(previous.st_mode) & 0o777)
    if os.fstat(fd).st_gid != previous.st_gid:
        try:
            os.fchown(fd, -1, previous.st_gid)
        except OSError:
            pass  # not a member of that group: the mode is still kept


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; some filesystems cannot open a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: StrPath) -> None:
    """Remove a temp file, or a temp directory with its contents (a partitioned sidecar being written)."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


# -- leftovers ----------------------------------------------------------------------------
def _temp_pattern(target_name: str) -> re.Pattern[str]:
    """Our temp names ``.NAME.PID.HOST.TOKEN.tmp``, and ``.NAME.XXXXXXXX.tmp`` from older topicmap versions."""
    ours = rf"{re.escape(target_name[:NAME_PART])}\.(?P<pid>\d+)\.(?P<host>[A-Za-z0-9-]+)\.[0-9a-f]{{8}}"
    legacy = rf"{re.escape(target_name)}\.[a-z0-9_]{{8}}"
    return re.compile(rf"\.(?:{ours}|{legacy})\.tmp")


def stale_temps(target: Path) -> Iterator[Path]:
    """Temp files of ``target`` left by writers that died: their pid is gone, or nobody touched them for a day."""
    pattern = _temp_pattern(target.name)
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        pid = int(match["pid"]) if match["pid"] else None
        if pid is not None and match["host"] == HOST and pid != os.getpid() and not _pid_alive(pid):
            yield Path(entry.path)
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if age > STALE_AFTER_SECONDS:
            yield Path(entry.path)


def remove_stale_temps(target: Path) -> None:
    for leftover in stale_temps(target):
        try:
            _unlink_quietly(leftover)
        except OSError:
            pass  # another writer cleaned it first, or we may not: it does no harm where it is


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


# -- SIGTERM ------------------------------------------------------------------------------
@contextmanager
def stop_cleanly_on_sigterm() -> Iterator[None]:
    """While active, SIGTERM removes the temp files being written and raises :class:`Terminated`.

    The exception unwinds the command like Ctrl+C does, so locks are released too; the caller turns it
    into a one-line message. Only the main thread can own signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        unfinished = _writing.copy()
        for tmp in unfinished:
            _unlink_quietly(tmp)
        if received:  # a second SIGTERM while unwinding: let the cleanup finish
            return
        received = True
        raise Terminated(_terminated_message(sorted(set(unfinished.values()))))

    previous: Callable[[int, FrameType | None], object] | int | None = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _terminated_message(targets: list[str]) -> str:
    if not targets:
        return "stopped by SIGTERM"
    return f"stopped by SIGTERM while writing {', '.join(targets)}; nothing was written there (the unfinished temp file was removed)"
