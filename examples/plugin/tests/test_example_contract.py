"""The plugin runs unigroups' contract suite on itself, against its emulator on 127.0.0.1,
as every third-party backend should; and a check that the pipeline it reuses retries."""

from collections.abc import AsyncIterator

import pytest
from acme_emulator import API_KEY, make_app

from unigroups import Group, GroupBackend, ServerError, open_backend
from unigroups.testing.contract import GroupBackendContract
from unigroups.testing.server import serve


class TestExampleBackend(GroupBackendContract):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[GroupBackend]:
        async with (
            serve(make_app()) as url,
            open_backend("example", base_url=url, api_key=API_KEY) as backend,
        ):
            yield backend


async def test_the_pipeline_retries_within_max_attempts() -> None:
    faults: list[int] = []
    async with (
        serve(make_app(faults)) as url,
        open_backend("example", base_url=url, api_key=API_KEY, max_attempts=3) as backend,
    ):
        faults.extend([429, 429])  # a 429 says Acme did not act: a POST is sent again
        created = await backend.create(Group(name="Sales"))
        assert created.id is not None
        faults.extend([503, 503, 503])  # a GET is safe to replay
        with pytest.raises(ServerError) as info:
            await backend.get(created.id)
        assert info.value.attempts == 3  # one budget: three sends in all
        assert API_KEY not in str(info.value) and API_KEY not in repr(backend)
