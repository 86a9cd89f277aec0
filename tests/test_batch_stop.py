"""A job stops when its target cannot be reached, and its journal resumes it."""

import contextlib
from pathlib import Path
from typing import Any

import pytest

from unigroups import Group, TransportError, open_backend
from unigroups.batch import Create, Outcome, Progress, StopWhenUnreachable, run_batch
from unigroups.errors import NotFoundError, ValidationError
from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import serve
from unigroups.testing.zoho_emulator import ZohoEmulator

OP = Create(Group("g"))


def unreachable(sends: int) -> Outcome:
    error = TransportError("GET /x: cannot connect to h:1: refused", request_sent=False)
    error.attempts = sends
    return Outcome(OP, "failed", error=error, attempts=1)


def test_sends_that_cannot_reach_the_target_are_counted_across_operations() -> None:
    stop = StopWhenUnreachable(6)
    assert stop(unreachable(3)) is None
    assert stop(Outcome(OP, "skipped")) is None  # done by an earlier run: no news
    error = stop(unreachable(3))
    assert isinstance(error, TransportError) and error.request_sent is False
    assert str(error).startswith("stopped: the target could not be reached for 6 sends in a row")
    assert "cannot connect to h:1" in str(error)


@pytest.mark.parametrize(
    "between",
    [
        Outcome(OP, "done", attempts=1),
        Outcome(OP, "failed", error=NotFoundError("gone", status=404), attempts=1),
        Outcome(OP, "failed", error=TransportError("reset", request_sent=True), attempts=1),
    ],
)
def test_any_answer_from_the_target_starts_the_count_again(between: Outcome) -> None:
    stop = StopWhenUnreachable(4)
    assert stop(unreachable(3)) is None
    assert stop(between) is None
    assert stop(unreachable(3)) is None
    assert stop(unreachable(1)) is not None


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "3"])
def test_the_limit_is_a_count(limit: Any) -> None:
    with pytest.raises(ValidationError):
        StopWhenUnreachable(limit)


@pytest.mark.slow
async def test_a_target_that_goes_down_mid_job_stops_it_and_the_journal_resumes_it(
    tmp_path: Path,
) -> None:
    emulator = ZohoEmulator(faults=FaultPolicy(latency=0.01))
    journal = tmp_path / "job.jsonl"
    operations = [Create(Group(f"group {n:03d}")) for n in range(60)]
    options = {"access_token": "test-token", "max_attempts": 3, "max_wait": 1.0}
    server = contextlib.AsyncExitStack()
    url = await server.enter_async_context(serve(emulator.make_app()))
    port = int(url.rsplit(":", 1)[1])

    async def go_down(event: Progress) -> None:
        if event.done >= 10:
            await server.aclose()  # the target goes away: connections are refused

    async with open_backend("zoho", api_domain=url, **options) as zoho:
        with pytest.raises(TransportError) as stopped:
            await run_batch(
                zoho,
                operations,
                concurrency=2,
                journal=journal,
                on_progress=go_down,
                stop_when=StopWhenUnreachable(3),
            )
    assert "could not be reached for 3 sends in a row" in str(stopped.value)
    assert f"127.0.0.1:{port}" in str(stopped.value)
    held = len(emulator.groups)
    assert 10 <= held < len(operations), "the job did not stop part-way"

    async with serve(emulator.make_app(), port=port) as url_again:  # back, with its state
        assert url_again == url
        async with open_backend("zoho", api_domain=url, **options) as zoho:
            report = await run_batch(zoho, operations, concurrency=2, journal=journal)
    assert report.failed == 0
    assert report.skipped >= 10
    names = sorted(g.name for g in emulator.groups.values())
    assert names == [f"group {n:03d}" for n in range(60)], "a group is missing or doubled"
