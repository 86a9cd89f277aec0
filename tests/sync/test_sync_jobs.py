"""Batch jobs and mirroring in blocking form: the async jobs on the backend's loop, the
caller's generator and progress callback in the caller's thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from unigroups import Group, JournalError, Member, MemberKind, ValidationError
from unigroups.batch import BatchReport, Create, Delete, Progress
from unigroups.sync import mirror, open_backend, run_batch
from unigroups.testing.server import ThreadedServer
from unigroups.testing.zoho_emulator import ZohoEmulator


def test_run_batch_reads_a_generator_lazily_in_the_callers_thread() -> None:
    me = threading.get_ident()
    read: list[int] = []
    seen: list[Progress] = []

    def operations() -> Iterator[Create]:
        for n in range(300):
            assert threading.get_ident() == me  # thread-bound state (a queryset) works here
            read.append(n)
            yield Create(Group(name=f"team {n}"))

    def progress(p: Progress) -> None:
        assert threading.get_ident() == me
        # Lazy: never more read than finished, in flight, and one chunk waiting.
        assert len(read) <= p.finished + p.in_flight + 2 * 64
        seen.append(p)

    with open_backend("memory") as backend:
        report = run_batch(backend, operations(), concurrency=4, on_progress=progress)
        assert isinstance(report, BatchReport)
        assert (report.done, report.failed, len(report.outcomes)) == (300, 0, 300)
        assert [o.operation for o in report.outcomes] == [
            Create(Group(name=f"team {n}")) for n in range(300)
        ]
        assert len(seen) == 300 and seen[-1].done == 300
        assert sorted(g.name for g in backend.groups()) == sorted(f"team {n}" for n in range(300))


def test_run_batch_raises_what_the_async_job_raises() -> None:
    def broken() -> Iterator[Create]:
        yield Create(Group(name="first"))
        raise LookupError("the source query failed")

    with open_backend("memory") as backend:
        with pytest.raises(LookupError, match="source query failed"):
            run_batch(backend, broken())
        with pytest.raises(ValidationError) as bad:
            run_batch(backend, "not operations")  # type: ignore[arg-type]
        assert bad.value.field == "operations"
        with pytest.raises(ValidationError):
            run_batch(backend, [Create(Group(name="a")), Create(Group(name="a"))])
        # As in the async job: what came before the error ran; a list is checked whole first.
        assert [g.name for g in backend.groups()] == ["first"]


def test_run_batch_journal_skips_what_a_first_run_did(tmp_path: Path) -> None:
    journal = tmp_path / "job.jsonl"
    ops = [Create(Group(name=f"g{n}")) for n in range(20)]
    with open_backend("memory") as backend:
        first = run_batch(backend, ops, journal=journal)
        again = run_batch(backend, iter(ops), journal=journal)
        assert (first.done, again.skipped, again.done) == (20, 20, 0)
    with open_backend("memory") as other, pytest.raises(JournalError):
        run_batch(other, ops, journal=journal)  # written for another target


def test_run_batch_failures_are_outcomes() -> None:
    with open_backend("memory") as backend:
        report = run_batch(backend, [Delete("404")], keep="failures")
    (failure,) = report.failures
    assert failure.status == "failed" and type(failure.error).__name__ == "NotFoundError"


def test_mirror_between_two_blocking_backends() -> None:
    emulator = ZohoEmulator(record_requests=False)
    with (
        ThreadedServer(emulator.make_app) as url,
        open_backend("memory") as source,
        open_backend("zoho", api_domain=url, access_token="test-token") as target,
    ):
        for n in range(12):
            source.create(
                Group(name=f"team {n}", members=[Member(MemberKind.ROLE, str(3652397000000026005))])
            )
        target.create(Group(name="team 0"))
        seen: list[int] = []
        plan = mirror.plan(source, target)
        assert len(plan.operations) == 12  # 11 creates and 1 update
        report = mirror.apply(plan, target, on_progress=lambda p: seen.append(p.finished))
        assert report.ok and report.done == 12 and seen[-1] == 12
        assert not mirror.plan(source, target)  # nothing left to do
    stored = {g.name: g for g in emulator.groups.values()}
    assert sorted(stored) == sorted(f"team {n}" for n in range(12))
    assert all(len(g.sources) == 1 for g in stored.values())


def test_a_member_map_that_blocks_on_the_loop_is_an_error() -> None:
    with open_backend("memory") as source, open_backend("memory") as target:
        source.create(Group(name="a", members=[Member(MemberKind.USER, "1")]))
        with pytest.raises(RuntimeError, match="would wait for itself"):
            mirror.plan(source, target, member_map=lambda m: target.find("x") and None)
