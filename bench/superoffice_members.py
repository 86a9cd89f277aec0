"""SuperOffice membership: listing the members of a 1,000-user group and adding 100 users,
unigroups against hand-written aiohttp making the identical calls in the same process.

The emulator runs in its own process (seeded with ``--users-file``), at 0 ms latency (the
client's own CPU is all that separates the two sides) and at 20 ms. Both sides keep at most
10 requests in flight (unigroups' ``max_concurrency``, the raw side's connector limit).

* list: ``GET /User`` pages (``$select``, ``$filter``, ``$top`` 500, ``$skip``) until no
  ``odata.nextLink``: 2 calls for 1,000 members.
* add 100: what ``update(id, GroupChanges(add=...))`` sends: ``GET`` the group, ``GET
  /User/{id}`` for each of the 100 users, one JSON Patch ``PATCH /User/{id}`` each, then the
  members again (3 pages of 1,100). Between rounds, untimed, the 100 are removed again.

Rounds alternate who goes first; the figure is the median of the per-round ratios.

    python bench/superoffice_members.py [--rounds 11] [--latent-rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from _common import TOKEN, machine, median, table

from unigroups import GroupChanges, Member, MemberKind, open_backend
from unigroups.backends.superoffice import SuperOfficeBackend
from unigroups.backends.superoffice.wire import USER_COLUMNS

GROUP = "Big"
MEMBERS = 1000
ADDED = 100
FIRST_USER = 101  # the emulator's first associate id
CONCURRENCY = 10
PAGE = 500  # unigroups' default user_page_size

Step = Callable[[], Awaitable[None]]


@asynccontextmanager
async def emulator(latency_ms: int) -> AsyncIterator[str]:
    """The SuperOffice emulator in a process of its own; yields its web API URL. Users
    101-1100 have "Big" among their other groups, 1101-1200 do not."""
    people = [
        {"full_name": f"Member {n}", "email": f"m{n}@example.com", "other_groups": [GROUP]}
        for n in range(MEMBERS)
    ] + [{"full_name": f"Joiner {n}", "email": f"j{n}@example.com"} for n in range(ADDED)]
    with tempfile.TemporaryDirectory() as folder:
        listing = Path(folder) / "users.json"
        listing.write_text(json.dumps(people))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "unigroups.testing.superoffice_emulator",
            "--token",
            TOKEN,
            "--latency",
            str(latency_ms / 1000),
            "--users-file",
            str(listing),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            url = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
            if not url.startswith("http://"):
                raise RuntimeError("the SuperOffice emulator did not start")
            yield url
        finally:
            process.terminate()
            await process.wait()


class RawSuperOffice:
    """The baseline: the same requests by hand with one aiohttp session, JSON parsed and
    nothing more (no models, no validation, no retries)."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONCURRENCY),
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
        )

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        async with self.session.request(method, url, **kwargs) as response:
            response.raise_for_status()
            return await response.json()

    async def members(self, group_id: int) -> list[tuple[int, bool]]:
        found: list[tuple[int, bool]] = []
        more = True
        while more:
            query = {
                "$select": ",".join(USER_COLUMNS),
                "$filter": f"usergroupId eq {group_id} or otherGroups in ({group_id})",
                "$top": str(PAGE),
                "$skip": str(len(found)),
            }
            page = await self.json("GET", f"{self.api}/User", params=query)
            found += [(r["associateDbId"], r["usergroupId"] == group_id) for r in page["value"]]
            more = bool(page.get("odata.nextLink"))
        return found

    async def add(self, group_id: int, user_ids: list[int]) -> list[tuple[int, bool]]:
        await self.json("GET", f"{self.api}/List/UserGroup/Items/{group_id}")
        users = await asyncio.gather(*(self.json("GET", f"{self.api}/User/{u}") for u in user_ids))
        joining = [
            user["AssociateId"]
            for user in users
            if group_id != user["UserGroup"]["Id"]
            and group_id not in [g["Id"] for g in user["OtherGroups"]]
        ]
        patch = [{"op": "add", "path": "/OtherGroups/-", "value": {"Id": group_id}}]
        await asyncio.gather(
            *(self.json("PATCH", f"{self.api}/User/{u}", json=patch) for u in joining)
        )
        return await self.members(group_id)


async def timed(step: Step) -> tuple[float, float]:
    """Wall and CPU time (this process only) of one step."""
    started, cpu = time.perf_counter(), time.process_time()
    await step()
    return time.perf_counter() - started, time.process_time() - cpu


async def measure(latency_ms: int, rounds: int) -> list[list[object]]:
    rows: list[list[object]] = []
    async with emulator(latency_ms) as api:
        raw = RawSuperOffice(api)
        backend = open_backend(
            "superoffice", base_url=api, access_token=TOKEN, max_concurrency=CONCURRENCY
        )
        assert isinstance(backend, SuperOfficeBackend)
        try:
            found = await backend.find(GROUP)
            assert found is not None and found.id is not None
            group_id = found.id
            joiners = [FIRST_USER + MEMBERS + n for n in range(ADDED)]
            added = [Member(MemberKind.USER, str(u)) for u in joiners]

            async def ug_list() -> None:
                assert len([m async for m in backend.members(group_id)]) == MEMBERS

            async def raw_list() -> None:
                assert len(await raw.members(int(group_id))) == MEMBERS

            async def ug_add() -> None:
                group = await backend.update(group_id, GroupChanges(add=added))
                assert len(group.members or ()) == MEMBERS + ADDED

            async def raw_add() -> None:
                assert len(await raw.add(int(group_id), joiners)) == MEMBERS + ADDED

            async def reset() -> None:  # untimed: the 100 leave again
                await backend.update(group_id, GroupChanges(remove=added))

            cases: list[tuple[str, Step, Step, Step | None]] = [
                (f"list {MEMBERS} members (2 calls)", ug_list, raw_list, None),
                (f"add {ADDED} users ({2 * ADDED + 4} calls)", ug_add, raw_add, reset),
            ]
            for name, ug, plain, after in cases:
                for warm in (ug, plain):  # connections, caches, imports
                    await warm()
                    if after is not None:
                        await after()
                walls: dict[str, list[float]] = {"ug": [], "raw": []}
                cpus: dict[str, list[float]] = {"ug": [], "raw": []}
                ratios = []
                for r in range(rounds):
                    order = [("ug", ug), ("raw", plain)]
                    for side, step in order if r % 2 == 0 else order[::-1]:
                        wall, cpu = await timed(step)
                        walls[side].append(wall)
                        cpus[side].append(cpu)
                        if after is not None:
                            await after()
                    ratios.append(walls["ug"][-1] / walls["raw"][-1])
                rows.append(
                    [
                        f"{latency_ms} ms",
                        name,
                        f"{median(walls['ug']) * 1e3:.1f}",
                        f"{median(walls['raw']) * 1e3:.1f}",
                        f"{median(ratios):.3f}",
                        f"{min(ratios):.2f}-{max(ratios):.2f}",
                        f"{median(cpus['ug']) * 1e3:.1f}",
                        f"{median(cpus['raw']) * 1e3:.1f}",
                    ]
                )
        finally:
            await backend.aclose()
            await raw.session.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11, help="rounds at 0 ms (%(default)s)")
    parser.add_argument(
        "--latent-rounds", type=int, default=5, help="rounds at 20 ms (%(default)s)"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"emulator: own process; at most {CONCURRENCY} requests in flight on both sides\n")
    rows = asyncio.run(measure(0, args.rounds))
    rows += asyncio.run(measure(20, args.latent_rounds))
    headers = [
        "latency",
        "call",
        "unigroups ms",
        "raw ms",
        "ratio (median)",
        "ratio range",
        "unigroups CPU ms",
        "raw CPU ms",
    ]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
