"""``BackendBase``: what backends share: the pipeline, ``async with``, checks before I/O."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any, ClassVar, Self

from ..errors import ValidationError
from ..http import RetryPolicy, Throttle, Transport
from ..models import Capabilities, Group, GroupChanges

__all__ = ["BackendBase"]


class BackendBase:
    """A base for backends: ``async with``, the request pipeline, and checks before any request.

    An HTTP backend sets ``transport`` (``TransportOptions.make_transport`` builds it from
    its options); ``aclose`` closes it and ``throttle`` is its throttle, which jobs read for
    progress. A backend without one (in memory) leaves it None.
    """

    name: str
    capabilities: Capabilities
    transport: Transport | None = None
    _token: str
    # What the vendor's ids look like; anything else is refused before it reaches a URL path.
    id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[0-9]{1,19}")
    id_description: ClassVar[str] = "a string of at most 19 digits"

    @property
    def throttle(self) -> Throttle | None:
        """The throttle every request of this backend goes through (None: no transport)."""
        return None if self.transport is None else self.transport.throttle

    def fingerprint(self) -> str:
        """Where this backend points, as a short digest of its base URL and ``identity()``:
        a batch journal written for one target is refused by another. Holds no secret."""
        where = self.transport.base_url if self.transport is not None else self._object_token()
        text = f"{self.name}\n{where}\n{self.identity()}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _object_token(self) -> str:
        """This object, for a backend that is its own store (in memory): unique for good,
        where ``id()`` is handed to a new object once the old one is gone."""
        try:
            return self._token
        except AttributeError:
            self._token = f"object {uuid.uuid4().hex}"
            return self._token

    def identity(self) -> str:
        """What tells two accounts behind one base URL apart, never a secret ("": nothing)."""
        return ""

    @property
    def retry_policy(self) -> RetryPolicy | None:
        """How often each request may be sent (None: no transport); jobs respect its budget."""
        return None if self.transport is None else self.transport.policy

    async def aclose(self) -> None:
        if self.transport is not None:
            await self.transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def check_id(self, group_id: object, field: str = "group_id") -> str:
        """Return ``group_id`` if the vendor could have issued it, else raise ValidationError."""
        if not isinstance(group_id, str):
            raise ValidationError(f"must be a string, not {type(group_id).__name__}", field=field)
        if not self.id_pattern.fullmatch(group_id):
            what = (
                field.removesuffix("_id").replace("_", " ") if field.endswith("_id") else "member"
            )
            raise ValidationError(
                f"{group_id!r} is not a {self.name} {what} id ({self.id_description})",
                field=field,
            )
        return group_id

    def check_new_group(self, group: Group) -> None:
        if not isinstance(group, Group):
            raise ValidationError(f"must be a Group, not {type(group).__name__}", field="group")
        self.capabilities.check_group(group)

    def check_changes(self, group_id: object, changes: GroupChanges) -> str:
        if not isinstance(changes, GroupChanges):
            raise ValidationError(
                f"must be GroupChanges, not {type(changes).__name__}", field="changes"
            )
        self.capabilities.check_changes(changes)
        return self.check_id(group_id)
