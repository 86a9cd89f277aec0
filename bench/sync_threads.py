"""1,000 creates from 10 workers: unigroups.sync in 10 threads, the async API in 10 tasks,
raw aiohttp in 10 tasks (the baseline) and Zoho's official SDK in 10 threads, same run.

Each worker takes the next group number and creates that group, until 1,000 are made. The
phases are interleaved over ``--rounds`` rounds (medians reported), at 20 ms latency and at
0 ms (where only the client's CPU counts), each phase against a fresh emulator process that
answers 429 past 10 calls in flight. Client CPU is this process's CPU time per create (the
emulator runs in its own process).

    python bench/sync_threads.py [--count 1000] [--rounds 3]

Zoho's SDK is a benchmark dependency only (pip install -r bench/requirements.txt); without
it that phase is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from _common import TOKEN, RawZoho, machine, table, zoho_emulator
from peer_zoho_sdk import SDK, sdk_threads

import unigroups
import unigroups.sync
from unigroups import Group

WORKERS = 10
CAP = 10

# (elapsed seconds, client CPU seconds, 429s) for one phase.
Measure = tuple[float, float, int]


def timed(run: Callable[[], int]) -> Measure:
    cpu, started = time.process_time(), time.perf_counter()
    refused = run()
    return time.perf_counter() - started, time.process_time() - cpu, refused


async def tasks(count: int, create: Callable[[int], Awaitable[object]]) -> None:
    numbers: Iterator[int] = iter(range(count))

    async def worker() -> None:
        for n in numbers:  # shared: each number is taken once
            await create(n)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


def raw_tasks(url: str, count: int) -> Measure:
    async def run() -> Measure:
        client = RawZoho(url)
        try:
            return await _clocked(tasks(count, lambda n: raw_create(client, n)))
        finally:
            await client.close()

    return asyncio.run(run())


async def raw_create(client: RawZoho, n: int) -> None:
    while await client.create_status({"name": f"raw {n}"}) == 429:
        pass  # never at 10 in flight; kept so a 429 cannot pass for a create


async def _clocked(job: Awaitable[None]) -> Measure:
    cpu, started = time.process_time(), time.perf_counter()
    await job
    return time.perf_counter() - started, time.process_time() - cpu, 0


def async_tasks(url: str, count: int) -> Measure:
    async def run() -> Measure:
        backend: Any = unigroups.open_backend("zoho", api_domain=url, access_token=TOKEN)
        async with backend:
            elapsed, cpu, _ = await _clocked(
                tasks(count, lambda n: backend.create(Group(f"async {n}")))
            )
            return elapsed, cpu, backend.transport.stats.rate_limited

    return asyncio.run(run())


def sync_threads(url: str, count: int) -> Measure:
    with unigroups.sync.open_backend("zoho", api_domain=url, access_token=TOKEN) as backend:
        numbers = itertools.count()
        take = threading.Lock()
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                while True:
                    with take:
                        n = next(numbers)
                    if n >= count:
                        return
                    backend.create(Group(f"sync {n}"))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        def run() -> int:
            threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
            stats = backend.throttle_stats
            return stats.rate_limited if stats else 0

        return timed(run)


def sdk_pool(url: str, count: int) -> Measure:
    with tempfile.TemporaryDirectory(prefix="zoho-sdk-") as workdir:
        cpu = time.process_time()
        result = sdk_threads(url, count, workdir)
        # Its CPU includes initialising the SDK in each thread (off its clock).
        return result["elapsed"], time.process_time() - cpu, result["rate_limited"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="creates per phase (%(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per latency (%(default)s)")
    args = parser.parse_args()
    logging.getLogger("SDKLogger").setLevel(logging.CRITICAL)  # no per-call log lines
    phases: list[tuple[str, Callable[[str, int], Measure]]] = [
        (f"raw aiohttp, {WORKERS} tasks (baseline)", raw_tasks),
        (f"unigroups async, {WORKERS} tasks", async_tasks),
        (f"unigroups.sync, {WORKERS} threads", sync_threads),
    ]
    if SDK:
        phases.append((f"Zoho SDK, {WORKERS} threads", sdk_pool))
    else:
        print("Zoho's SDK is not installed (pip install -r bench/requirements.txt): left out")
    print(f"machine: {machine()}")
    print(
        f"emulator: own process per phase, 429 past {CAP} calls in flight; {args.count} "
        f"creates per phase, {WORKERS} workers, {args.rounds} rounds, medians\n"
    )
    for latency in (0.02, 0.0):
        results: dict[str, list[Measure]] = {name: [] for name, _ in phases}
        for round_ in range(args.rounds):
            for name, phase in phases:
                with zoho_emulator("--latency", str(latency), "--max-in-flight", str(CAP)) as url:
                    results[name].append(phase(url, args.count))
            print(f"  {latency * 1000:.0f} ms: round {round_ + 1} done", flush=True)
        rates = {
            name: statistics.median(args.count / m[0] for m in runs)
            for name, runs in results.items()
        }
        baseline, async_rate = rates[phases[0][0]], rates[phases[1][0]]
        rows = [
            [
                name,
                f"{rates[name]:.0f}",
                f"{rates[name] / baseline:.3f}",
                f"{rates[name] / async_rate:.3f}",
                f"{statistics.median(m[1] for m in runs) / args.count * 1e6:.0f}",
                sum(m[2] for m in runs),
            ]
            for name, runs in results.items()
        ]
        print(f"\nlatency {latency * 1000:.0f} ms")
        print(
            table(
                ["phase", "groups/s", "÷ raw aiohttp", "÷ async", "client CPU µs/create", "429s"],
                rows,
            )
        )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
