"""The batch engine under hostile conditions: per-group order, complete-or-failed, in doubt,
lazy input, bad options, a backend that misbehaves. Each test failed before its fix."""

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from unigroups import (
    BackendError,
    DuplicateGroupError,
    Group,
    GroupChanges,
    IncompleteWriteError,
    JournalError,
    Member,
    MemberKind,
    ServerError,
    TransportError,
    ValidationError,
    open_backend,
)
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import Create, Delete, Update, iter_batch, run_batch
from unigroups.journal import Journal, JournalTarget
from unigroups.testing.server import serve
from unigroups.testing.superoffice_emulator import SuperOfficeEmulator
from unigroups.testing.zoho_emulator import ZohoEmulator


async def test_two_updates_of_one_group_both_land_one_after_the_other() -> None:
    """SuperOffice's update reads the group and writes it back whole: run at once, the
    rename and the description change would each write back the other's old value."""
    emulator = SuperOfficeEmulator()
    group_id = str(emulator.seed_group("Ops", "before"))
    async with serve(emulator.make_app()) as server:
        backend = open_backend(
            "superoffice",
            base_url=emulator.api_url(server),
            username="test-user",
            password="test-password",
        )
        async with backend:
            ops = [
                Update(group_id, GroupChanges(description="after")),
                Update(group_id, GroupChanges(name="Ops renamed")),
            ]
            report = await run_batch(backend, ops, concurrency=8)
            final = await backend.get(group_id)
    assert [o.status for o in report.outcomes] == ["done", "done"]
    assert (final.name, final.description) == ("Ops renamed", "after")


async def test_creates_of_one_name_under_the_case_rules_run_in_the_order_given() -> None:
    backend = MemoryBackend()
    ops = [Create(Group(name="Sales", description="first")), Create(Group(name="SALES"))]
    report = await run_batch(backend, ops, concurrency=8)
    assert [o.status for o in report.outcomes] == ["done", "failed"]
    assert isinstance(report.outcomes[1].error, DuplicateGroupError)
    stored = await backend.find("Sales")
    assert stored is not None and stored.description == "first"


class Recording(MemoryBackend):
    """Records the order of calls and how many run at once per group."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.running: dict[str, int] = {}
        self.overlap = 0

    async def update(self, group_id: str, changes: GroupChanges) -> Group:
        self.running[group_id] = self.running.get(group_id, 0) + 1
        self.overlap = max(self.overlap, self.running[group_id])
        self.calls.append((group_id, str(changes.description)))
        await asyncio.sleep(0.001)
        try:
            return await super().update(group_id, changes)
        finally:
            self.running[group_id] -= 1


async def test_operations_on_one_id_never_overlap_and_keep_their_order() -> None:
    backend = Recording()
    ids = [(await backend.create(Group(name=f"g{i}"))).id or "" for i in range(3)]
    ops = [Update(ids[n % 3], GroupChanges(description=f"v{n}")) for n in range(30)]
    report = await run_batch(backend, ops, concurrency=16)
    assert report.done == 30
    assert backend.overlap == 1
    for group_id in ids:
        mine = [d for g, d in backend.calls if g == group_id]
        assert mine == [f"v{n}" for n in range(30) if ids[n % 3] == group_id]
    assert max(backend.running.values()) == 0


async def test_a_zoho_create_whose_remaining_members_fail_is_incomplete_and_a_rerun_completes_it(
    tmp_path: Path,
) -> None:
    emulator = ZohoEmulator()
    members = [Member(MemberKind.USER, str(3652397000000186000 + n)) for n in range(250)]
    journal = tmp_path / "job.jsonl"
    async with serve(emulator.make_app()) as url:
        async with open_backend("zoho", api_domain=url, access_token="test-token") as zoho:
            send = zoho._send_groups  # type: ignore[attr-defined]

            async def failing_put(method: str, items: Any, path: str = "") -> Any:
                if method == "PUT":
                    raise ServerError("down", backend="zoho", status=503)
                return await send(method, items, path)

            zoho._send_groups = failing_put  # type: ignore[attr-defined]
            ops = [Create(Group(name="big", members=members))]
            first = await run_batch(zoho, ops, journal=journal)
        (outcome,) = first.outcomes
        assert outcome.status == "failed"
        assert isinstance(outcome.error, IncompleteWriteError)
        assert outcome.error.group_id == outcome.group_id
        assert len(emulator.groups) == 1
        async with open_backend("zoho", api_domain=url, access_token="test-token") as zoho:
            second = await run_batch(zoho, ops, journal=journal)
            held = await zoho.get(outcome.group_id or "")
    assert second.outcomes[0].status == "done"
    assert len(emulator.groups) == 1  # completed, never created twice
    assert {m.id for m in held.members or ()} == {m.id for m in members}


class Unreachable(MemoryBackend):
    """Creates reach the store but answer with a dropped connection; look-ups fail while
    ``down`` is set."""

    down = True

    async def create(self, group: Group) -> Group:
        await super().create(group)
        raise TransportError("dropped", backend="memory", request_sent=True)

    async def find(self, name: str) -> Group | None:
        if self.down:
            raise TransportError("no route", backend="memory", request_sent=False)
        return await super().find(name)


async def test_a_create_of_unknown_fate_whose_look_up_fails_stays_in_doubt(tmp_path: Path) -> None:
    backend = Unreachable()
    journal = tmp_path / "job.jsonl"
    ops = [Create(Group(name="maybe"))]
    first = await run_batch(backend, ops, journal=journal)
    (outcome,) = first.outcomes
    assert outcome.status == "failed" and outcome.in_doubt
    assert '"state": "in_doubt"' in journal.read_text()
    backend.down = False  # the network is back: the re-run looks, finds, and is done
    second = await run_batch(backend, ops, journal=journal)
    assert second.outcomes[0].status == "done"
    assert second.outcomes[0].group_id == (await backend.find("maybe")).id  # type: ignore[union-attr]
    assert len([g async for g in backend.groups()]) == 1


@pytest.mark.parametrize("where", ["missing folder", "a folder", "parent is a file"])
async def test_a_journal_that_cannot_be_opened_ends_the_job_before_anything_is_sent(
    tmp_path: Path, where: str
) -> None:
    (tmp_path / "file").write_text("x")
    path = {
        "missing folder": tmp_path / "no" / "such" / "job.jsonl",
        "a folder": tmp_path,
        "parent is a file": tmp_path / "file" / "job.jsonl",
    }[where]
    backend = MemoryBackend()
    with pytest.raises(JournalError) as info:
        await run_batch(backend, [Create(Group(name="x"))], journal=path)
    assert str(path) in str(info.value)
    assert [g async for g in backend.groups()] == []


async def test_a_journal_write_that_fails_mid_job_ends_it_with_journal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = MemoryBackend()
    writes = itertools.count()
    original = Journal.record

    async def record(self: Journal, entry: Any) -> None:
        if next(writes) == 7:
            raise JournalError("disk full", path=str(self.path))
        await original(self, entry)

    monkeypatch.setattr(Journal, "record", record)
    ops = [Create(Group(name=f"g{i}")) for i in range(50)]
    with pytest.raises(JournalError, match="disk full"):
        await run_batch(backend, ops, concurrency=4, journal=tmp_path / "job.jsonl")
    made = len([g async for g in backend.groups()])
    assert made < 50  # the job stopped: nothing more was sent


async def test_a_journal_for_another_target_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "job.jsonl"
    await run_batch(MemoryBackend(), [Create(Group(name="a"))], journal=journal)
    other = MemoryBackend()  # another store: what the journal says done never happened here
    with pytest.raises(JournalError) as info:
        await run_batch(other, [Create(Group(name="a"))], journal=journal)
    assert other.fingerprint() in str(info.value)
    assert [g async for g in other.groups()] == []


def test_an_in_memory_store_gone_is_never_mistaken_for_a_new_one() -> None:
    # A new object may get a dropped one's id(): the fingerprint must not follow it, or a
    # journal written for the old store would be trusted by the new one.
    seen: set[str] = set()
    for _ in range(20):
        store = MemoryBackend()
        assert store.fingerprint() == store.fingerprint()
        assert store.fingerprint() not in seen
        seen.add(store.fingerprint())
        del store  # freed at once: the next store may be given its id()


async def test_two_runs_on_one_journal_at_once_are_refused(tmp_path: Path) -> None:
    backend = MemoryBackend()
    path = tmp_path / "job.jsonl"
    target = JournalTarget(backend.name, backend.fingerprint())
    async with Journal.open(path, target=target):
        with pytest.raises(JournalError, match="another run"):
            await run_batch(backend, [Create(Group(name="a"))], journal=path)
    assert [g async for g in backend.groups()] == []


class Cancelling(MemoryBackend):
    async def delete(self, group_id: str) -> None:
        raise asyncio.CancelledError  # a backend's own, not a cancellation of the job


async def test_a_backend_raising_cancelled_error_ends_that_operation_failed() -> None:
    report = await run_batch(Cancelling(), [Delete("1"), Create(Group(name="fine"))])
    assert [o.status for o in report.outcomes] == ["failed", "done"]
    assert isinstance(report.outcomes[0].error, BackendError)
    assert "CancelledError" in str(report.outcomes[0].error)


@pytest.mark.parametrize("bad", [0, -1, "8", 2.5, True])
async def test_a_bad_concurrency_is_a_validation_error(bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        await run_batch(MemoryBackend(), [], concurrency=bad)
    assert info.value.field == "concurrency"


@pytest.mark.parametrize("make", [lambda: Create("x"), lambda: Update(1, GroupChanges())])
def test_a_bad_operation_is_a_validation_error(make: Any) -> None:
    with pytest.raises(ValidationError):
        make()


async def test_a_huge_concurrency_starts_no_more_tasks_than_operations() -> None:
    class Counting(MemoryBackend):
        peak = 0

        async def create(self, group: Group) -> Group:
            self.peak = max(self.peak, len(asyncio.all_tasks()))
            return await super().create(group)

    backend = Counting()
    report = await run_batch(backend, [Create(Group(name="one"))], concurrency=200_000)
    assert report.done == 1
    assert backend.peak <= 3  # the test, the job's one operation, and nothing idle


async def test_operations_are_read_lazily_from_a_generator() -> None:
    read = 0

    def operations() -> Iterator[Create]:
        nonlocal read
        for i in range(10_000):
            read += 1
            yield Create(Group(name=f"g{i}"))

    backend = MemoryBackend()
    seen = 0
    async for _outcome in iter_batch(backend, operations(), concurrency=4):
        seen += 1
        assert read <= seen + 4 * 5  # what runs plus what may wait, never the whole input
        if seen == 100:
            break
    assert read < 200


async def test_operations_come_from_an_async_generator_too() -> None:
    async def operations() -> AsyncIterator[Create]:
        for i in range(30):
            yield Create(Group(name=f"g{i}"))

    report = await run_batch(MemoryBackend(), operations(), concurrency=4)
    assert report.done == 30
    assert [o.key for o in report.outcomes] == [f"create:g{i}" for i in range(30)]


async def test_keep_failures_holds_only_failures_and_counts_everything() -> None:
    backend = MemoryBackend()
    await backend.create(Group(name="taken"))
    ops = [Create(Group(name=f"g{i}")) for i in range(20)] + [Create(Group(name="taken"))]
    report = await run_batch(backend, ops, keep="failures")
    assert (report.done, report.failed) == (20, 1)
    assert [o.key for o in report.outcomes] == ["create:taken"]


async def test_a_duplicate_key_in_a_generator_ends_the_job_with_a_validation_error() -> None:
    def operations() -> Iterator[Delete]:
        yield Delete("1")
        yield Delete("1")

    with pytest.raises(ValidationError, match="share the key"):
        await run_batch(MemoryBackend(), operations())


async def test_a_journal_object_of_another_target_is_refused(tmp_path: Path) -> None:
    first, other = MemoryBackend(), MemoryBackend()
    target = JournalTarget(first.name, first.fingerprint())
    async with Journal.open(tmp_path / "job.jsonl", target=target) as journal:
        with pytest.raises(JournalError, match="belongs to one target"):
            await run_batch(other, [Create(Group(name="a"))], journal=journal)
    assert [g async for g in other.groups()] == []


async def test_leaving_the_loop_early_releases_the_journal_at_once(tmp_path: Path) -> None:
    backend = MemoryBackend()
    path = tmp_path / "job.jsonl"
    ops = [Create(Group(name=f"g{i}")) for i in range(50)]
    run = iter_batch(backend, ops, concurrency=2, journal=path)
    async with contextlib.aclosing(aiter(run)) as outcomes:  # type: ignore[type-var]
        async for _outcome in outcomes:
            break
    report = await run_batch(backend, ops, journal=path)  # not "in use"
    assert report.failed == 0 and report.done + report.skipped == 50


class Exploding(MemoryBackend):
    async def create(self, group: Group) -> Group:
        await super().create(group)
        raise KeyError("a bug in a plugin")


async def test_a_create_ending_in_a_foreign_exception_is_in_doubt_and_looked_up_next_run(
    tmp_path: Path,
) -> None:
    backend = Exploding()
    journal = tmp_path / "job.jsonl"
    first = await run_batch(backend, [Create(Group(name="x"))], journal=journal)
    assert first.outcomes[0].in_doubt and isinstance(first.outcomes[0].error, KeyError)
    second = await run_batch(backend, [Create(Group(name="x"))], journal=journal)
    assert second.outcomes[0].status == "done"  # found, not failed on its own duplicate


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no words")


class Raising(MemoryBackend):
    async def delete(self, group_id: str) -> None:
        raise Unprintable


async def test_an_exception_that_cannot_be_printed_still_ends_as_an_outcome(
    tmp_path: Path,
) -> None:
    report = await run_batch(Raising(), [Delete("1")], journal=tmp_path / "job.jsonl")
    assert report.outcomes[0].status == "failed"
    assert "Unprintable" in (tmp_path / "job.jsonl").read_text()


async def test_a_bad_item_in_a_generator_lets_what_runs_finish_then_raises() -> None:
    backend = MemoryBackend()

    def operations() -> Iterator[Any]:
        yield Create(Group(name="a"))
        yield Create(Group(name="b"))
        yield "not an operation"

    seen: list[str] = []
    with pytest.raises(ValidationError, match="operation 2 is a str"):
        async for outcome in iter_batch(backend, operations(), concurrency=4):
            seen.append(outcome.key)
    assert sorted(seen) == ["create:a", "create:b"]
