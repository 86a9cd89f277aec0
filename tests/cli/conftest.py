"""Fixtures of the command's tests: emulators served by ``unigroups emulate``."""

from collections.abc import Iterator

import pytest

from .command import emulator


@pytest.fixture
def zoho() -> Iterator[str]:
    """The URL of a fresh Zoho emulator (``unigroups emulate zoho``)."""
    with emulator("zoho") as (url, _proc):
        yield url
