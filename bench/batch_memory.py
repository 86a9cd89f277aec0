"""Peak memory of a batch job against its size: bounded by the concurrency, not the job.

A backend that answers at once and keeps nothing (so that only the batch's own memory is
measured) runs creates read lazily from a generator, with ``keep="failures"`` (what a job
of 100k operations should use) and with ``keep="all"`` (every outcome kept for the report),
each with and without a journal. The peak is that of Python allocations (tracemalloc)
during ``run_batch``; every tenth create fails, so failures are kept too.

    python bench/batch_memory.py [--counts 10000,100000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import machine, table

from unigroups import Group, InvalidDataError
from unigroups.backends.memory import MemoryBackend
from unigroups.batch import Create, Keep, run_batch

GOAL_MIB = 20.0  # at 100k operations, failures kept only


class Forgetful(MemoryBackend):
    """Creates answer at once and are not stored: the bench measures the batch alone."""

    async def create(self, group: Group) -> Group:
        if group.name.endswith("0"):
            raise InvalidDataError("refused", backend=self.name, status=400)
        return Group(name=group.name, id="1", members=())


def operations(count: int) -> Iterator[Create]:
    for n in range(count):
        yield Create(Group(name=f"group {n}"))


async def peak(count: int, concurrency: int, keep: Keep, journal: Path | None) -> dict[str, Any]:
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    report = await run_batch(
        Forgetful(), operations(count), concurrency=concurrency, keep=keep, journal=journal
    )
    elapsed = time.perf_counter() - started
    _now, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.done + report.failed == count, report
    return {"peak": top / 2**20, "elapsed": elapsed, "kept": len(report.outcomes)}


async def main_async(args: argparse.Namespace) -> int:
    rows: list[list[object]] = []
    goal: float | None = None
    for count in args.counts:
        for keep in ("failures", "all"):
            for with_journal in (False, True):
                with tempfile.TemporaryDirectory() as tmp:
                    journal = Path(tmp) / "job.jsonl" if with_journal else None
                    result = await peak(count, args.concurrency, keep, journal)  # type: ignore[arg-type]
                if count == 100_000 and keep == "failures" and not with_journal:
                    goal = result["peak"]
                rows.append(
                    [
                        f"{count:,}",
                        keep,
                        "yes" if with_journal else "no",
                        f"{result['kept']:,}",
                        f"{result['peak']:.1f}",
                        f"{count / result['elapsed']:,.0f}",
                    ]
                )
                print(f"  {rows[-1]}", flush=True)
    print()
    print(table(["operations", "keep", "journal", "outcomes kept", "peak MiB", "ops/s"], rows))
    if goal is not None:
        verdict = "met" if goal <= GOAL_MIB else "missed"
        print(f"\ngoal: <= {GOAL_MIB:.0f} MiB at 100k operations, failures kept only")
        print(f"peak {goal:.1f} MiB: {verdict}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--counts",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[10_000, 100_000],
        help="job sizes (default 10000,100000)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"machine: {machine()}\n")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
