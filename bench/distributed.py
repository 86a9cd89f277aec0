"""Jobs over Celery worker processes sharing one limit per org, against the single-process
raw-aiohttp ceiling.

Single org: 1, 2 and 3 worker processes share a cap of 10 requests in flight (one
``RedisThrottle`` key) at 20 ms latency; throughput (creates per second, from submit to the
gathered report) as a ratio of raw aiohttp in this process keeping 10 creates in flight
against the same kind of emulator. Many orgs: 10 emulated orgs, cap 10 each, 3 workers, one
job per org submitted at once; aggregate throughput against 10 x the single-org ceiling.

    python bench/distributed.py [--count 2000] [--orgs 10] [--latency 0.02]

Each phase gets fresh emulator processes (one per org) and a fresh Redis server
(``unigroups.testing.redis_server``); worker start-up is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator

from _common import TOKEN, RawZoho, machine, table, zoho_emulator

from unigroups import Group
from unigroups.operations import Create
from unigroups.testing.celery_app import make_jobs
from unigroups.testing.celery_workers import CeleryWorkers
from unigroups.testing.redis_server import RedisServer

CAP = 10


@contextlib.contextmanager
def emulators(count: int, latency: float) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(zoho_emulator("--latency", str(latency))) for _ in range(count)]


async def raw_ceiling(url: str, count: int) -> float:
    """Creates per second from raw aiohttp keeping CAP creates in flight."""
    client = RawZoho(url)
    gate = asyncio.Semaphore(CAP)

    async def one(number: int) -> None:
        async with gate:
            status = await client.create_status({"name": f"raw group {number:06d}", "sources": []})
            if status != 201:
                raise RuntimeError(f"raw create answered {status}")

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(n) for n in range(count)))
    finally:
        await client.close()
    return count / (time.perf_counter() - started)


def run_jobs(workers: int, urls: list[str], count: int) -> float:
    """Creates per second, all orgs together, from submit to every report gathered."""
    with (
        RedisServer() as redis,
        CeleryWorkers(
            workers, redis_url=redis.url, emulators=urls, cap=CAP, threads=4, token=TOKEN
        ),
    ):
        jobs = make_jobs(redis.url, urls, cap=CAP)
        started = time.perf_counter()
        handles = [
            jobs.submit(
                (Create(Group(f"org {org} group {n:06d}")) for n in range(count)),
                target=f"org{org}",
                parts=12,
            )
            for org in range(len(urls))
        ]
        reports = [handle.get(timeout=600) for handle in handles]
        elapsed = time.perf_counter() - started
    for report in reports:
        if not report.ok or len(report.outcomes) != count:
            raise RuntimeError(f"the job did not end done: {report}")
    return count * len(urls) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="creates per org")
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()

    with emulators(1, args.latency) as urls:
        ceiling = asyncio.run(raw_ceiling(urls[0], args.count))
    rows: list[list[object]] = [["raw aiohttp, 1 process", 1, f"{ceiling:.0f}", "1.00x"]]
    print(f"# ceiling {ceiling:.0f}/s", flush=True)  # each phase as it ends: a run cut short
    for workers in (1, 2, 3):
        with emulators(1, args.latency) as urls:
            rate = run_jobs(workers, urls, args.count)
        rows.append(["unigroups jobs, 1 org", workers, f"{rate:.0f}", f"{rate / ceiling:.2f}x"])
        print(f"# {workers} worker(s), 1 org: {rate:.0f}/s, {rate / ceiling:.2f}x", flush=True)
    with emulators(args.orgs, args.latency) as urls:
        rate = run_jobs(3, urls, args.count)
    rows.append(
        [
            f"unigroups jobs, {args.orgs} orgs",
            3,
            f"{rate:.0f}",
            f"{rate / (args.orgs * ceiling):.2f}x of {args.orgs} x ceiling",
        ]
    )
    print(f"# {machine()}; cap {CAP} per org; latency {args.latency * 1000:.0f} ms")
    print(f"# {args.count} creates per org, one request each")
    print(table(["phase", "workers", "creates/s", "ratio"], rows))


if __name__ == "__main__":
    main()
