"""A live progress bar for batch jobs, fed by the batch engine's progress events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..batch import Progress as BatchProgress
from ..batch import ProgressCallback

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(total: int, label: str, *, quiet: bool = False) -> Iterator[ProgressCallback]:
    """A callback for ``run_batch(on_progress=...)`` that draws a bar (nothing when quiet)."""
    if quiet:
        yield lambda event: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total, status="")

        def update(event: BatchProgress) -> None:
            status = f"failed {event.failed}  limit {event.concurrency}  429s {event.rate_limited}"
            bar.update(task, completed=event.finished, status=status)

        yield update
