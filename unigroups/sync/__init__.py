"""Blocking unigroups, for code that is not async: Django views, scripts, worker threads.

:func:`open_backend` takes the same names and options as :func:`unigroups.open_backend` and
returns a :class:`SyncBackend`: the same methods, models and errors, with methods that block
and listings that are plain iterators. Each backend runs on one event loop in one thread of
its own for its whole life (its connections and its throttle outlive every call), and any
number of threads may call it at once. :func:`run_batch` and :mod:`unigroups.sync.mirror`
are the job functions in blocking form.

```python
from unigroups import Group, GroupChanges, Member, MemberKind
from unigroups.sync import open_backend

with open_backend("memory") as backend:
    sales = backend.create(Group(name="Sales", members=[Member(MemberKind.USER, "42")]))
    assert sales.id is not None
    backend.update(sales.id, GroupChanges(description="EMEA"))
    print(backend.get(sales.id).description)  # EMEA
```
"""

from . import mirror
from .backend import SyncBackend, SyncDirectoryBackend, open_backend, wrap
from .batch import run_batch

__all__ = [
    "SyncBackend",
    "SyncDirectoryBackend",
    "mirror",
    "open_backend",
    "run_batch",
    "wrap",
]
