"""Peak memory while iterating 100,000 groups: it must stay flat as the count grows.

The emulator process is seeded with the groups before it serves (``--seed-groups``); the
client pages through them 200 at a time with ``backend.groups()`` and keeps nothing. Two
passes over the same listing: the first reads the peak RSS (VmHWM) with nothing else
running, the second the peak of Python allocations with tracemalloc (which costs memory and
time of its own, so it runs second). Both are read at 10k, 50k and 100k groups.

    python bench/memory.py [--count 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from _common import TOKEN, machine, table, zoho_emulator

from unigroups import open_backend

CHECKPOINTS = (10_000, 50_000, 100_000)


def peak_rss_kib() -> int:
    """The process's peak resident set (VmHWM), in KiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def iterate(
    url: str, count: int, checkpoints: tuple[int, ...], read: Callable[[], int]
) -> tuple[dict[int, int], float]:
    """Iterate ``count`` groups; ``read()`` at each checkpoint. Nothing is kept."""
    seen: dict[int, int] = {}
    backend: Any = open_backend("zoho", api_domain=url, access_token=TOKEN)
    async with backend:
        n = 0
        started = time.perf_counter()
        async for _group in backend.groups():
            n += 1
            if n in checkpoints:
                seen[n] = read()
        elapsed = time.perf_counter() - started
    if n != count:
        raise SystemExit(f"listed {n} groups, expected {count}")
    return seen, elapsed


async def main_async(args: argparse.Namespace) -> int:
    checkpoints = tuple(c for c in CHECKPOINTS if c <= args.count) or (args.count,)
    if args.count not in checkpoints:
        checkpoints += (args.count,)
    with zoho_emulator("--seed-groups", str(args.count)) as url:
        gc.collect()
        base_rss = peak_rss_kib()
        rss, elapsed = await iterate(url, args.count, checkpoints, peak_rss_kib)

        tracemalloc.start()
        tracemalloc.reset_peak()
        traced, _ = await iterate(
            url, args.count, checkpoints, lambda: tracemalloc.get_traced_memory()[1]
        )
        tracemalloc.stop()

    rows = [
        [
            f"{c:,}",
            f"{traced[c] / 1024:.0f}",
            f"{traced[c] / traced[checkpoints[0]]:.2f}",
            f"{rss[c] / 1024:.1f}",
            f"{(rss[c] - base_rss) / 1024:.1f}",
        ]
        for c in checkpoints
    ]
    print(
        table(
            [
                "groups iterated",
                "tracemalloc peak KiB",
                f"÷ at {checkpoints[0]:,}",
                "peak RSS MiB",
                "RSS growth since start MiB",
            ],
            rows,
        )
    )
    growth = traced[checkpoints[-1]] / traced[checkpoints[0]]
    print(
        f"\nlisting speed (first pass): {args.count / elapsed:,.0f} groups/s; "
        f"RSS before iterating {base_rss / 1024:.1f} MiB"
    )
    print(
        f"goal: flat peaks; tracemalloc peak at {checkpoints[-1]:,} is {growth:.2f}x the one at "
        f"{checkpoints[0]:,}, RSS grew {(rss[checkpoints[-1]] - rss[checkpoints[0]]) / 1024:.1f} "
        "MiB between them"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=100_000, help="groups to seed and iterate (%(default)s)"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"emulator: own process, seeded with {args.count:,} groups, no latency\n")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
