"""Resuming a job: the time and memory ``Journal.open`` takes over a 100,000-line journal.

A re-run opens its journal before it sends anything, so this is what every resumed job pays
up front. Two journals are written in a temporary folder: 100,000 keys with one ``done`` line
(and group id) each, the 100,000-line case of the goal; and the same keys as a finished job
really leaves them, a ``started`` line before each ``done`` (200,000 lines). ``Journal.open``
is timed five times on each (median; each open closed before the next), then run once more
under tracemalloc for its peak of Python allocations and what the open journal holds.
Goal: at most 0.5 s over 100,000 lines.

    python bench/journal_resume.py [--keys 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from _common import machine, median, table

from unigroups.journal import Journal, JournalTarget

TARGET = JournalTarget("zoho", "0123456789abcdef")
RUNS = 5
GOAL_S = 0.5


def write_journal(path: Path, keys: int, *, started: bool) -> int:
    """A header and a ``done`` record per key (after a ``started`` one); the lines written."""
    header = {"journal": 1, "backend": TARGET.backend, "target": TARGET.fingerprint, "at": 0}
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        for n in range(keys):
            key = f"create:job group {n:06d}"
            if started:
                out.write(json.dumps({"key": key, "state": "started", "at": 1767225600.1}) + "\n")
            done = {"key": key, "state": "done", "at": 1767225600.2, "group_id": str(10**18 + n)}
            out.write(json.dumps(done, ensure_ascii=False) + "\n")
    return keys * (2 if started else 1)


def measure(path: Path, keys: int) -> tuple[list[float], int, int]:
    """The open times, then the tracemalloc peak and what the open journal holds (bytes)."""
    times = []
    for _ in range(RUNS):
        gc.collect()
        started = time.perf_counter()
        journal = Journal.open(path, target=TARGET)
        times.append(time.perf_counter() - started)
        if len(journal) != keys:
            raise SystemExit(f"read {len(journal)} keys, expected {keys}")
        asyncio.run(journal.aclose())
    gc.collect()
    tracemalloc.start()
    journal = Journal.open(path, target=TARGET)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    asyncio.run(journal.aclose())
    return times, peak, held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000, help="keys (%(default)s)")
    args = parser.parse_args()
    print(f"machine: {machine()}\n")
    rows = []
    goal_met = True
    with tempfile.TemporaryDirectory() as folder:
        for started in (False, True):
            path = Path(folder) / f"job-{started}.jsonl"
            lines = write_journal(path, args.keys, started=started)
            times, peak, held = measure(path, args.keys)
            goal_met &= started or median(times) <= GOAL_S
            rows.append(
                [
                    "started + done" if started else "done",
                    f"{lines:,}",
                    f"{args.keys:,}",
                    path.stat().st_size / 2**20,
                    median(times),
                    min(times),
                    max(times),
                    peak / 2**20,
                    held / 2**20,
                ]
            )
    headers = ["lines per key", "lines", "keys", "file MiB", "open s (median of 5)", "fastest s"]
    headers += ["slowest s", "peak MiB", "held open MiB"]
    print(table(headers, rows))
    verdict = "met" if goal_met else "NOT met"
    print(f"\ngoal: open a {args.keys:,}-line journal in at most {GOAL_S} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
