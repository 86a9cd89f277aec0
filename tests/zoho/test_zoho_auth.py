"""Zoho OAuth: single-flight refresh, data centres, token providers, and no secret leaks."""

import asyncio
import logging
from typing import Any

import pytest

from unigroups import (
    AuthenticationError,
    ConfigurationError,
    Group,
    UnigroupsError,
    open_backend,
)
from unigroups.backends.zoho import ZohoBackend
from unigroups.backends.zoho.auth import read_grant
from unigroups.testing.zoho_emulator import ZohoEmulator

CLIENT = {
    "client_id": "test-client-id",
    "client_secret": "test-client-secret",
    "refresh_token": "test-refresh-token",
}


def refreshing(zoho_url: str, **extra: Any) -> ZohoBackend:
    backend = open_backend("zoho", api_domain=zoho_url, accounts_url=zoho_url, **CLIENT, **extra)
    assert isinstance(backend, ZohoBackend)
    return backend


async def test_twenty_concurrent_calls_cause_exactly_one_refresh(
    zoho_emulator: ZohoEmulator, zoho_url: str
) -> None:
    async with refreshing(zoho_url) as backend:
        await asyncio.gather(*(backend.create(Group(name=f"g{i}")) for i in range(20)))
        assert zoho_emulator.token_refreshes == 1
        zoho_emulator.tokens.expire_all()  # the token dies while the backend still holds it
        found = await asyncio.gather(*(backend.find(f"g{i}") for i in range(20)))
        assert all(g is not None for g in found)
        assert zoho_emulator.token_refreshes == 2


@pytest.mark.slow  # waits for the token's renewal point on the real clock
async def test_an_expiring_token_is_renewed_before_use(
    zoho_emulator: ZohoEmulator, zoho_url: str
) -> None:
    zoho_emulator.token_lifetime = zoho_emulator.tokens.default_lifetime = 1
    async with refreshing(zoho_url) as backend:
        await backend.create(Group(name="a"))
        await asyncio.sleep(0.95)  # past the renewal point, still within the lifetime
        await backend.create(Group(name="b"))
    assert zoho_emulator.token_refreshes == 2
    posts = [r for r in zoho_emulator.requests if r.path.endswith("/user_groups")]
    assert len(posts) == 2  # renewed before use: no call was refused with 401 first


async def test_the_api_domain_named_by_the_token_answer_is_used(
    zoho_emulator: ZohoEmulator, zoho_url: str
) -> None:
    backend = open_backend("zoho", api_domain="http://127.0.0.1:9", accounts_url=zoho_url, **CLIENT)
    assert isinstance(backend, ZohoBackend)
    async with backend:
        created = await backend.create(Group(name="moved"))
        assert backend.transport.auth is not None
        credentials = await backend.transport.auth.credentials()
        assert credentials.base_url == f"{zoho_url}/crm/v8"
    assert zoho_emulator.groups[created.id or ""].name == "moved"


async def test_refused_refresh_is_an_authentication_error_without_secrets(
    zoho_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="unigroups")
    secret = "wrong-but-secret-value"
    backend = open_backend(
        "zoho",
        api_domain=zoho_url,
        accounts_url=zoho_url,
        client_id="test-client-id",
        client_secret=secret,
        refresh_token="test-refresh-token",
    )
    async with backend:
        with pytest.raises(AuthenticationError) as info:
            await backend.create(Group(name="a"))
    assert info.value.code == "invalid_client"
    texts = [str(info.value), repr(info.value), repr(backend), repr(backend.config)]  # type: ignore[attr-defined]
    texts += [r.getMessage() for r in caplog.records]
    for value in (secret, "test-refresh-token", "test-client-id"):
        assert not [t for t in texts if value in t]


async def test_a_token_provider_is_asked_again_after_a_401(
    zoho_emulator: ZohoEmulator, zoho_url: str
) -> None:
    handed: list[str] = []

    async def provider() -> str:
        token = "test-token" if not handed else zoho_emulator.tokens.issue()
        handed.append(token)
        return token

    async with open_backend("zoho", api_domain=zoho_url, token_provider=provider) as backend:
        await backend.create(Group(name="a"))
        zoho_emulator.tokens.expire("test-token")
        await backend.create(Group(name="b"))
    assert len(handed) == 2


async def test_a_refused_fixed_token_is_not_retried(zoho_url: str) -> None:
    async with open_backend("zoho", api_domain=zoho_url, access_token="revoked") as backend:
        with pytest.raises(AuthenticationError) as info:
            await backend.create(Group(name="a"))
    assert info.value.code == "INVALID_TOKEN"
    assert "revoked" not in str(info.value)


def test_read_grant_reads_seconds_and_the_millisecond_variant() -> None:
    grant = read_grant(
        {"access_token": "t", "expires_in": 3600, "api_domain": "https://www.zohoapis.eu"}
    )
    assert (grant.expires_in, grant.base_url) == (3600.0, "https://www.zohoapis.eu/crm/v8")
    grant = read_grant({"access_token": "t", "expires_in": 3600000, "expires_in_sec": 3600})
    assert (grant.expires_in, grant.base_url) == (3600.0, None)
    with pytest.raises(AuthenticationError, match="not https"):
        read_grant({"access_token": "t", "api_domain": "http://evil.example.com"})
    with pytest.raises(AuthenticationError):
        read_grant({"error": "Access Denied"})


SECRETS = {"access_token": "at-9f8e7d", "refresh_token": "rt-6c5b4a", "client_secret": "cs-3f2e1d"}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({}, "access_token"),
        ({**SECRETS, "client_id": "i"}, "access_token"),
        ({"refresh_token": SECRETS["refresh_token"]}, "client_id"),
        ({"access_token": SECRETS["access_token"], "dc": "mars"}, "dc"),
        ({"access_token": "a", "dc": "eu", "api_domain": "https://x.example"}, "api_domain"),
        ({"access_token": "a", "api_domain": "http://crm.example.com"}, "api_domain"),
        ({"access_token": "a", "version": "v2"}, "version"),
        ({"access_token": "a", "max_concurrency": 0}, "max_concurrency"),
        ({"access_token": "a", "max_batch": 101}, "max_batch"),
        ({"access_token": "a", "acess_token": SECRETS["access_token"]}, "acess_token"),
        (
            {
                "refresh_token": "r",
                "client_id": "i",
                "client_secret": "s",
                "api_domain": "https://x.example",
            },
            "accounts_url",
        ),
    ],
)
def test_bad_options_are_configuration_errors_naming_the_option(
    options: dict[str, Any], option: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_backend("zoho", options)
    assert info.value.option == option
    assert not [s for s in SECRETS.values() if s in str(info.value)]


@pytest.mark.parametrize(
    ("dc", "api"),
    [
        ("us", "https://www.zohoapis.com"),
        ("eu", "https://www.zohoapis.eu"),
        ("ca", "https://www.zohoapis.ca"),
        ("uk", "https://www.zohoapis.uk"),
    ],
)
def test_data_centres_choose_the_api_host(dc: str, api: str) -> None:
    backend = open_backend("zoho", dc=dc, access_token="a")
    assert isinstance(backend, ZohoBackend)
    assert backend.transport.base_url == f"{api}/crm/v8"


@pytest.mark.parametrize("bad", ["../1", "1/2", "12345678901234567890", "abc", "1 ", "%2F"])
async def test_ids_that_could_change_the_path_are_refused_before_sending(bad: str) -> None:
    async with open_backend("zoho", dc="eu", access_token="a") as backend:
        with pytest.raises(UnigroupsError) as info:
            await backend.get(bad)
    assert type(info.value).__name__ == "ValidationError"


@pytest.mark.parametrize("bad", ["abc", "1/2", "12345678901234567890"])
async def test_member_ids_are_checked_before_sending(bad: str) -> None:
    from unigroups import GroupChanges, Member, MemberKind, ValidationError

    async with open_backend("zoho", dc="eu", access_token="a") as backend:
        with pytest.raises(ValidationError) as info:
            await backend.create(Group(name="g", members=[Member(MemberKind.USER, bad)]))
        assert info.value.field == "members"
        with pytest.raises(ValidationError):
            await backend.update("1", GroupChanges(remove=[Member(MemberKind.ROLE, bad)]))
