from collections.abc import AsyncIterator

import pytest

from unigroups import GroupBackend, open_backend
from unigroups.testing.contract import GroupBackendContract


class TestSuperOfficeOnEmulator(GroupBackendContract):
    @pytest.fixture
    async def backend(self, superoffice_url: str) -> AsyncIterator[GroupBackend]:
        async with open_backend(
            "superoffice", base_url=superoffice_url, username="test-user", password="test-password"
        ) as backend:
            yield backend
