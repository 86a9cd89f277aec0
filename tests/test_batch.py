"""The batch engine: one outcome per operation, journal and resume, no duplicates, AIMD."""

import json
from pathlib import Path
from typing import Any

import pytest

from unigroups import (
    DuplicateGroupError,
    Group,
    GroupChanges,
    JournalError,
    ServerError,
    ValidationError,
    open_backend,
)
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import Create, Delete, Progress, Update, iter_batch, run_batch
from unigroups.http import RetryPolicy
from unigroups.journal import Journal, JournalTarget
from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import serve
from unigroups.testing.zoho_emulator import ZohoEmulator


async def test_every_operation_ends_in_exactly_one_outcome_in_input_order() -> None:
    backend = MemoryBackend()
    keep = await backend.create(Group(name="keep"))
    doomed = await backend.create(Group(name="doomed"))
    await backend.create(Group(name="taken"))
    assert keep.id and doomed.id
    ops = [
        Create(Group(name="new")),
        Create(Group(name="taken")),
        Update(keep.id, GroupChanges(description="kept")),
        Delete(doomed.id),
        Delete("999"),
    ]
    events: list[Progress] = []
    report = await run_batch(backend, ops, on_progress=events.append)
    assert [o.operation for o in report.outcomes] == ops
    assert [o.status for o in report.outcomes] == ["done", "failed", "done", "done", "failed"]
    assert isinstance(report.outcomes[1].error, DuplicateGroupError)
    assert report.outcomes[2].group is not None and report.outcomes[2].group.description == "kept"
    assert (report.done, report.failed, report.skipped) == (3, 2, 0)
    assert [e.finished for e in events] == [1, 2, 3, 4, 5]
    assert events[-1].concurrency == 10
    assert "5 operations: 3 done, 2 failed" in str(report)


async def test_the_iterator_form_yields_each_outcome_as_it_completes() -> None:
    backend = MemoryBackend()
    ops = [Create(Group(name=f"g{i}")) for i in range(25)]
    seen = [outcome.key async for outcome in iter_batch(backend, ops, concurrency=4)]
    assert sorted(seen) == sorted(op.key for op in ops)
    assert len({g.name async for g in backend.groups()}) == 25


def test_keys_are_stable_and_must_be_unique() -> None:
    a = Update("1", GroupChanges(description="x"))
    assert a.key == Update("1", GroupChanges(description="x")).key
    assert a.key != Update("1", GroupChanges(description="y")).key
    assert Create(Group(name="n")).key == "create:n"
    assert Delete("7").key == "delete:7"
    with pytest.raises(ValidationError):
        iter_batch(MemoryBackend(), [Delete("1"), Delete("1")])
    with pytest.raises(ValidationError):
        iter_batch(MemoryBackend(), ["not an operation"])  # type: ignore[list-item]


async def test_a_journal_makes_a_rerun_skip_what_is_done_and_retry_what_failed(
    tmp_path: Path,
) -> None:
    backend = MemoryBackend()
    await backend.create(Group(name="blocker"))
    journal = tmp_path / "job.jsonl"
    ops = [Create(Group(name=f"g{i}")) for i in range(5)] + [Create(Group(name="blocker"))]
    first = await run_batch(backend, ops, journal=journal)
    assert (first.done, first.failed) == (5, 1)
    header, *lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert (header["backend"], header["target"]) == ("memory", backend.fingerprint())
    assert {line["state"] for line in lines} == {"started", "done", "failed"}
    assert all(line["group_id"] for line in lines if line["state"] == "done")

    blocker = await backend.find("blocker")
    assert blocker and blocker.id
    await backend.delete(blocker.id)  # the cause of the failure is fixed
    second = await run_batch(backend, ops, journal=journal)
    assert (second.skipped, second.done, second.failed) == (5, 1, 0)
    assert str(second).startswith("6 operations: 1 done, 0 failed, 5 already done (journal), ")
    assert second.outcomes[0].group_id == first.outcomes[0].group_id
    assert len([g async for g in backend.groups()]) == 6


async def test_a_create_cut_short_by_a_kill_is_looked_up_not_repeated(tmp_path: Path) -> None:
    backend = MemoryBackend()
    made = await backend.create(Group(name="half"))  # the killed run got this far
    journal = tmp_path / "job.jsonl"
    await Journal.open(journal, target=JournalTarget("memory", backend.fingerprint())).aclose()
    with journal.open("a") as file:  # what a run killed mid-write leaves
        file.write(json.dumps({"key": "create:half", "state": "started"}) + "\n" + '{"key": "cre')
    report = await run_batch(backend, [Create(Group(name="half"))], journal=journal)
    assert report.outcomes[0].status == "done"
    assert report.outcomes[0].group_id == made.id
    assert len([g async for g in backend.groups()]) == 1
    again = await run_batch(backend, [Create(Group(name="half"))], journal=journal)
    assert again.outcomes[0].status == "skipped"  # the torn line did not garble ours


async def test_a_journal_with_a_garbled_line_in_the_middle_is_refused(tmp_path: Path) -> None:
    backend = MemoryBackend()
    journal = tmp_path / "job.jsonl"
    await Journal.open(journal, target=JournalTarget("memory", backend.fingerprint())).aclose()
    with journal.open("a") as file:
        file.write("garbage\n" + json.dumps({"key": "k", "state": "done"}) + "\n")
    with pytest.raises(JournalError, match="damaged at line 2"):
        await run_batch(backend, [Delete("1")], journal=journal)


async def test_no_duplicate_after_the_connection_drops_once_the_group_is_stored() -> None:
    emulator = ZohoEmulator(faults=FaultPolicy(drop_rate=0.3, drop_after_handling=True, seed=3))
    async with serve(emulator.make_app()) as url:
        backend = open_backend("zoho", api_domain=url, access_token="test-token")
        async with backend:
            ops = [Create(Group(name=f"g{i}")) for i in range(60)]
            report = await run_batch(backend, ops, concurrency=8)
    assert report.failed == 0, [o.error for o in report.failures]
    assert emulator.stats.drops > 5, "the fault never happened"
    names = [g.name for g in emulator.groups.values()]
    assert sorted(names) == sorted(f"g{i}" for i in range(60))
    assert {o.group_id for o in report.outcomes} == set(emulator.groups)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_adaptive_concurrency_keeps_429_under_5_percent(seed: int) -> None:
    """The emulator takes 10 calls at once and the client is not told."""
    emulator = ZohoEmulator(faults=FaultPolicy(latency=0.005, max_in_flight=10, seed=seed))
    async with (
        serve(emulator.make_app()) as url,
        open_backend(
            "zoho", api_domain=url, access_token="test-token", max_concurrency=64
        ) as backend,
    ):
        limits: list[int] = []
        report = await run_batch(
            backend,
            [Create(Group(name=f"g{i}")) for i in range(2000)],
            concurrency=32,
            on_progress=lambda p: limits.append(p.concurrency),
        )
    assert report.done == 2000
    requests = emulator.stats.requests
    rate = emulator.stats.too_many_requests / requests
    assert rate < 0.05, f"429 on {rate:.1%} of {requests} requests"
    assert min(limits) < 32, "the limit never came down"
    assert len(emulator.groups) == 2000


async def test_a_half_successful_multi_group_call_gives_done_and_failed_outcomes() -> None:
    emulator = ZohoEmulator(max_groups_per_request=5)
    emulator.seed_group("taken 1")
    emulator.seed_group("taken 3")
    async with (
        serve(emulator.make_app()) as url,
        open_backend("zoho", api_domain=url, access_token="test-token", max_batch=5) as backend,
    ):
        names = ["new 0", "taken 1", "new 2", "taken 3", "new 4"]
        report = await run_batch(backend, [Create(Group(name=n)) for n in names])
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert len(posts) == 1 and len(posts[0].json["user_groups"]) == 5  # type: ignore[index]
    assert [o.status for o in report.outcomes] == ["done", "failed", "done", "failed", "done"]
    assert all(isinstance(o.error, DuplicateGroupError) for o in report.failures)
    for outcome in report.outcomes:
        if outcome.status == "done":
            stored = emulator.groups[outcome.group_id or ""]
            assert stored.name == outcome.operation.group.name  # type: ignore[union-attr]
    assert len(emulator.groups) == 5


@pytest.mark.parametrize("max_attempts", [1, 3, 6])
async def test_a_batch_sends_a_request_no_more_than_the_backends_attempts(
    max_attempts: int,
) -> None:
    """One retry budget: a DELETE that keeps getting 503 is sent max_attempts times in all,
    not once per batch attempt times once per transport attempt."""
    emulator = ZohoEmulator(faults=FaultPolicy(rate_503=1.0, seed=1))
    group_id = emulator.seed_group("doomed")
    async with (
        serve(emulator.make_app()) as url,
        open_backend(
            "zoho", api_domain=url, access_token="test-token", max_attempts=max_attempts
        ) as backend,
    ):
        backend.transport._sleep = _no_sleep  # type: ignore[attr-defined]
        report = await run_batch(backend, [Delete(group_id)])
    deletes = [r for r in emulator.requests if r.method == "DELETE"]
    assert len(deletes) == max_attempts
    (outcome,) = report.outcomes
    assert outcome.status == "failed" and isinstance(outcome.error, ServerError)
    assert (outcome.attempts, outcome.error.attempts) == (1, max_attempts)  # one call, N sends
    assert group_id in emulator.groups


@pytest.mark.parametrize("budget", [1, 3])
async def test_a_create_of_unknown_fate_is_recreated_only_within_the_send_budget(
    budget: int,
) -> None:
    """A create that keeps failing with a 5xx is looked up, then created again, while its
    sends stay within the backend's retry policy: never a loop of its own."""

    class Failing(MemoryBackend):
        calls = 0
        retry_policy = RetryPolicy(attempts=budget)

        async def create(self, group: Group) -> Group:
            self.calls += 1
            raise ServerError("down", backend="memory", status=503)

    backend = Failing()
    report = await run_batch(backend, [Create(Group(name="g"))])
    (outcome,) = report.outcomes
    assert backend.calls == budget
    assert outcome.status == "failed" and outcome.attempts == budget


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_unexpected_exceptions_still_end_as_failed_outcomes() -> None:
    class Broken(MemoryBackend):
        async def delete(self, group_id: str) -> None:
            raise RuntimeError("boom")

    report = await run_batch(Broken(), [Delete("1"), Create(Group(name="fine"))])
    assert [o.status for o in report.outcomes] == ["failed", "done"]
    assert isinstance(report.outcomes[0].error, RuntimeError)


def _names(groups: Any) -> list[str]:
    return sorted(g.name for g in groups)
