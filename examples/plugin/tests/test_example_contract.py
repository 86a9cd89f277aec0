"""The plugin runs unigroups' contract suite on itself, as every third-party backend should."""

from collections.abc import AsyncIterator

import pytest

from unigroups import GroupBackend, open_backend
from unigroups.testing.contract import GroupBackendContract


class TestExampleBackend(GroupBackendContract):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[GroupBackend]:
        async with open_backend("example") as backend:
            yield backend
