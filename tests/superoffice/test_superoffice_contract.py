from collections.abc import AsyncIterator

import pytest

from unigroups import GroupBackend, MemberKind, open_backend
from unigroups.testing.contract import GroupBackendContract
from unigroups.testing.superoffice_directory import generated_users
from unigroups.testing.superoffice_emulator import SuperOfficeEmulator


class TestSuperOfficeOnEmulator(GroupBackendContract):
    """The whole contract, directory checks included: the emulated tenant has users."""

    @pytest.fixture
    def superoffice_emulator(self) -> SuperOfficeEmulator:
        emulator = SuperOfficeEmulator()
        self.user_ids = emulator.seed_users(generated_users(12))
        return emulator

    def member_id(self, kind: MemberKind, n: int) -> str:
        # Users must be ones the tenant has: the emulator's seeded associates. Other kinds
        # only show up as members SuperOffice refuses before sending.
        return str(self.user_ids[n]) if kind is MemberKind.USER else str(n + 1)

    @pytest.fixture
    async def backend(self, superoffice_url: str) -> AsyncIterator[GroupBackend]:
        async with open_backend(
            "superoffice", base_url=superoffice_url, username="test-user", password="test-password"
        ) as backend:
            yield backend
