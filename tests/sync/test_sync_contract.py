"""The contract suite, run through the blocking facade on every built-in backend.

Each call of the suite goes through a ``SyncBackend`` method in a worker thread of the test's
event loop (see ``async_over_sync``); the emulators serve on that loop meanwhile.
"""

from collections.abc import AsyncIterator

import pytest

from unigroups import GroupBackend, User, UserDirectory
from unigroups.backends.memory import MemoryBackend, MemoryConfig
from unigroups.sync import SyncDirectoryBackend, open_backend, wrap
from unigroups.testing.contract import GroupBackendContract

from ..superoffice import test_superoffice_contract as superoffice_contract
from .async_over_sync import as_async


class TestMemoryThroughSync(GroupBackendContract):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[GroupBackend]:
        memory = MemoryBackend(MemoryConfig(page_size=2))
        memory.add_user(User("101", "Ada Lovelace", "Ada@Example.com"))
        memory.add_user(User("102", "Retired", "old@example.com", active=False))
        async with as_async(wrap(memory)) as backend:
            assert isinstance(backend, UserDirectory)
            yield backend


class TestZohoThroughSync(GroupBackendContract):
    @pytest.fixture
    async def backend(self, zoho_url: str) -> AsyncIterator[GroupBackend]:
        facade = open_backend("zoho", api_domain=zoho_url, access_token="test-token")
        assert isinstance(facade, SyncDirectoryBackend)
        async with as_async(facade) as backend:
            yield backend


class TestSuperOfficeThroughSync(superoffice_contract.TestSuperOfficeOnEmulator):
    """The same seeded tenant (its users are the members) as the async run."""

    @pytest.fixture
    async def backend(self, superoffice_url: str) -> AsyncIterator[GroupBackend]:
        facade = open_backend(
            "superoffice", base_url=superoffice_url, username="test-user", password="test-password"
        )
        async with as_async(facade) as backend:
            yield backend
