"""The proof: real Celery workers (separate processes) on a real Redis, against the Zoho
emulator, with one cap of 10 requests in flight shared by every worker."""

import os
import time
from collections.abc import Iterator

import pytest

from unigroups import Group
from unigroups.distributed.celery import CeleryJobs
from unigroups.operations import Create
from unigroups.testing.celery_app import make_jobs
from unigroups.testing.celery_workers import CeleryWorkers
from unigroups.testing.faults import FaultPolicy
from unigroups.testing.redis_server import RedisServer
from unigroups.testing.server import ThreadedServer
from unigroups.testing.zoho_emulator import ZohoEmulator

pytestmark = pytest.mark.slow  # worker processes and thousands of requests: CI runs it

CAP = 10
COUNT = 5000
LATENCY = 0.01


@pytest.fixture
def emulator() -> ZohoEmulator:
    # No refusal past the cap: the emulator only watches how many requests are in flight.
    return ZohoEmulator(faults=FaultPolicy(latency=LATENCY), record_requests=False)


@pytest.fixture
def emulator_url(emulator: ZohoEmulator) -> Iterator[str]:
    with ThreadedServer(emulator.make_app) as url:
        yield url


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(persistent=True) as server:  # the restart test needs its writes kept
        yield server


@pytest.fixture
def jobs(redis_server: RedisServer, emulator_url: str) -> CeleryJobs:
    """The producer's side: target "org0" is the emulator."""
    return make_jobs(redis_server.url, [emulator_url], cap=CAP)


@pytest.fixture
def workers(redis_server: RedisServer, emulator_url: str) -> Iterator[CeleryWorkers]:
    """Three worker processes sharing one cap of CAP for the emulator."""
    with CeleryWorkers(3, redis_url=redis_server.url, emulators=[emulator_url], cap=CAP) as running:
        yield running


def operations() -> list[Create]:
    return [Create(Group(f"job group {i:05d}")) for i in range(COUNT)]


def check_exact(emulator: ZohoEmulator, jobs: CeleryJobs, job_id: str) -> None:
    """Every create done once: the report says so, and so does the emulator's state."""
    report = jobs.report(job_id)
    assert [o.status for o in report.outcomes] == ["done"] * COUNT, str(report)
    assert [o.number for o in report.outcomes] == list(range(COUNT))
    names = sorted(group.name for group in emulator.groups.values())
    assert names == [f"job group {i:05d}" for i in range(COUNT)]
    group_ids = {o.group_id for o in report.outcomes}
    assert group_ids == set(emulator.groups)  # each outcome names the one group it made
    assert emulator.stats.statuses[201] + emulator.stats.statuses[200] >= 1
    assert not [s for s in emulator.stats.statuses if s >= 400], emulator.stats.statuses
    assert emulator.stats.peak_in_flight <= CAP


def test_three_workers_share_one_cap_and_do_every_create_once(
    emulator: ZohoEmulator, jobs: CeleryJobs, workers: CeleryWorkers
) -> None:
    handle = jobs.submit(operations(), target="org0", parts=12)
    report = handle.get(timeout=240)
    assert report.count("done") == COUNT and report.ok
    check_exact(emulator, jobs, handle.job_id)
    assert emulator.stats.peak_in_flight == CAP  # the cap was reached, never passed


def wait_for_groups(emulator: ZohoEmulator, count: int, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while len(emulator.groups) < count:
        assert time.monotonic() < deadline, f"only {len(emulator.groups)} groups made"
        time.sleep(0.02)


def test_a_worker_killed_mid_job_loses_nothing_and_duplicates_nothing(
    emulator: ZohoEmulator, jobs: CeleryJobs, workers: CeleryWorkers
) -> None:
    handle = jobs.submit(operations(), target="org0", parts=12)
    wait_for_groups(emulator, COUNT // 4)
    pid = workers.kill(0)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # really gone, mid-job
    assert len(emulator.groups) < COUNT
    report = handle.get(timeout=240)  # its parts are delivered again to the others
    assert report.ok, str(report)
    check_exact(emulator, jobs, handle.job_id)


def test_a_redis_restart_mid_job_resumes_without_duplicates(
    emulator: ZohoEmulator, jobs: CeleryJobs, workers: CeleryWorkers, redis_server: RedisServer
) -> None:
    handle = jobs.submit(operations(), target="org0", parts=12)
    wait_for_groups(emulator, COUNT // 4)
    redis_server.kill()  # appendfsync always: every acknowledged write is on disk
    made_while_down = len(emulator.groups)
    time.sleep(1.0)
    assert len(emulator.groups) - made_while_down <= CAP  # only what was in flight
    redis_server.start()
    report = handle.get(timeout=240)
    assert report.ok, str(report)
    check_exact(emulator, jobs, handle.job_id)
