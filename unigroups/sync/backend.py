"""``SyncBackend``: a backend for blocking callers, driving the async one on its own loop."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import Any, Self, TypeVar

from .. import registry
from ..http import ThrottleStats
from ..models import Capabilities, Group, GroupChanges, Member, User
from ..protocol import GroupBackend, UserDirectory
from ._portal import END, CallerThread, Portal
from ._remote import remote_view

__all__ = ["SyncBackend", "SyncDirectoryBackend", "open_backend", "wrap"]

T = TypeVar("T")


def open_backend(
    name: str, options: Mapping[str, Any] | None = None, /, **kwoptions: Any
) -> SyncBackend:
    """Open the backend registered as ``name``, for blocking callers.

    The same names and options as :func:`unigroups.open_backend` (and the same
    ``ConfigurationError`` for a bad one); the backend is built on its own event loop, in a
    thread of its own, which serves every call until :meth:`SyncBackend.close`. The result is
    a :class:`SyncDirectoryBackend` when the backend is a :class:`~unigroups.UserDirectory`.

    ```python
    from unigroups import Group
    from unigroups.sync import open_backend

    with open_backend("memory") as backend:
        sales = backend.create(Group(name="Sales"))
        print([g.name for g in backend.groups()])  # ['Sales']
    ```
    """
    portal = Portal(name)
    try:
        backend = portal.call(_opened, name, options, kwoptions)
    except BaseException:
        portal.close()
        raise
    return _facade(backend, portal)


def wrap(backend: GroupBackend) -> SyncBackend:
    """A blocking facade over a backend you built yourself (a plugin's class, a
    ``MemoryBackend`` given users with ``add_user``).

    The backend must not have been used on any event loop yet: from now on it belongs to the
    facade's loop, and closing the facade closes it.
    """
    if not isinstance(backend, GroupBackend):
        raise TypeError(f"wrap() takes a GroupBackend, not {type(backend).__name__}")
    return _facade(backend, Portal(backend.name))


async def _opened(
    name: str, options: Mapping[str, Any] | None, kwoptions: dict[str, Any]
) -> GroupBackend:
    return registry.open_backend(name, options, **kwoptions)


def _facade(backend: GroupBackend, portal: Portal) -> SyncBackend:
    if isinstance(backend, UserDirectory):
        return SyncDirectoryBackend(backend, portal)
    return SyncBackend(backend, portal)


class SyncBackend:
    """A :class:`~unigroups.GroupBackend` whose methods block: the same methods, models and
    errors, for code that is not async (a Django view, a script, a worker thread).

    It runs the async backend on one event loop in one daemon thread for its whole life, so
    the connection pool, the throttle and any token are shared by every call, from any
    number of threads at once. Listings are plain iterators that fetch page by page as they
    are read. Close it with ``with`` or :meth:`close`; a call made after that raises
    ``RuntimeError`` at once, and so does a call from code running on its own event loop
    (which would wait for itself).

    Made by :func:`open_backend` or :func:`wrap`, which start the thread it runs on.
    """

    def __init__(self, backend: GroupBackend, portal: Portal) -> None:
        # Built by open_backend() or wrap(), which start the portal the backend runs on.
        self._backend = backend
        self._portal = portal
        self.name: str = backend.name
        self.capabilities: Capabilities = backend.capabilities
        # Closes the backend and stops its thread if the facade is dropped unclosed (or at
        # interpreter exit); holds no reference to the facade itself.
        self._finalizer = weakref.finalize(self, portal.close, backend.aclose)

    def __repr__(self) -> str:
        state = "closed" if self._portal.closed else "open"
        return f"{type(self).__name__}({self._backend!r}, {state})"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (or began)."""
        return self._portal.closed

    @property
    def throttle_stats(self) -> ThrottleStats | None:
        """What the backend's throttle did so far (None for a backend without one)."""
        throttle = getattr(self._backend, "throttle", None)
        return None if throttle is None else throttle.stats

    def create(self, group: Group) -> Group:
        """Create ``group`` and return it as the vendor stored it (with its id)."""
        return self._portal.call(self._backend.create, group)

    def get(self, group_id: str) -> Group:
        """The group with its members loaded; :class:`~unigroups.NotFoundError` if there is
        none."""
        return self._portal.call(self._backend.get, group_id)

    def groups(self, *, include_inactive: bool = False) -> Generator[Group, None, None]:
        """Every group, fetched page by page as the iterator is read (members not loaded).

        Leaving the loop early is fine: the iterator is closed when it is dropped (call its
        ``close()`` to close it at once). Like any generator, one iterator is read by one
        thread at a time; each thread may run listings of its own.
        """
        return self._listing(lambda: self._backend.groups(include_inactive=include_inactive))

    def members(self, group_id: str) -> Generator[Member, None, None]:
        """The members of one group, fetched as the iterator is read."""
        return self._listing(lambda: self._backend.members(group_id))

    def find(self, name: str) -> Group | None:
        """The group with exactly this name, or None (names are unique per vendor)."""
        return self._portal.call(self._backend.find, name)

    def update(self, group_id: str, changes: GroupChanges) -> Group:
        """Apply ``changes`` and return the group as it now reads."""
        return self._portal.call(self._backend.update, group_id, changes)

    def delete(self, group_id: str) -> None:
        """Delete the group (deactivate it where ``capabilities.hard_delete`` is False)."""
        self._portal.call(self._backend.delete, group_id)

    def close(self) -> None:
        """Close the backend and stop its thread (bounded; idempotent).

        Calls still in flight in other threads are cancelled and raise ``RuntimeError``.
        """
        self._portal.check_thread()
        self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _listing(self, make: Callable[[], AsyncIterator[T]]) -> Generator[T, None, None]:
        items = self._portal.call(self._portal.start_listing, make)
        try:
            while (item := self._portal.call(self._portal.next_item, items)) is not END:
                yield item
        finally:
            self._portal.close_listing(items)

    def _job(self, job: Callable[[GroupBackend, CallerThread], Awaitable[T]]) -> T:
        """Run ``job(backend, caller)`` on the loop, lending it this thread (batch, mirror)."""
        return self._portal.lend(lambda caller: job(self._backend, caller))

    def _view_from(self, other: SyncBackend) -> GroupBackend:
        """This backend as an async one that code on ``other``'s loop can await."""
        if other._portal is self._portal:
            return self._backend
        return remote_view(self._backend, self._portal)


class SyncDirectoryBackend(SyncBackend):
    """A :class:`SyncBackend` whose backend is a :class:`~unigroups.UserDirectory` too: it
    lists the vendor's users and the groups that hold one."""

    _backend: Any  # a GroupBackend and a UserDirectory

    def users(self, *, include_inactive: bool = False) -> Generator[User, None, None]:
        """Every user (active ones only unless ``include_inactive``), fetched as read."""
        return self._listing(lambda: self._backend.users(include_inactive=include_inactive))

    def get_user(self, user_id: str) -> User:
        """The user with this id; :class:`~unigroups.NotFoundError` if there is none."""
        result: User = self._portal.call(self._backend.get_user, user_id)
        return result

    def user_groups(self, user_id: str) -> Generator[Group, None, None]:
        """The groups that hold this user as a member (members not loaded)."""
        return self._listing(lambda: self._backend.user_groups(user_id))
