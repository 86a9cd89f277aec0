"""Batch creates against the practical ceiling: hand-written aiohttp holding exactly as many
calls in flight as the emulator allows, in the same run.

Each run of a phase gets a fresh emulator process (20 ms latency, 429 past 10 calls in
flight), so names never collide and no run pays for the state another left behind. The count
is split into rounds; each round runs the first three phases once, in a rotated order:

  ceiling       raw aiohttp, exactly 10 calls in flight (it knows the cap)
  configured    run_batch(concurrency=10), backend max_concurrency=10, throttle="fixed"
  adaptive      run_batch(concurrency=32), backend max_concurrency=64, throttle="adaptive":
                the cap is not told, the AIMD limit has to find it through 429 answers
  max_batch     configured, with max_batch=10 on an emulator that takes 10 groups a call,
                against raw aiohttp sending 10 groups a call the same way (one run each of
                the whole count, after the rounds)

"CPU ÷ raw" is the client's CPU per group against the raw client's in the same run: at
``--latency 0`` it is what unigroups costs per operation.

    python bench/batch.py [--count 10000] [--rounds 5] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import TOKEN, RawZoho, machine, median, table, zoho_emulator

from unigroups import Group, open_backend
from unigroups.batch import Create, run_batch

CAP = 10
BATCH = 10

Phase = Callable[[str, int], Awaitable[dict[str, Any]]]


async def ceiling(url: str, count: int, per_call: int = 1) -> dict[str, Any]:
    """Hand-written aiohttp: CAP workers, each one call after another (of ``per_call``
    groups); a 429 is sent again."""
    raw = RawZoho(url, limit=CAP)
    calls = iter(range(0, count, per_call))
    refused = 0

    async def worker() -> None:
        nonlocal refused
        for first in calls:
            items = [
                {"name": f"raw {n}", "sources": []}
                for n in range(first, min(first + per_call, count))
            ]
            while (status := await raw.create_status(*items)) == 429:
                refused += 1
            assert status == 201, status

    try:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(CAP)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await raw.close()
    requests = -(-count // per_call) + refused
    return {"elapsed": elapsed, "cpu": cpu, "requests": requests, "rate_limited": refused}


def unigroups_phase(
    *, concurrency: int, max_concurrency: int, adaptive: bool, max_batch: int = 1
) -> Phase:
    async def run(url: str, count: int) -> dict[str, Any]:
        backend: Any = open_backend(
            "zoho",
            api_domain=url,
            access_token=TOKEN,
            max_concurrency=max_concurrency,
            max_batch=max_batch,
            throttle="adaptive" if adaptive else "fixed",
        )
        async with backend:
            started, cpu = time.perf_counter(), time.process_time()
            # The operations are built on the clock: the raw client builds its JSON there too.
            ops = [Create(Group(f"group {n}")) for n in range(count)]
            report = await run_batch(backend, ops, concurrency=concurrency)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if not report.ok:
            raise SystemExit(f"{report}; first failure: {report.failures[0].error!r}")
        stats = backend.transport.stats
        return {
            "elapsed": elapsed,
            "cpu": cpu,
            "requests": stats.requests,
            "rate_limited": stats.rate_limited,
            "limit": report.concurrency,
        }

    return run


async def main_async(args: argparse.Namespace) -> int:
    latency = args.latency
    emulator = ["--latency", str(latency), "--max-in-flight", str(CAP)]
    # (short name, description, phase); every round runs each once.
    phases: list[tuple[str, str, Phase]] = [
        ("ceiling", "ceiling: raw aiohttp, exactly 10 in flight", ceiling),
        (
            "configured",
            "unigroups configured (10, adaptive off)",
            unigroups_phase(concurrency=CAP, max_concurrency=CAP, adaptive=False),
        ),
        (
            "adaptive",
            "unigroups adaptive (32/64, cap not told)",
            unigroups_phase(concurrency=32, max_concurrency=64, adaptive=True),
        ),
    ]
    size = args.count // args.rounds
    total = size * args.rounds
    runs: dict[str, list[dict[str, Any]]] = {short: [] for short, _, _ in phases}
    for r in range(args.rounds):
        # Every phase once per round, in a rotated order, each ratio against the ceiling of
        # its own round: the machine's speed drifts (other processes, CPU frequency), and
        # ratios taken a few seconds apart are fair to both sides.
        shift = r % len(phases)
        for short, _, phase in phases[shift:] + phases[:shift]:
            with zoho_emulator(*emulator) as url:
                runs[short].append(await phase(url, size))
        line = ", ".join(
            f"{short} {size / done[-1]['elapsed']:.0f}/s" for short, done in runs.items()
        )
        print(f"  round {r + 1}/{args.rounds} ({size} creates each): {line}", flush=True)

    names = {short: name for short, name, _ in phases}
    if args.max_batch:
        # One run: a tenth of the calls, too quick to split into rounds.
        batched = unigroups_phase(
            concurrency=CAP, max_concurrency=CAP, adaptive=False, max_batch=BATCH
        )
        with zoho_emulator(*emulator, "--max-groups-per-request", str(BATCH)) as url:
            runs["raw_batched"] = [await ceiling(url, total, per_call=BATCH)]
        with zoho_emulator(*emulator, "--max-groups-per-request", str(BATCH)) as url:
            runs["max_batch"] = [await batched(url, total)]
        names["raw_batched"] = f"raw aiohttp, {BATCH} groups a call"
        names["max_batch"] = f"unigroups configured, max_batch={BATCH}"

    ceilings = runs["ceiling"]
    ceiling_rate = total / sum(c["elapsed"] for c in ceilings)
    theory = CAP / latency if latency else float("inf")
    raw_cpu = {
        "ceiling": sum(c["cpu"] for c in ceilings) / total,
        "batched": sum(d["cpu"] for d in runs.get("raw_batched", ceilings)) / total,
    }
    rows: list[list[object]] = []
    ratios: dict[str, float] = {}
    shares: dict[str, float] = {}
    for short, done in runs.items():
        seconds = sum(d["elapsed"] for d in done)
        rate = total / seconds
        requests = sum(d["requests"] for d in done)
        shares[short] = sum(d["rate_limited"] for d in done) / max(1, requests)
        baseline = "batched" if short in ("raw_batched", "max_batch") else "ceiling"
        cpu_ratio = sum(d["cpu"] for d in done) / total / raw_cpu[baseline]
        if short == "max_batch":  # against the raw client that batches too
            ratios[short] = runs["raw_batched"][0]["elapsed"] / done[0]["elapsed"]
        elif len(done) == len(ceilings):  # the median of the rounds' own ratios
            ratios[short] = median(
                [c["elapsed"] / d["elapsed"] for c, d in zip(ceilings, done, strict=True)]
            )
        else:
            ratios[short] = rate / ceiling_rate
        rows.append(
            [
                names[short],
                f"{seconds:.1f}",
                f"{rate:.0f}",
                f"{ratios[short]:.3f}",
                f"{rate / theory:.3f}" if latency else "-",
                requests,
                f"{100 * shares[short]:.2f}%",
                f"{1e6 * sum(d['cpu'] for d in done) / total:.0f}",
                f"{cpu_ratio:.2f}",
            ]
        )
    print()
    print(
        table(
            [
                "phase",
                "seconds",
                "groups/s",
                "÷ ceiling",
                f"÷ cap/latency ({theory:.0f}/s)" if latency else "÷ cap/latency",
                "requests",
                "429s",
                "client CPU µs/group",
                "CPU ÷ raw",
            ],
            rows,
        )
    )
    print(
        f"\ngoals: configured >= 0.95 of the ceiling ({ratios['configured']:.3f}); adaptive "
        f">= 0.85 ({ratios['adaptive']:.3f}) with 429s < 2% of requests "
        f"({100 * shares['adaptive']:.2f}%)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=10_000, help="creates per phase (default %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds the count is split into (%(default)s)"
    )
    parser.add_argument(
        "--no-max-batch", dest="max_batch", action="store_false", help="skip the max_batch phase"
    )
    parser.add_argument(
        "--latency", type=float, default=0.02, help="emulator latency, s (%(default)s)"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"emulator: own process per phase, latency {args.latency * 1000:.0f} ms, "
        f"429 past {CAP} calls in flight; {args.count} creates per phase, in {args.rounds} "
        "rounds\n"
    )
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
