"""Mirroring for blocking callers: :func:`unigroups.mirror.plan` and
:func:`unigroups.mirror.apply` on ``SyncBackend`` objects.

The plan is made on the target's event loop; the source's calls are sent to the source's
own loop and awaited from there, so each backend keeps its one session and throttle.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .. import mirror
from ..batch import BatchReport, Progress
from ..mirror import Plan
from .backend import SyncBackend
from .batch import progress_in

__all__ = ["apply", "plan"]


def plan(source: SyncBackend, target: SyncBackend, **options: Any) -> Plan:
    """The changes that make ``target`` hold ``source``'s groups; blocks until it is made.

    ``options`` are those of :func:`unigroups.mirror.plan` (``member_map``,
    ``delete_missing``, ...), with the same meaning. A ``member_map`` callable runs on the
    target's event loop: keep it quick and non-blocking (a mapping built beforehand is
    simplest).

    ```python
    from unigroups import Group
    from unigroups.sync import mirror, open_backend

    with open_backend("memory") as source, open_backend("memory") as target:
        source.create(Group(name="Sales"))
        changes = mirror.plan(source, target)
        print(len(changes.operations))  # 1
        print(mirror.apply(changes, target))  # 1 operations: 1 done, 0 failed, ...
    ```
    """
    return target._job(
        lambda backend, _caller: mirror.plan(source._view_from(target), backend, **options)
    )


def apply(
    plan: Plan,
    target: SyncBackend,
    *,
    concurrency: int | None = None,
    journal: str | os.PathLike[str] | None = None,
    on_progress: Callable[[Progress], object] | None = None,
) -> BatchReport:
    """Run the plan's operations on ``target`` (:func:`unigroups.mirror.apply`); blocks until
    the report is ready. ``on_progress`` is called in the calling thread."""
    return target._job(
        lambda backend, caller: mirror.apply(
            plan,
            backend,
            concurrency=concurrency,
            journal=journal,
            on_progress=progress_in(caller, on_progress),
        )
    )
