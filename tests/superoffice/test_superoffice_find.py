"""SuperOffice's find(): concurrent look-ups share listings, yet none uses a listing sent before
it was called; names match under the capabilities' case rule, deleted groups included."""

import asyncio
from collections.abc import AsyncIterator

import attrs
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from unigroups import DecodingError, Group, GroupBackend, ServerError, open_backend
from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import serve
from unigroups.testing.superoffice_emulator import ITEMS, SuperOfficeEmulator


def listings(emulator: SuperOfficeEmulator) -> int:
    return sum(
        1 for r in emulator.requests if r.method == "GET" and r.path.endswith(ITEMS) and r.query
    )


@pytest.fixture
def emulator() -> SuperOfficeEmulator:
    emulator = SuperOfficeEmulator(faults=FaultPolicy(latency=0.02))
    for n in range(200):
        emulator.seed_group(f"Group {n:03d}", tooltip=f"Group {n + 1:03d}", deleted=n % 10 == 0)
    return emulator


def open_office(emulator: SuperOfficeEmulator, url: str, **options: object) -> GroupBackend:
    return open_backend(
        "superoffice", base_url=emulator.api_url(url), access_token="test-token", **options
    )


@pytest.fixture
async def office(emulator: SuperOfficeEmulator) -> AsyncIterator[GroupBackend]:
    async with serve(emulator.make_app()) as url, open_office(emulator, url) as backend:
        yield backend


async def test_fifty_concurrent_finds_share_one_listing(
    emulator: SuperOfficeEmulator, office: GroupBackend
) -> None:
    names = [f"group {n:03d}" for n in range(0, 200, 5)] + [f"absent {n}" for n in range(10)]
    found = await asyncio.gather(*(office.find(name) for name in names))
    assert listings(emulator) == 1
    ids = {group.value.casefold(): str(group_id) for group_id, group in emulator.groups.items()}
    for name, group in zip(names, found, strict=True):
        if name.startswith("absent"):
            assert group is None
        else:  # the name in another case, and deleted groups too (they keep their name)
            assert group is not None and (group.name.casefold(), group.id) == (name, ids[name])
    assert {g.active for g in found if g is not None} == {True, False}


async def test_a_find_after_a_create_sees_the_group(office: GroupBackend) -> None:
    created = await office.create(Group(name="Brand New"))
    assert created.members == ()
    # A find reads the carrier only: the same group, members not loaded.
    assert await office.find("BRAND NEW") == attrs.evolve(created, members=None)


async def test_a_find_never_uses_a_listing_answered_before_it_was_called() -> None:
    emulator = SuperOfficeEmulator()
    listed = asyncio.Event()

    @web.middleware
    async def hold_listings(request: web.Request, handler: Handler) -> web.StreamResponse:
        # The listing is made now and answered 0.3 s later: a create lands in between.
        response = await handler(request)
        if request.method == "GET" and request.query:
            listed.set()
            await asyncio.sleep(0.3)
        return response

    app = emulator.make_app()
    app.middlewares.insert(0, hold_listings)
    async with serve(app) as url, open_office(emulator, url) as office:
        early = asyncio.create_task(office.find("Late"))
        await listed.wait()
        created = await office.create(Group(name="Late"))
        # The early listing is not good enough (a find loads no members).
        assert await office.find("late") == attrs.evolve(created, members=None)
        assert await early is None
    assert listings(emulator) == 2


async def test_finds_arriving_during_a_listing_share_the_next_one(
    emulator: SuperOfficeEmulator, office: GroupBackend
) -> None:
    first = asyncio.create_task(office.find("Group 001"))
    await asyncio.sleep(0.005)  # the first listing is on its way
    later = await asyncio.gather(*(office.find(f"Group {n:03d}") for n in range(1, 30)))
    assert (await first) is not None and all(later)
    assert listings(emulator) == 2


async def test_a_failed_listing_fails_every_waiter_and_the_next_call_lists_again(
    emulator: SuperOfficeEmulator,
) -> None:
    async with (
        serve(emulator.make_app()) as url,
        open_office(emulator, url, max_attempts=1) as office,
    ):
        emulator.faults.rate_500 = 1.0
        results = await asyncio.gather(
            *(office.find(f"Group {n:03d}") for n in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, ServerError) for r in results)
        assert listings(emulator) == 1
        emulator.faults.rate_500 = 0.0
        assert await office.find("Group 004") is not None
    assert listings(emulator) == 2


async def test_a_listing_nobody_waits_for_is_cancelled(
    emulator: SuperOfficeEmulator, office: GroupBackend
) -> None:
    emulator.faults.latency = 0.3
    finds = [asyncio.create_task(office.find("Group 001")) for _ in range(3)]
    await asyncio.sleep(0.05)
    for task in finds:
        task.cancel()
    await asyncio.gather(*finds, return_exceptions=True)
    await asyncio.sleep(0)  # the listing's own task takes its cancellation
    listing = {"SuperOfficeBackend._name_index", "_SharedListing._after"}
    assert not [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ in listing]


async def test_case_sensitive_option_matches_the_exact_name(
    emulator: SuperOfficeEmulator,
) -> None:
    async with (
        serve(emulator.make_app()) as url,
        open_office(emulator, url, names_case_sensitive=True) as office,
    ):
        assert await office.find("group 001") is None
        found = await office.find("Group 001")
    assert found is not None and found.name == "Group 001"


async def test_a_listing_that_is_not_an_array_is_a_decoding_error() -> None:
    @web.middleware
    async def not_a_list(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "GET" and request.query:
            return web.json_response({"Value": "Group"})
        return await handler(request)

    emulator = SuperOfficeEmulator()
    app = emulator.make_app()
    app.middlewares.insert(0, not_a_list)
    async with serve(app) as url, open_office(emulator, url) as office:
        with pytest.raises(DecodingError):
            await office.find("Group")
