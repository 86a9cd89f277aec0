"""Fixtures shared by the backend tests: emulators served on 127.0.0.1."""

from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest import mock

import aiohttp
import aioresponses
import aioresponses.core
import pytest

from unigroups.testing.server import serve
from unigroups.testing.superoffice_emulator import SuperOfficeEmulator
from unigroups.testing.zoho_emulator import ZohoEmulator


@pytest.fixture
def zoho_emulator() -> ZohoEmulator:
    return ZohoEmulator()


@pytest.fixture
async def zoho_url(zoho_emulator: ZohoEmulator) -> AsyncIterator[str]:
    async with serve(zoho_emulator.make_app()) as base_url:
        yield base_url


class _MockedResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` that aiohttp 3.14
    requires (pnuckowski/aioresponses#289); give it one until a release fixes that."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", mock.Mock(output_size=0))
        super().__init__(method, url, **kwargs)


if "stream_writer" in aiohttp.ClientResponse.__init__.__code__.co_varnames:
    aioresponses.core.ClientResponse = _MockedResponse  # type: ignore[misc]


@pytest.fixture
def mocked() -> Iterator[aioresponses.aioresponses]:
    """Every aiohttp request of the test answered by aioresponses, never the network."""
    with aioresponses.aioresponses() as m:
        yield m


@pytest.fixture
def superoffice_emulator() -> SuperOfficeEmulator:
    return SuperOfficeEmulator()


@pytest.fixture
async def superoffice_url(superoffice_emulator: SuperOfficeEmulator) -> AsyncIterator[str]:
    """The emulated tenant's web API base URL (``.../api/v1``)."""
    async with serve(superoffice_emulator.make_app()) as server_url:
        yield superoffice_emulator.api_url(server_url)
