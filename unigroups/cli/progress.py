"""Progress of a batch job on standard error: a live bar on a terminal, else a line every
few seconds (a log file, CI), both with the rate and the time left."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..batch import Progress as BatchProgress
from ..batch import ProgressCallback

__all__ = ["DEFAULT_INTERVAL", "progress_bar", "progress_line"]

DEFAULT_INTERVAL = 5.0  # seconds between two progress lines when not on a terminal


def _rate(event: BatchProgress) -> float:
    return event.finished / event.elapsed if event.elapsed > 0 else 0.0


def progress_line(label: str, total: int | None, event: BatchProgress | None, now: float) -> str:
    """``label: 120/300 done, 2 failed, 14.2/s, 12s left`` (``now``: seconds since start)."""
    finished = event.finished if event else 0
    failed = event.failed if event else 0
    rate = finished / now if now > 0 else 0.0
    left = ""
    if total is not None and rate > 0:
        left = f", {max(0.0, (total - finished) / rate):.0f}s left"
    elif total is not None and finished < total:
        left = ", time left unknown"
    of = f"/{total}" if total is not None else ""
    return f"{label}: {finished}{of} finished, {failed} failed, {rate:.1f}/s{left}"


@contextlib.contextmanager
def _lines(total: int, label: str, interval: float) -> Iterator[ProgressCallback]:
    """A line every ``interval`` seconds, and one at the end: a job that stalls still says
    so, since the lines come from a timer, not from outcomes."""
    started = time.monotonic()
    latest: list[BatchProgress] = []

    def write() -> None:
        event = latest[-1] if latest else None
        sys.stderr.write(progress_line(label, total, event, time.monotonic() - started) + "\n")
        sys.stderr.flush()

    async def tick() -> None:
        while True:
            await asyncio.sleep(interval)
            write()

    ticker = asyncio.get_running_loop().create_task(tick())
    try:
        yield latest.append
    finally:
        ticker.cancel()
        write()


@contextlib.contextmanager
def progress_bar(
    total: int, label: str, *, quiet: bool = False, interval: float = DEFAULT_INTERVAL
) -> Iterator[ProgressCallback]:
    """A callback for ``run_batch(on_progress=...)`` that shows progress on standard error:
    a bar on a terminal, lines every ``interval`` seconds otherwise; nothing when quiet.
    Must be entered inside the event loop that runs the job."""
    if quiet:
        yield lambda event: None
        return
    if not sys.stderr.isatty():
        with _lines(total, label, interval) as callback:
            yield callback
        return
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}", markup=False),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total, status="", rate="")

        def update(event: BatchProgress) -> None:
            status = f"failed {event.failed}  limit {event.concurrency}  429s {event.rate_limited}"
            rate = f"{_rate(event):.1f}/s"
            bar.update(task, completed=event.finished, status=status, rate=rate)

        yield update
