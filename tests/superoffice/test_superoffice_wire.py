"""What SuperOfficeBackend sends and reads: the seed's PUT verbatim, headers, errors, secrets."""

import base64
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from unigroups import (
    AuthenticationError,
    ConfigurationError,
    DuplicateGroupError,
    Group,
    GroupChanges,
    InvalidDataError,
    Member,
    MemberKind,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ValidationError,
    open_backend,
)
from unigroups.backends.superoffice import SuperOfficeBackend, rights_of
from unigroups.backends.superoffice.wire import carrier_for, group_from_carrier
from unigroups.testing.superoffice_emulator import SuperOfficeEmulator

SEEDS = Path(__file__).parents[1] / "seeds"
BASE = "https://crm.example.com/SuperOffice/api/v1"
ITEMS = f"{BASE}/List/UserGroup/Items"


def seed(name: str) -> Any:
    return json.loads((SEEDS / name).read_text())


def basic(**extra: Any) -> SuperOfficeBackend:
    backend = open_backend(
        "superoffice", base_url=BASE, username="tje0", password="Tje0", max_attempts=2, **extra
    )
    assert isinstance(backend, SuperOfficeBackend)
    backend.transport._sleep = _no_sleep
    return backend


async def _no_sleep(_seconds: float) -> None:
    return None


def calls(m: aioresponses, method: str, url: str) -> list[Any]:
    return m.requests.get((method, URL(url)), [])


# -- the seed ---------------------------------------------------------------------------


def test_the_seed_request_is_what_the_wire_layer_sends_for_its_group() -> None:
    group = Group(name="vel", description="aut", id="843", rank=604, active=False)
    assert carrier_for(group) == seed("superoffice-put-request.json")


def test_the_seed_response_reads_into_a_group_keeping_rights_in_raw() -> None:
    data = seed("superoffice-put-response.json")
    group = group_from_carrier(data)
    assert group == Group(
        name="velit",
        description="rem",
        id="147",
        rank=801,
        active=True,
        members=None,  # a carrier holds no members: they are read from users
        backend="superoffice",
    )
    assert group.raw == data
    rights = rights_of(group)
    assert rights.table_right is not None and rights.table_right.mask == "Delete"
    field = rights.field_properties["fieldName"]
    assert (field.field_type, field.field_length) == ("System.String", 708)
    assert field.field_right is not None and field.field_right.mask == "FULL"


async def test_update_sends_the_seed_put_with_the_seed_headers(mocked: aioresponses) -> None:
    url = f"{ITEMS}/843"
    mocked.get(url, payload={"Value": "old", "Tooltip": "", "Id": 843, "Rank": 1, "Deleted": False})
    mocked.put(url, payload=seed("superoffice-put-response.json"))
    mocked.get(re.compile(rf"{re.escape(BASE)}/User\?.*"), payload={"value": []})
    async with basic(language="fr,de,ru,zh") as backend:
        updated = await backend.update(
            "843", GroupChanges(name="vel", description="aut", rank=604, active=False)
        )
    (call,) = calls(mocked, "PUT", url)
    assert json.loads(call.kwargs["data"]) == seed("superoffice-put-request.json")
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == "Basic dGplMDpUamUw"  # the seed's own sample
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Accept-Language"] == "fr,de,ru,zh"
    assert headers["SO-Language"] == "fr"
    assert updated.name == "velit" and updated.id == "147"


# -- headers for each combination of options -----------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"username": "u", "password": "p"},
            {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()},
        ),
        (
            {"ticket": "7T:abc", "app_token": "app"},
            {"Authorization": "SOTicket 7T:abc", "SO-AppToken": "app"},
        ),
        ({"access_token": "at"}, {"Authorization": "Bearer at"}),
        (
            {"access_token": "at", "app_token": "app"},
            {"Authorization": "Bearer at", "SO-AppToken": "app"},
        ),
        (
            {"access_token": "at", "language": "nb-no"},
            {"Accept-Language": "nb-no", "SO-Language": "nb-no"},
        ),
        (
            {"access_token": "at", "language": "en-us; en-gb", "culture": "sv"},
            {"Accept-Language": "en-us; en-gb", "SO-Language": "en-us", "SO-Culture": "sv"},
        ),
        ({"access_token": "at", "language": "*"}, {"Accept-Language": "*", "SO-Language": "*"}),
        ({"access_token": "at", "timezone": "NO"}, {"SO-TimeZone": "NO"}),
        (
            {"access_token": "at", "timezone": "261, includeTZOffset"},
            {"SO-TimeZone": "261, includeTZOffset"},
        ),
        (
            {"access_token": "at", "language": "fr", "culture": "en-gb", "timezone": "US-NY"},
            {
                "Accept-Language": "fr",
                "SO-Language": "fr",
                "SO-Culture": "en-gb",
                "SO-TimeZone": "US-NY",
            },
        ),
    ],
)
async def test_the_headers_sent_for_each_combination_of_options(
    superoffice_emulator: SuperOfficeEmulator,
    superoffice_url: str,
    options: dict[str, Any],
    expected: dict[str, str],
) -> None:
    superoffice_emulator.users = {"u": "p"}
    superoffice_emulator.tickets = ("7T:abc",)
    superoffice_emulator.ticket_store.add("7T:abc")
    superoffice_emulator.app_token = "app"
    superoffice_emulator.tokens.add("at")
    async with open_backend("superoffice", base_url=superoffice_url, **options) as backend:
        await backend.create(Group(name="g"))
    headers = superoffice_emulator.last_headers()
    for name, value in expected.items():
        assert headers[name] == value
    absent = {"SO-Culture", "SO-TimeZone", "SO-AppToken", "Accept-Language", "SO-Language"} - set(
        expected
    )
    assert not absent & set(headers), f"unexpected headers {absent & set(headers)}"


async def test_locale_can_be_overridden_per_call(
    superoffice_emulator: SuperOfficeEmulator, superoffice_url: str
) -> None:
    async with open_backend(
        "superoffice", base_url=superoffice_url, access_token="test-token", language="en"
    ) as backend:
        assert isinstance(backend, SuperOfficeBackend)
        created = await backend.create(Group(name="g"))
        assert created.id
        await backend.with_locale(language="fr", timezone="UTC").get(created.id)
        assert superoffice_emulator.last_headers()["SO-Language"] == "fr"
        assert superoffice_emulator.last_headers()["SO-TimeZone"] == "UTC"
        await backend.get(created.id)  # the view changed nothing on the backend
        assert superoffice_emulator.last_headers()["SO-Language"] == "en"
        assert "SO-TimeZone" not in superoffice_emulator.last_headers()
        with pytest.raises(ConfigurationError):
            backend.with_locale(language=None, culture="sv")
        with pytest.raises(ConfigurationError):
            backend.with_locale(timezone="Europe/Oslo")


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"username": "u", "password": "p", "culture": "sv"}, "culture"),
        ({"username": "u", "password": "p", "language": "french!"}, "language"),
        ({"username": "u", "password": "p", "timezone": "Europe/Oslo"}, "timezone"),
        ({"ticket": "t"}, "app_token"),
        ({"username": "u"}, "password"),
        ({}, "username"),
        ({"username": "u", "password": "p", "access_token": "a"}, "username"),
        ({"access_token": "a", "refresh_token": "r"}, "refresh_token"),
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_backend("superoffice", {"base_url": BASE, **options})
    assert info.value.option == option


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"base_url": "http://crm.example.com/api/v1"}, "base_url"),
        ({"environment": "prod", "tenant": "Cust1"}, "environment"),
        ({"environment": "online"}, "tenant"),
        ({"environment": "online", "tenant": "12345"}, "tenant"),
        ({}, "base_url"),
    ],
)
def test_bad_locations_are_configuration_errors(options: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_backend("superoffice", {"access_token": "a", **options})
    assert info.value.option == option


def test_online_urls_come_from_environment_and_tenant() -> None:
    backend = open_backend("superoffice", environment="sod", tenant="Cust12345", access_token="a")
    assert isinstance(backend, SuperOfficeBackend)
    assert backend.transport.base_url == "https://sod.superoffice.com/Cust12345/api/v1"
    assert backend.config.token_endpoint == "https://sod.superoffice.com/login/common/oauth/tokens"


# -- validation before sending ---------------------------------------------------------------


async def test_limits_and_ids_are_checked_before_anything_is_sent(mocked: aioresponses) -> None:
    async with basic() as backend:
        with pytest.raises(ValidationError) as info:
            await backend.create(Group(name="n" * 240))
        assert info.value.field == "name"
        with pytest.raises(ValidationError) as info:
            await backend.create(Group(name="ok", description="d" * 255))
        assert info.value.field == "description"
        for bad in ("0", "2147483648", "-1", "1.5", "../1"):
            with pytest.raises(ValidationError):
                await backend.get(bad)
        for bad_id in ("0", "2147483648", "x"):
            with pytest.raises(ValidationError) as info:
                await backend.update("1", GroupChanges(add=[Member(MemberKind.USER, bad_id)]))
            assert info.value.field == "members"
        for bad in ("0", "../1"):
            with pytest.raises(ValidationError):
                [m async for m in backend.members(bad)]
    assert mocked.requests == {}
    assert len(Group(name="n" * 239).name) == 239  # the limit itself is fine


async def test_soft_delete_reads_back_inactive(
    superoffice_emulator: SuperOfficeEmulator, superoffice_url: str
) -> None:
    async with open_backend(
        "superoffice", base_url=superoffice_url, access_token="test-token"
    ) as backend:
        created = await backend.create(Group(name="old", rank=5))
        assert created.id
        await backend.delete(created.id)
        assert (await backend.get(created.id)).active is False
        assert superoffice_emulator.groups[int(created.id)].deleted is True
        revived = await backend.update(created.id, GroupChanges(active=True))
        assert revived.active is True and revived.rank == 5


# -- errors: JSON, plain text and HTML bodies ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (400, "Entity to save is not in request body.", InvalidDataError, "Entity to save"),
        (
            400,
            {"Message": "Value is too long", "ExceptionType": "SoValidationException"},
            InvalidDataError,
            "too long",
        ),
        (
            401,
            {"Message": "Authorization has been denied for this request."},
            AuthenticationError,
            "denied",
        ),
        (
            403,
            "<html><head><title>403 Forbidden</title></head><body>x</body></html>",
            PermissionDeniedError,
            "403 Forbidden",
        ),
        (404, "Not Found.", NotFoundError, "Not Found."),
        (
            409,
            {
                "Error": True,
                "ErrorType": "DuplicateKey",
                "Message": "exists",
                "ExceptionType": "SoDuplicateKeyException",
            },
            DuplicateGroupError,
            "exists",
        ),
        (412, "Precondition Failed", InvalidDataError, "Precondition"),
        (429, {"Message": "Too many requests"}, RateLimitedError, "Too many"),
        (
            500,
            "<html><body><h1>Server Error</h1><p>Cannot insert duplicate key row in object "
            "'usergroup' with unique index</p></body></html>",
            DuplicateGroupError,
            "duplicate key",
        ),
        (
            500,
            "<!DOCTYPE html><html><body>Runtime Error</body></html>",
            ServerError,
            "Runtime Error",
        ),
        (503, "", ServerError, "HTTP 503"),
    ],
)
async def test_error_bodies_of_every_kind_map_onto_the_tree(
    mocked: aioresponses, status: int, body: Any, error: type[Exception], text: str
) -> None:
    url = f"{ITEMS}/5"
    if isinstance(body, str):
        mocked.get(url, status=status, body=body, repeat=True)
    else:
        mocked.get(url, status=status, payload=body, repeat=True)
    async with basic() as backend:
        with pytest.raises(error) as info:
            await backend.get("5")
    assert type(info.value) is error
    assert text in str(info.value)
    assert info.value.status == status  # type: ignore[attr-defined]
    assert "\n" not in str(info.value)


async def test_a_second_group_with_an_existing_name_is_a_duplicate(superoffice_url: str) -> None:
    async with open_backend(
        "superoffice", base_url=superoffice_url, access_token="test-token"
    ) as backend:
        await backend.create(Group(name="Sales"))
        with pytest.raises(DuplicateGroupError):
            await backend.create(Group(name="Sales"))


# -- secrets --------------------------------------------------------------------------------


async def test_no_secret_in_logs_errors_or_reprs(
    superoffice_emulator: SuperOfficeEmulator,
    superoffice_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="unigroups")
    superoffice_emulator.html_errors = True
    secrets = {
        "password": "pw-Sup3rS3cret",
        "ticket": "7T:ticket-S3cret",
        "app_token": "app-S3cret-token",
        "access_token": "at-S3cret-token",
        "client_secret": "cs-S3cret",
        "refresh_token": "rt-S3cret",
    }
    setups = [
        {"username": "someone", "password": secrets["password"], "app_token": secrets["app_token"]},
        {"ticket": secrets["ticket"], "app_token": secrets["app_token"]},
        {
            "access_token": secrets["access_token"],
            "refresh_token": secrets["refresh_token"],
            "client_id": "cid",
            "client_secret": secrets["client_secret"],
            "token_url": superoffice_url.rsplit("/Cust", 1)[0] + "/login/common/oauth/tokens",
        },
    ]
    texts: list[str] = []
    for options in setups:
        backend = open_backend("superoffice", base_url=superoffice_url, **options)
        texts += [
            repr(backend),
            repr(backend.config),
            repr(backend.transport),
        ]
        async with backend:
            with pytest.raises(AuthenticationError) as info:
                await backend.create(Group(name="g"))
            texts += [
                str(info.value),
                repr(info.value),
                json.dumps(info.value.raw),
                str(info.value.details),
            ]
    texts += [r.getMessage() for r in caplog.records]
    encoded = base64.b64encode(f"someone:{secrets['password']}".encode()).decode()
    for secret in [*secrets.values(), encoded]:
        leaks = [t for t in texts if secret in t]
        assert not leaks, f"{secret!r} leaked: {leaks[:1]}"
    assert any(re.search(r"POST /Cust12345/api/v1/List/UserGroup/Items -> 401", t) for t in texts)


async def test_bearer_refresh_on_401_is_single_flight(
    superoffice_emulator: SuperOfficeEmulator, superoffice_url: str
) -> None:
    import asyncio

    token_url = superoffice_url.rsplit("/Cust", 1)[0] + "/login/common/oauth/tokens"
    async with open_backend(
        "superoffice",
        base_url=superoffice_url,
        access_token="test-token",
        refresh_token="test-refresh-token",
        client_id="test-client-id",
        client_secret="test-client-secret",
        token_url=token_url,
    ) as backend:
        superoffice_emulator.tokens.expire("test-token")
        await asyncio.gather(*(backend.create(Group(name=f"g{i}")) for i in range(20)))
    assert superoffice_emulator.token_refreshes == 1
