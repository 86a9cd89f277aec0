"""The batch journal: refused before anything is sent when it cannot be trusted, one run at a
time, every line checked, a torn last line cut and nothing else, write errors raised at once."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from unigroups import JournalError, ValidationError
from unigroups.journal import Journal, JournalEntry, JournalTarget

TARGET = JournalTarget("zoho", "0123456789abcdef")
STOPS = "; the job stops here (operations in flight stay 'started' and are looked up next run)"
IN_USE = (
    "is in use: another run holds its lock (one run per journal at a time; wait for it to "
    "end, or give this job another journal file)"
)
HEADER = b'{"journal": 1, "backend": "zoho", "target": "0123456789abcdef", "at": 1.0}\n'
as_root = os.name == "posix" and os.geteuid() == 0


def refused(path: Path | str, **kw: object) -> JournalError:
    """The JournalError that opening ``path`` for TARGET raises."""
    with pytest.raises(JournalError) as caught:
        Journal.open(path, target=TARGET, **kw)  # type: ignore[arg-type]
    assert caught.value.path == str(path)
    assert "\n" not in str(caught.value)
    return caught.value


def damaged(path: Path, line: int, problem: str) -> str:
    return (
        f"the journal {path} is damaged at line {line}: {problem}; nothing was sent "
        "(repair or remove that line)"
    )


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


# -- the path ------------------------------------------------------------------------------


def test_a_missing_folder_is_refused_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "job.jsonl"
    error = refused(path)
    assert str(error) == (
        f"cannot open the journal {path}: its folder {tmp_path / 'typo'} does not exist "
        "(it is not created for you)"
    )
    assert not (tmp_path / "typo").exists()


def test_a_folder_given_as_the_journal_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path)
    assert str(error) == f"cannot open the journal {tmp_path}: it is a folder, not a file"
    assert isinstance(error.__cause__, IsADirectoryError)


def test_a_path_under_a_file_is_refused_naming_that_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a folder\n")
    path = tmp_path / "notes.txt" / "job.jsonl"
    error = refused(path)
    assert str(error) == (
        f"cannot open the journal {path}: {tmp_path / 'notes.txt'} is a file, not a folder"
    )
    assert (tmp_path / "notes.txt").read_text() == "not a folder\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_device_is_refused() -> None:
    error = refused("/dev/full")
    assert str(error) == "cannot open the journal /dev/full: it is a device, not a regular file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    error = refused(path)
    assert str(error) == (
        f"cannot open the journal {path}: it is a FIFO (named pipe), not a regular file"
    )


PERMISSION = "permission denied (the file must be readable and writable, in a writable folder)"


@pytest.mark.skipif(as_root, reason="root is not stopped by file permissions")
def test_a_read_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    path.write_bytes(HEADER)
    path.chmod(0o444)
    assert str(refused(path)) == f"cannot open the journal {path}: {PERMISSION}"


@pytest.mark.skipif(as_root, reason="root is not stopped by file permissions")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    path = folder / "job.jsonl"
    try:
        assert str(refused(path)) == f"cannot open the journal {path}: {PERMISSION}"
    finally:
        folder.chmod(0o755)


UNPRIVILEGED = """
import os, sys
from unigroups import JournalError
from unigroups.journal import Journal, JournalTarget
os.setgid(65534)
os.setuid(65534)  # nobody: permissions bite again
for path in sys.argv[1:]:
    try:
        Journal.open(path, target=JournalTarget("zoho", "0123456789abcdef"))
    except JournalError as exc:
        print(exc)
"""


@pytest.mark.slow
@pytest.mark.skipif(not as_root, reason="the tests above cover it without root")
def test_as_root_a_read_only_file_and_folder_are_refused_to_an_unprivileged_run() -> None:
    # tmp_path sits in a folder only root may enter: this one is open to everyone to pass.
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        folder, path = Path(top, "locked"), Path(top, "job.jsonl")
        folder.mkdir(mode=0o555)
        path.write_bytes(HEADER)
        path.chmod(0o444)
        args = [str(folder / "job.jsonl"), str(path)]
        done = subprocess.run(
            [sys.executable, "-c", UNPRIVILEGED, *args], capture_output=True, text=True, check=True
        )
        assert done.stdout.splitlines() == [
            f"cannot open the journal {args[0]}: {PERMISSION}",
            f"cannot open the journal {args[1]}: {PERMISSION}",
        ]
        assert not (folder / "job.jsonl").exists()
        assert path.read_bytes() == HEADER


# -- one run at a time ---------------------------------------------------------------------


async def test_a_second_open_in_this_process_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "job.jsonl"
    first = Journal.open(path, target=TARGET)
    assert str(refused(path)) == f"the journal {path} {IN_USE}"
    assert str(refused(path)) == f"the journal {path} {IN_USE}", "a refusal released the lock"
    await first.record(JournalEntry("a", "started"))
    await first.aclose()
    async with Journal.open(path, target=TARGET) as second:
        assert second.get("a") == JournalEntry("a", "started")


HOLDER = """
import sys
from unigroups.journal import Journal, JournalTarget
journal = Journal.open(sys.argv[1], target=JournalTarget("zoho", "0123456789abcdef"))
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.mark.slow
def test_a_journal_held_by_another_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        assert str(refused(path)) == f"the journal {path} {IN_USE}"
    finally:
        holder.communicate("")  # its stdin closes: it exits, and the OS releases its lock
    assert holder.returncode == 0
    asyncio.run(Journal.open(path, target=TARGET).aclose())  # free again


# -- the target ----------------------------------------------------------------------------


async def test_a_new_journal_starts_with_a_header_naming_its_target(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    async with Journal.open(path, target=TARGET) as journal:
        assert (journal.path, journal.target, len(journal)) == (path, TARGET, 0)
    [header] = lines_of(path)
    assert isinstance(header["at"], float)
    assert header | {"at": 0} == {
        "journal": 1,
        "backend": "zoho",
        "target": TARGET.fingerprint,
        "at": 0,
    }


async def test_an_empty_file_gets_the_header(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    path.touch()
    async with Journal.open(path, target=TARGET):
        pass
    assert [line["backend"] for line in lines_of(path)] == ["zoho"]


@pytest.mark.parametrize(
    "other",
    [JournalTarget("superoffice", "fedcba9876543210"), JournalTarget("zoho", "fedcba9876543210")],
)
async def test_a_journal_of_another_target_is_refused_naming_both(
    tmp_path: Path, other: JournalTarget
) -> None:
    path = tmp_path / "job.jsonl"
    async with Journal.open(path, target=other) as journal:
        await journal.record(JournalEntry("create:sales", "done", group_id="1"))
    before = path.read_bytes()
    assert str(refused(path)) == (
        f"the journal {path} was written for {other.backend} target fedcba9876543210, not for "
        "zoho target 0123456789abcdef: a journal belongs to one target; give this job another "
        "journal file"
    )
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (
            b'{"key": "create:sales", "state": "done", "at": 1.0}\n',
            "an operation's record, not a header naming the target (an older journal?)",
        ),
        (b"shopping list\neggs\n", "not a journal header"),
        (b"a line and no newline", "not a journal header"),
        (b'{"backend": "zoho"}\n', "not a journal header"),
    ],
)
def test_a_file_without_a_header_is_refused_and_left_alone(
    tmp_path: Path, content: bytes, what: str
) -> None:
    path = tmp_path / "job.jsonl"
    path.write_bytes(content)
    assert str(refused(path)) == (
        f"{path} is not a unigroups journal: line 1 is {what}; give this job a new file"
    )
    assert path.read_bytes() == content


def test_a_journal_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    path.write_bytes(HEADER.replace(b'"journal": 1', b'"journal": 2'))
    assert str(refused(path)) == (
        f"the journal {path} is in format 2; this unigroups reads format 1"
    )


def test_a_header_without_its_target_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    path.write_bytes(b'{"journal": 1, "backend": "zoho"}\n')
    assert str(refused(path)) == (
        f"the journal {path} is damaged at line 1: its header does not name a target"
    )


# -- the lines -----------------------------------------------------------------------------

STATES = "started, done, failed, in_doubt"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json", "not a JSON object"),
        (b"", "not a JSON object"),
        (b'["key", "state"]', "not a JSON object"),
        (b'{"key": "a", "state": "d\xffne"}', "not a JSON object"),
        (b"[" * 100_000, "not a JSON object"),
        (b'{"key": 7, "state": "done"}', '"key" is 7, not a string'),
        (b'{"state": "done"}', '"key" is missing, not a string'),
        (b'{"key": "a", "state": "maybe"}', f'"state" is "maybe", not one of {STATES}'),
        (b'{"key": "a", "state": ["done"]}', f'"state" is ["done"], not one of {STATES}'),
        (b'{"key": "a", "state": null}', f'"state" is null, not one of {STATES}'),
        (b'{"key": "a", "state": "done", "group_id": 12}', '"group_id" is 12, not a string'),
        (
            b'{"key": "a", "state": "failed", "error": {"x": 1}}',
            '"error" is {"x": 1}, not a string',
        ),
        (b'{"key": "a", "state": "done", "at": "noon"}', '"at" is "noon", not a time'),
        (b'{"key": "a", "state": "done", "at": true}', '"at" is true, not a time'),
        (b'{"key": "a", "state": "done", "owner": "me"}', "unknown fields owner"),
    ],
)
def test_a_malformed_line_in_the_middle_is_refused_with_its_number(
    tmp_path: Path, line: bytes, problem: str
) -> None:
    path = tmp_path / "job.jsonl"
    content = (
        HEADER
        + b'{"key": "a", "state": "started", "at": 1.0}\n'
        + line
        + b"\n"
        + b'{"key": "a", "state": "done", "at": 2.0, "group_id": "1"}\n'
    )
    path.write_bytes(content)
    assert str(refused(path)) == damaged(path, 3, problem)
    assert path.read_bytes() == content


def test_a_malformed_last_line_with_its_newline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    path.write_bytes(HEADER + b'{"key": "a", "state": "started"}\n{"key": "a", "state": "do"}\n')
    assert str(refused(path)) == damaged(path, 3, f'"state" is "do", not one of {STATES}')


@pytest.mark.parametrize(
    "torn",
    [b'{"key": "b", "state": "do', b'{"key": "b", "state": "done", "group_id": "9"}', b"\xff\xfe"],
)
async def test_a_torn_last_line_is_ignored_and_only_it_is_cut(tmp_path: Path, torn: bytes) -> None:
    path = tmp_path / "job.jsonl"
    whole = (
        HEADER
        + b'{"key": "a", "state": "started", "at": 1.0}\n'
        + b'{"key": "a", "state": "done", "at": 2.0, "group_id": "7"}\n'
    )
    path.write_bytes(whole + torn)
    async with Journal.open(path, target=TARGET) as journal:
        assert path.read_bytes() == whole, "more (or less) than the torn line was cut"
        assert journal.get("a") == JournalEntry("a", "done", group_id="7")
        assert journal.get("b") is None, "a torn line is a step that was not recorded"
        assert len(journal) == 1
        await journal.record(JournalEntry("b", "started"))
    assert path.read_bytes().startswith(whole)
    assert [line.get("key") for line in lines_of(path)] == [None, "a", "a", "b"]


async def test_a_torn_header_is_cut_and_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    path.write_bytes(b'{"journal": 1, "back')
    async with Journal.open(path, target=TARGET) as journal:
        assert len(journal) == 0
    assert [line["target"] for line in lines_of(path)] == [TARGET.fingerprint]


async def test_a_reopened_journal_keeps_the_last_state_of_each_key(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    entries = [
        JournalEntry("create:a", "started"),
        JournalEntry("create:b", "started"),
        JournalEntry("create:a", "done", group_id="11"),
        JournalEntry("create:b", "in_doubt", error="TransportError: connection reset"),
        JournalEntry("delete:12", "started"),
        JournalEntry("delete:12", "failed", error="NotFoundError: no group 12"),
        JournalEntry("update:13", "done", group_id="13", error="kept for the report"),
    ]
    async with Journal.open(path, target=TARGET) as journal:
        for entry in entries:
            await journal.record(entry)
            assert journal.get(entry.key) == entry, "get sees what record wrote, at once"
    async with Journal.open(path, target=TARGET) as journal:
        assert len(journal) == 4
        assert journal.get("create:a") == JournalEntry("create:a", "done", group_id="11")
        assert journal.get("create:b") == JournalEntry(
            "create:b", "in_doubt", error="TransportError: connection reset"
        )
        assert journal.get("delete:12") == JournalEntry(
            "delete:12", "failed", error="NotFoundError: no group 12"
        )
        assert journal.get("update:13") == entries[-1]
        assert journal.get("create:c") is None
    written = lines_of(path)[1:]
    assert [(line["key"], line["state"]) for line in written] == [(e.key, e.state) for e in entries]
    assert written[0].keys() == {"key", "state", "at"}, "no null fields"
    assert written[3].keys() == {"key", "state", "at", "error"}


async def test_keys_are_written_as_utf8_and_a_lone_surrogate_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    odd = "create:caf\udce9"  # what os.fsdecode makes of undecodable bytes
    async with Journal.open(path, target=TARGET) as journal:
        await journal.record(JournalEntry("create:Équipe Zürich", "done", group_id="5"))
        await journal.record(JournalEntry(odd, "started"))
    raw = path.read_bytes()
    assert "create:Équipe Zürich".encode() in raw
    assert b'"create:caf\\udce9"' in raw
    raw.decode("utf-8")  # the whole file stays UTF-8
    async with Journal.open(path, target=TARGET) as journal:
        assert journal.get("create:Équipe Zürich") == JournalEntry(
            "create:Équipe Zürich", "done", group_id="5"
        )
        assert journal.get(odd) == JournalEntry(odd, "started")


async def test_an_entry_the_next_run_could_not_read_is_refused_before_it_is_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "job.jsonl"
    async with Journal.open(path, target=TARGET) as journal:
        with pytest.raises(ValidationError, match="'maybe' is not one of"):
            await journal.record(JournalEntry("a", "maybe"))  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="key: must be a string, not int"):
            await journal.record(JournalEntry(7, "done"))  # type: ignore[arg-type]
    assert len(lines_of(path)) == 1


# -- writing -------------------------------------------------------------------------------


async def test_a_write_error_mid_job_raises_at_once_and_on_every_later_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "job.jsonl"
    journal = Journal.open(path, target=TARGET)
    await journal.record(JournalEntry("a", "started"))

    def disk_full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal, "_append", disk_full)
    message = f"cannot write to the journal {path}: no space left on device{STOPS}"
    with pytest.raises(JournalError) as caught:
        await journal.record(JournalEntry("b", "started"))
    assert (str(caught.value), caught.value.path) == (message, str(path))
    assert journal.get("b") is None
    monkeypatch.undo()  # the disk has room again: the job has ended all the same
    with pytest.raises(JournalError) as again:
        await journal.record(JournalEntry("c", "started"))
    assert str(again.value) == message
    await journal.aclose()
    await journal.aclose()
    async with Journal.open(path, target=TARGET) as reopened:  # the lock was released
        assert (reopened.get("a"), reopened.get("b"), len(reopened)) == (
            JournalEntry("a", "started"),
            None,
            1,
        )


FILLER = """
import asyncio, os, resource, signal, sys
from unigroups import JournalError
from unigroups.journal import Journal, JournalEntry, JournalTarget

async def main(path):
    journal = Journal.open(path, target=JournalTarget("zoho", "0123456789abcdef"))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    limit = os.path.getsize(path) + 1000
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    written = 0
    try:
        while written < 10_000:
            await journal.record(JournalEntry(f"create:group {written}", "started"))
            written += 1
    except JournalError as exc:
        print(written)
        print(exc)
    try:
        await journal.record(JournalEntry("create:after", "started"))
    except JournalError as exc:
        print(exc)
    await journal.aclose()

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="file size limits are POSIX")
def test_a_file_size_limit_reached_mid_job_raises_and_the_next_run_resumes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "job.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", FILLER, str(path)], capture_output=True, text=True, check=True
    )
    count, first, later = done.stdout.splitlines()
    message = (
        f"cannot write to the journal {path}: the file is too large (a file size limit?){STOPS}"
    )
    assert (first, later) == (message, message)
    assert 0 < int(count) < 100
    journal = Journal.open(path, target=TARGET)
    asyncio.run(journal.aclose())
    assert path.read_bytes().endswith(b"\n"), "the line the limit cut short is cut"
    assert len(journal) == int(count)
    assert journal.get(f"create:group {int(count) - 1}") is not None
    assert journal.get(f"create:group {count}") is None


async def test_record_after_aclose_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    journal = Journal.open(path, target=TARGET)
    await journal.aclose()
    with pytest.raises(JournalError) as caught:
        await journal.record(JournalEntry("a", "started"))
    assert str(caught.value) == f"the journal {path} is closed"


# -- durable mode --------------------------------------------------------------------------


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every os.fsync from now on, completed: (the file's size when it started, its thread)."""
    done: list[tuple[int, int]] = []
    real: Callable[[int], None] = os.fsync

    def counting(fd: int) -> None:
        size = os.fstat(fd).st_size
        real(fd)
        done.append((size, threading.get_ident()))

    monkeypatch.setattr(os, "fsync", counting)
    return done


async def test_durable_records_share_fsyncs_run_off_the_event_loop(
    tmp_path: Path, fsyncs: list[tuple[int, int]]
) -> None:
    path = tmp_path / "job.jsonl"
    journal = Journal.open(path, target=TARGET, durable=True)
    fsyncs.clear()  # the header's own sync, at open

    async def one(n: int) -> None:
        for _ in range(n % 4):  # a few waves: some lines come while a sync runs
            await asyncio.sleep(0)
        key = f"create:group {n:03d}"
        await journal.record(JournalEntry(key, "done", group_id=str(n)))
        # On return, an fsync that started after this line was written has completed.
        end = path.read_bytes().index(f'"{key}"'.encode())
        assert any(size > end for size, _ in fsyncs)

    await asyncio.gather(*(one(n) for n in range(200)))
    assert 1 <= len(fsyncs) <= 10, f"{len(fsyncs)} fsyncs for 200 records"
    assert threading.get_ident() not in {thread for _, thread in fsyncs}
    await journal.aclose()
    written = lines_of(path)[1:]
    assert sorted(line["key"] for line in written) == [f"create:group {n:03d}" for n in range(200)]


async def test_a_failed_fsync_raises_in_every_waiting_record_and_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "job.jsonl"
    journal = Journal.open(path, target=TARGET, durable=True)

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    results = await asyncio.gather(
        *(journal.record(JournalEntry(f"k{n}", "started")) for n in range(5)),
        return_exceptions=True,
    )
    message = f"cannot sync the journal {path}: Input/output error (errno 5){STOPS}"
    assert [str(r) for r in results] == [message] * 5
    assert all(isinstance(r, JournalError) for r in results)
    with pytest.raises(JournalError, match="cannot sync"):
        await journal.record(JournalEntry("later", "started"))
    await journal.aclose()  # already reported: closing does not raise it again
    async with Journal.open(path, target=TARGET):
        pass  # and the lock is released
