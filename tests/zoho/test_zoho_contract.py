from collections.abc import AsyncIterator

import pytest

from unigroups import GroupBackend, open_backend
from unigroups.testing.contract import GroupBackendContract


class TestZohoOnEmulator(GroupBackendContract):
    @pytest.fixture
    async def backend(self, zoho_url: str) -> AsyncIterator[GroupBackend]:
        async with open_backend("zoho", api_domain=zoho_url, access_token="test-token") as backend:
            yield backend
