"""The batch journal: one job's record of where each of its operations stands, kept on disk.

A JSON-lines file. Its first line names the target the job writes to; every later line
records one operation's state (``started`` before it is sent, then ``done``, ``failed`` or
``in_doubt``), and the last line for a key is where that operation stands. A re-run opens the
same file to skip what is done and to look up what may have happened.

``Journal.open`` checks everything before the job sends anything: that the file can be read
and appended to, that no other run holds its lock, that it was written for this target, and
that every line is a journal line. ``record`` appends and flushes one line, and raises
``JournalError`` at once when the disk refuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import attrs

from .errors import JournalError, ValidationError

__all__ = ["Journal", "JournalEntry", "JournalStore", "JournalTarget", "State"]

State = Literal["started", "done", "failed", "in_doubt"]

# Each state once, so that 100k parsed lines share four strings instead of holding 100k copies.
_STATES: dict[str, State] = {state: state for state in get_args(State)}
_FIELDS = frozenset({"key", "state", "group_id", "error", "at"})
FORMAT = 1  # the "journal" number of the header; another number is another format


@attrs.frozen
class JournalEntry:
    key: str
    state: State
    group_id: str | None = None
    error: str | None = None


@attrs.frozen
class JournalTarget:
    """What a journal was written for: a re-run against anything else is refused."""

    backend: str  # the backend's registry name, e.g. "zoho"
    fingerprint: str  # a short digest of where it points (never a secret)

    def __str__(self) -> str:
        return f"{self.backend} target {self.fingerprint}"

    @classmethod
    def of(cls, backend: Any) -> JournalTarget:
        """Where ``backend`` points: its name and its ``fingerprint()`` ("unknown" for a
        backend that has none)."""
        fingerprint = getattr(backend, "fingerprint", None)
        return cls(backend.name, fingerprint() if callable(fingerprint) else "unknown")


@runtime_checkable
class JournalStore(Protocol):
    """Where a batch keeps its operations' states: ``Journal`` (a file) or another store,
    e.g. ``unigroups.distributed.RedisJournal`` shared by many workers.

    A store is opened (and locked for this run) before the batch starts; ``get`` answers
    without I/O, ``record`` returns once the entry is kept and raises ``JournalError`` when
    it cannot be, which ends the job at once.
    """

    @property
    def target(self) -> JournalTarget: ...

    @property
    def location(self) -> str:
        """Where it is kept, for messages (a path, a Redis key)."""
        ...

    def get(self, key: str) -> JournalEntry | None: ...

    async def record(self, entry: JournalEntry) -> None: ...


# What one key's last line said, kept small. A done operation with its group's id, what most
# of a finished job's lines say, is kept as the bare id; anything else as (state, id, error).
_Record = str | tuple[State, str | None, str | None]


def _pack(state: State, group_id: str | None, error: str | None) -> _Record:
    if state == "done" and group_id is not None and error is None:
        return group_id
    return (state, group_id, error)


def entry_of(key: str, record: _Record) -> JournalEntry:
    """The entry a packed record stands for."""
    if isinstance(record, str):
        return JournalEntry(key, "done", record)
    return JournalEntry(key, *record)


class Journal:
    """An open, locked journal: the states read from the file, and appends to it.

    Made by ``Journal.open``; ``get`` answers from this file (earlier runs and this one),
    ``record`` appends, ``aclose`` releases the lock.
    """

    path: Path
    target: JournalTarget

    def __init__(
        self, path: Path, fd: int, target: JournalTarget, states: dict[str, _Record], durable: bool
    ) -> None:
        self.path = path
        self.target = target
        self.durable = durable
        self._fd: int | None = fd
        self._states = states
        self._failure: str | None = None  # once a write failed, the message every record repeats
        self._written = 0  # lines appended by this run
        self._synced = 0  # of which an fsync that started after them has completed
        self._syncing: asyncio.Future[None] | None = None
        self._closing = False

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, target: JournalTarget, durable: bool = False
    ) -> Journal:
        """Open and lock the journal at ``path`` for a job on ``target``; create it if missing.

        Raises ``JournalError`` (naming the path and the reason) when the file cannot be read
        and appended to, another run holds it, it was written for another target, or any line
        is not a journal line. Nothing is written to a file it refuses.
        """
        path = Path(path)
        fd = _open_regular_file(path)
        try:
            _lock(fd, path)
            states, keep, header = _read(fd, path, target)
            size = os.fstat(fd).st_size
            if keep < size:
                # A line cut short by a kill: its step was never recorded. Under the lock no
                # one else is appending, so exactly the bytes after the last newline go.
                os.ftruncate(fd, keep)
            if not header:
                _append_all(fd, _header_line(target))
            if durable and (keep < size or not header):
                os.fsync(fd)
                if not header:
                    _sync_folder(path.parent)  # a new file survives a crash only with its entry
        except OSError as exc:
            os.close(fd)
            raise _cannot("prepare", path, exc) from exc
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, target, states, durable)

    # -- reading --------------------------------------------------------------------------

    def get(self, key: str) -> JournalEntry | None:
        """The last state recorded for ``key``, by an earlier run or by this one."""
        record = self._states.get(key)
        return None if record is None else entry_of(key, record)

    @property
    def location(self) -> str:
        return str(self.path)

    def __len__(self) -> int:
        return len(self._states)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, keys={len(self._states)}, target={self.target})"

    # -- writing --------------------------------------------------------------------------

    async def record(self, entry: JournalEntry) -> None:
        """Append ``entry``; when this returns the line is written (durable: and synced).

        Raises ``JournalError`` when the line cannot be written, and on every call after.
        """
        fd = self._writable()
        line = entry_line(entry)
        try:
            self._append(fd, line)
        except OSError as exc:
            raise self._fail("write to", exc) from exc
        self._states[entry.key] = _pack(_STATES[entry.state], entry.group_id, entry.error)
        self._written += 1
        if self.durable:
            await self._sync_through(self._written)

    def _append(self, fd: int, data: bytes) -> None:
        """Write ``data`` at the end of the file (the one place a line reaches the disk)."""
        _append_all(fd, data)

    async def _sync_through(self, line: int) -> None:
        """Return once an fsync that started after line number ``line`` was written is done.

        Callers waiting together share one fsync, run in a thread: a burst of records costs
        a few syncs, not one each, and the event loop never waits on the disk.
        """
        while self._synced < line:
            if self._fd is None:  # closed under us (a cancelled aclose): no sync will come
                raise JournalError(f"the journal {self.path} is closed", path=str(self.path))
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._sync())
            # Shielded: a cancelled caller must not cancel the sync the others wait for.
            await asyncio.shield(self._syncing)
            if self._failure is not None:
                raise JournalError(self._failure, path=str(self.path))

    async def _sync(self) -> None:
        fd, upto = self._fd, self._written  # the lines written before this fsync starts
        try:
            if fd is not None:
                await asyncio.to_thread(os.fsync, fd)
                self._synced = max(self._synced, upto)
        except OSError as exc:
            self._fail("sync", exc)
        finally:
            self._syncing = None

    def _writable(self) -> int:
        if self._failure is not None:
            raise JournalError(self._failure, path=str(self.path))
        if self._fd is None or self._closing:
            raise JournalError(f"the journal {self.path} is closed", path=str(self.path))
        return self._fd

    def _fail(self, doing: str, exc: OSError) -> JournalError:
        """Remember the first failure: from now on every record raises it."""
        if self._failure is None:
            self._failure = (
                f"{_cannot(doing, self.path, exc)}; the job stops here (operations in flight "
                "stay 'started' and are looked up next run)"
            )
        return JournalError(self._failure, path=str(self.path))

    # -- closing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Sync (durable), release the lock and close; safe after an error, and twice.

        Raises ``JournalError`` only when this last sync fails (an earlier failure was
        already raised by ``record``).
        """
        if self._fd is None:
            return
        self._closing = True  # no line from here on: the last sync covers them all
        failed_before = self._failure is not None
        try:
            if self.durable and not failed_before:
                with contextlib.suppress(JournalError):  # raised below, once the file is closed
                    await self._sync_through(self._written)
            while self._syncing is not None:  # never close the file under a running fsync
                await asyncio.shield(self._syncing)
        finally:
            fd, self._fd = self._fd, None
            if fd is not None:
                _unlock(fd)
                os.close(fd)
        if self._failure is not None and not failed_before:
            raise JournalError(self._failure, path=str(self.path))

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# -- the file ------------------------------------------------------------------------------


def _open_regular_file(path: Path) -> int:
    """Open ``path`` for reading and appending, creating the file but never its folders."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
    # Non-blocking, so that a FIFO given by mistake is refused instead of waiting for a writer.
    flags |= getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        raise _cannot("open", path, exc) from exc
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise _cannot("open", path, exc) from exc
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise JournalError(
            f"cannot open the journal {path}: it is {_kind(mode)}, not a regular file",
            path=str(path),
        )
    return fd


def _lock(fd: int, path: Path) -> None:
    """Take the file's exclusive lock without waiting: one run per journal at a time."""
    try:
        _try_lock(fd)
    except (BlockingIOError, PermissionError) as exc:
        raise JournalError(
            f"the journal {path} is in use: another run holds its lock (one run per journal at "
            "a time; wait for it to end, or give this job another journal file)",
            path=str(path),
        ) from exc


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)  # Windows locks bytes from the position: the first one
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:  # EDEADLOCK or EACCES: another process holds it
            raise BlockingIOError(exc.errno, "locked") from exc

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):  # closing the file releases it anyway
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):  # closing the file releases it anyway
            fcntl.flock(fd, fcntl.LOCK_UN)


def _append_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # a write may take only part (a file size limit): the rest, or its error
        view = view[os.write(fd, view) :]


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible everywhere (Windows): the file's own sync is what matters
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- the content ---------------------------------------------------------------------------


def _read(fd: int, path: Path, target: JournalTarget) -> tuple[dict[str, _Record], int, bool]:
    """Check every line; return the states, the length to keep, and whether a header is there.

    The length to keep ends at the last newline: a last line without one was cut short, and
    is ignored (its step was never recorded).
    """
    states: dict[str, _Record] = {}
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", closefd=False) as reader:
        first = reader.readline()
        if not first.endswith(b"\n"):
            # Empty, or a header cut short by a kill while it was written; anything else is
            # not a journal, and is left alone.
            if first and not (_HEADER_START.startswith(first) or first.startswith(_HEADER_START)):
                _check_header(first, path, target)
            return states, 0, False
        _check_header(first, path, target)
        keep = len(first)
        decode = _DECODER.decode
        for number, raw in enumerate(reader, 2):
            if not raw.endswith(b"\n"):
                break
            keep += len(raw)
            # The usual line, checked in one go; anything unusual is explained by _parse_line.
            try:
                data = decode(raw.decode("utf-8"))
                key, state = data["key"], _STATES[data["state"]]
                group_id, error = data.get("group_id"), data.get("error")
                usual = (
                    type(key) is str
                    and (group_id is None or type(group_id) is str)
                    and (error is None or type(error) is str)
                    and type(data.get("at", 0)) in _TIMES
                    and data.keys() <= _FIELDS
                )
            except (ValueError, RecursionError, LookupError, TypeError, AttributeError):
                usual = False
            if usual:
                states[key] = _pack(state, group_id, error)
            else:
                # raises, naming the line
                key, record = read_line(raw, functools.partial(_damaged, path, number))
                states[key] = record
    return states, keep, True


_DECODER = json.JSONDecoder()
_TIMES = (int, float)
_HEADER_START = b'{"journal": '


def _header_line(target: JournalTarget) -> bytes:
    header = {
        "journal": FORMAT,
        "backend": target.backend,
        "target": target.fingerprint,
        "at": _now(),
    }
    return _encode(header)


def _check_header(raw: bytes, path: Path, target: JournalTarget) -> None:
    data = _json_object(raw)
    if data is None or "journal" not in data:
        if data is not None and isinstance(data.get("key"), str) and "state" in data:
            what = "an operation's record, not a header naming the target (an older journal?)"
        else:
            what = "not a journal header"
        raise JournalError(
            f"{path} is not a unigroups journal: line 1 is {what}; give this job a new file",
            path=str(path),
        )
    if type(data["journal"]) is not int or data["journal"] != FORMAT:
        raise JournalError(
            f"the journal {path} is in format {data['journal']!r}; this unigroups reads format "
            f"{FORMAT}",
            path=str(path),
        )
    backend, fingerprint = data.get("backend"), data.get("target")
    if not isinstance(backend, str) or not isinstance(fingerprint, str):
        raise JournalError(
            f"the journal {path} is damaged at line 1: its header does not name a target",
            path=str(path),
        )
    written_for = JournalTarget(backend, fingerprint)
    if written_for != target:
        raise JournalError(
            f"the journal {path} was written for {written_for}, not for {target}: a journal "
            "belongs to one target; give this job another journal file",
            path=str(path),
        )


def entry_line(entry: JournalEntry) -> bytes:
    """The JSON line that records ``entry`` (the one shape every store keeps), after checking
    that it will read back."""
    _check_entry(entry)
    line: dict[str, Any] = {"key": entry.key, "state": entry.state, "at": _now()}
    if entry.group_id is not None:
        line["group_id"] = entry.group_id
    if entry.error is not None:
        line["error"] = entry.error
    return _encode(line)


def read_line(raw: bytes, damaged: Callable[[str], JournalError]) -> tuple[str, _Record]:
    """The key and packed state of one recorded line; ``damaged(problem)`` is raised when it is
    not one (the caller says where the line is)."""
    data = _json_object(raw)
    if data is None:
        raise damaged("not a JSON object")
    key, state = data.get("key"), _state(data.get("state"))
    group_id, error, at = data.get("group_id"), data.get("error"), data.get("at", 0)
    if not isinstance(key, str):
        raise damaged(f'"key" is {_shown(data, "key")}, not a string')
    if state is None:
        raise damaged(f'"state" is {_shown(data, "state")}, not one of {", ".join(_STATES)}')
    for name, value in (("group_id", group_id), ("error", error)):
        if value is not None and not isinstance(value, str):
            raise damaged(f'"{name}" is {_shown(data, name)}, not a string')
    if not isinstance(at, int | float) or isinstance(at, bool):
        raise damaged(f'"at" is {_shown(data, "at")}, not a time')
    if unknown := data.keys() - _FIELDS:
        raise damaged(f"unknown fields {', '.join(sorted(unknown))}")
    return key, _pack(state, group_id, error)


def _damaged(path: Path, number: int, problem: str) -> JournalError:
    return JournalError(
        f"the journal {path} is damaged at line {number}: {problem}; nothing was sent "
        "(repair or remove that line)",
        path=str(path),
    )


def _state(value: object) -> State | None:
    return _STATES.get(value) if isinstance(value, str) else None


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the stack
        return None
    return data if isinstance(data, dict) else None


def _shown(data: dict[str, Any], name: str) -> str:
    if name not in data:
        return "missing"
    text = json.dumps(data[name], ensure_ascii=True)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _check_entry(entry: JournalEntry) -> None:
    """Refuse what would make the file unreadable on the next run, before writing it."""
    if not isinstance(entry, JournalEntry):
        raise ValidationError(f"must be a JournalEntry, not {type(entry).__name__}", field="entry")
    if not isinstance(entry.key, str):
        raise ValidationError(f"must be a string, not {type(entry.key).__name__}", field="key")
    if _state(entry.state) is None:
        raise ValidationError(f"{entry.state!r} is not one of {', '.join(_STATES)}", field="state")
    for name in ("group_id", "error"):
        value = getattr(entry, name)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"must be a string, not {type(value).__name__}", field=name)


def _encode(data: dict[str, Any]) -> bytes:
    text = json.dumps(data, ensure_ascii=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a key made from undecodable bytes) has no UTF-8 form: write it
        # escaped, which JSON reads back as the same string.
        return (json.dumps(data, ensure_ascii=True) + "\n").encode("ascii")


def _now() -> float:
    return round(time.time(), 3)


# -- messages ------------------------------------------------------------------------------


def _cannot(doing: str, path: Path, exc: OSError) -> JournalError:
    return JournalError(f"cannot {doing} the journal {path}: {_reason(exc, path)}", path=str(path))


def _reason(exc: OSError, path: Path) -> str:
    """What an OSError on the journal means, in words a user can act on."""
    code = exc.errno
    if code == errno.ENOENT and not path.parent.exists():
        return f"its folder {path.parent} does not exist (it is not created for you)"
    if code == errno.ENOTDIR:
        parent = next(
            (p for p in reversed(path.parents) if p.exists() and not p.is_dir()), path.parent
        )
        return f"{parent} is a file, not a folder"
    if code == errno.EISDIR:
        return "it is a folder, not a file"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied (the file must be readable and writable, in a writable folder)"
    if code == errno.EROFS:
        return "the file system is read-only"
    if code == errno.ENOSPC:
        return "no space left on device"
    if code == errno.EFBIG:
        return "the file is too large (a file size limit?)"
    text = exc.strerror or str(exc)
    return f"{text} (errno {code})" if code is not None else text


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"
