"""Planning a mirror of N groups into a Zoho org that already holds them, against the floor
that the target's cap and latency set.

The target is the Zoho emulator in its own process, seeded with N groups ("seeded group
0000001", ...), answering after 150 ms and with 429 past CAP calls in flight; the backend's
max_concurrency is CAP too. The source is a memory backend holding the same N names in another
case, each with one member: every group is matched under Zoho's case rule and becomes an
update (a rename and a member to add), so the plan reads every target group with its members.

Requests: the listing (pages of 200, one after another) and, per group, the group and its
first page of sources. The floor is requests ÷ cap * latency; the listing's pages cannot
overlap, so ``(pages + reads ÷ cap) * latency`` is the floor this plan can reach. Before
issue 13 the plan read the target's groups one at a time: reads * latency.

    python bench/mirror_plan.py [--counts 2000,10000] [--latency 0.15] [--cap 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from _common import TOKEN, machine, table, zoho_emulator

from unigroups import Group, Member, MemberKind, open_backend
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import Update
from unigroups.mirror import plan

USER = "5725767000000411001"


async def source_of(count: int) -> MemoryBackend:
    source = MemoryBackend()
    member = (Member(MemberKind.USER, USER),)
    for n in range(count):
        await source.create(Group(name=f"Seeded Group {n:07d}", members=member))
    return source


async def measure(count: int, latency: float, cap: int) -> dict[str, Any]:
    source = await source_of(count)
    options = ["--latency", str(latency), "--max-in-flight", str(cap), "--seed-groups", str(count)]
    with zoho_emulator(*options) as url:
        target: Any = open_backend(
            "zoho", api_domain=url, access_token=TOKEN, max_concurrency=cap, max_attempts=1
        )
        async with target:
            started, cpu = time.perf_counter(), time.process_time()
            result = await plan(source, target)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            stats = target.transport.stats
    updates = sum(
        isinstance(op, Update) and op.changes.name is not None for op in result.operations
    )
    if updates != count:
        raise SystemExit(f"expected {count} renaming updates, the plan holds {updates}")
    reads = 2 * count
    pages = stats.requests - reads
    return {
        "count": count,
        "elapsed": elapsed,
        "cpu": cpu,
        "requests": stats.requests,
        "rate_limited": stats.rate_limited,
        "floor": stats.requests / cap * latency,
        "reachable": (pages + reads / cap) * latency,
        "before": (pages + reads) * latency,
    }


async def main_async(args: argparse.Namespace) -> int:
    rows: list[list[object]] = []
    for count in args.counts:
        done = await measure(count, args.latency, args.cap)
        print(f"  {count} groups: {done['elapsed']:.1f} s", flush=True)
        rows.append(
            [
                count,
                done["requests"],
                done["rate_limited"],
                f"{done['elapsed']:.1f}",
                f"{done['floor']:.1f}",
                f"{done['elapsed'] / done['floor']:.3f}",
                f"{done['reachable']:.1f}",
                f"{done['elapsed'] / done['reachable']:.3f}",
                f"{done['before'] / 60:.1f}",
                f"{1e6 * done['cpu'] / done['requests']:.0f}",
            ]
        )
    print()
    print(
        table(
            [
                "groups",
                "requests",
                "429s",
                "seconds",
                "requests/cap*latency",
                "÷ that",
                "(pages+reads/cap)*latency",
                "÷ that",
                "one at a time (min)",
                "client CPU µs/request",
            ],
            rows,
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--counts",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[2000, 10_000],
        help="groups per run, comma-separated (default 2000,10000)",
    )
    parser.add_argument("--latency", type=float, default=0.15, help="seconds (%(default)s)")
    parser.add_argument("--cap", type=int, default=10, help="calls in flight (%(default)s)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"emulator: own process per run, latency {args.latency * 1000:.0f} ms, 429 past "
        f"{args.cap} calls in flight; backend max_concurrency {args.cap}; source: memory\n"
    )
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
