"""The limits Zoho publishes no figure for are options, and capabilities follow them."""

import json

import pytest
from aioresponses import aioresponses

from unigroups import ConfigurationError, Group, Member, MemberKind, ValidationError, open_backend
from unigroups.backends.zoho import ZohoBackend, ZohoConfig

API = "https://www.zohoapis.eu/crm/v8/settings/user_groups"
GROUP_ID = "5725767000002350003"


def created(group_id: str = GROUP_ID) -> dict[str, object]:
    entry = {"code": "SUCCESS", "details": {"id": group_id}, "message": "ok", "status": "success"}
    return {"user_groups": [entry]}


def test_the_defaults_are_the_conservative_ones_and_capabilities_show_them() -> None:
    config = ZohoConfig(access_token="t")
    limits = (
        config.name_max_length,
        config.description_max_length,
        config.sources_per_request,
        config.max_batch,
    )
    assert limits == (250, 250, 200, 1)
    caps = open_backend("zoho", access_token="t").capabilities
    assert (caps.name_max_length, caps.description_max_length, caps.max_batch) == (250, 250, 1)
    assert ZohoBackend.capabilities == caps


def test_capabilities_follow_the_options() -> None:
    backend = open_backend(
        "zoho",
        access_token="t",
        name_max_length=100,
        description_max_length=1000,
        max_batch=10,
        sources_per_request=500,
    )
    caps = backend.capabilities
    assert (caps.name_max_length, caps.description_max_length, caps.max_batch) == (100, 1000, 10)
    assert ZohoBackend.capabilities.name_max_length == 250, "the class default changed"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("name_max_length", 0),
        ("description_max_length", -1),
        ("sources_per_request", 0),
        ("max_batch", 101),
        ("name_max_length", "many"),
    ],
)
def test_a_bad_limit_is_a_configuration_error_naming_it(option: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_backend("zoho", access_token="t", **{option: value})
    assert option in str(info.value)


async def test_names_over_the_configured_length_are_refused_before_any_request(
    mocked: aioresponses,
) -> None:
    async with open_backend("zoho", dc="eu", access_token="t", name_max_length=5) as backend:
        with pytest.raises(ValidationError) as info:
            await backend.create(Group(name="sixsix"))
        assert info.value.field == "name"
        with pytest.raises(ValidationError) as info:
            await backend.create(Group(name="ok", description="d" * 251))
        assert info.value.field == "description"
    assert mocked.requests == {}


async def test_sources_per_request_splits_a_create_into_a_post_and_puts(
    mocked: aioresponses,
) -> None:
    members = tuple(Member(MemberKind.USER, str(10**18 + n)) for n in range(5))
    mocked.post(API, status=201, payload=created())
    update = {"user_groups": [{**created()["user_groups"][0], "message": "updated"}]}  # type: ignore[index]
    mocked.put(f"{API}/{GROUP_ID}", payload=update, repeat=True)
    async with open_backend("zoho", dc="eu", access_token="t", sources_per_request=2) as backend:
        group = await backend.create(Group(name="five", members=members))
    calls = [c for calls in mocked.requests.values() for c in calls]
    sizes = [len(json.loads(c.kwargs["data"])["user_groups"][0]["sources"]) for c in calls]
    assert sizes == [2, 2, 1]
    assert group.members == members
