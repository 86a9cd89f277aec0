"""What unigroups' own code costs per operation, with the network taken out, against the CPU
hand-written aiohttp spends on the same call, in the same process.

The 0 ms figures of ``overhead.py`` and ``batch.py`` are ratios of two CPU times of which
the larger part is aiohttp's and the socket's, and they move by +-0.3 from run to run on a
shared machine. This script splits the unigroups side in two: its own code alone, timed with
the transport's sender replaced by one that returns, at once, the exact answers the emulator
gave (captured first, over the network); and the raw client's CPU per call over the network.
Their sum over the raw figure is the ratio unigroups would reach were its aiohttp calls free
of any cost of their own: the floor of the 0 ms ratios.

    python bench/library_cpu.py [--count 5000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from _common import PAGE, TOKEN, RawZoho, machine, median, table, zoho_emulator

from unigroups import Group, open_backend
from unigroups.batch import Create, run_batch
from unigroups.http.send import Answer


class CannedSender:
    """A sender that answers every request at once with one recorded answer per method."""

    def __init__(self, answers: Mapping[str, Answer]) -> None:
        self.answers = answers

    async def send(self, method: str, url: str, **_request: Any) -> Answer:
        return self.answers[method]

    async def aclose(self) -> None:
        pass


async def recorded(url: str) -> dict[str, Answer]:
    """The emulator's answer to a create and to a page of 200 groups, as bytes and headers."""
    raw = RawZoho(url)
    try:
        item = {"user_groups": [{"name": "recorded", "sources": []}]}
        async with raw.session.post(raw.base, json=item) as response:
            create = Answer(response.status, dict(response.headers), await response.read())
        query = {"page": "1", "per_page": str(PAGE)}
        async with raw.session.get(raw.base, params=query) as response:
            page = Answer(response.status, dict(response.headers), await response.read())
    finally:
        await raw.close()
    return {"POST": create, "GET": page}


def cpu(run: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[float]]:
    async def timed() -> float:
        started = time.process_time()
        await run()
        return time.process_time() - started

    return timed


async def main_async(count: int, rounds: int) -> None:
    with zoho_emulator("--seed-groups", str(PAGE + 1), "--latency", "0") as url:
        answers = await recorded(url)
        raw = RawZoho(url, limit=10)
        backend: Any = open_backend("zoho", api_domain=url, access_token=TOKEN)
        backend.transport.sender = CannedSender(answers)
        serial = iter(range(10**9))

        async def raw_creates() -> None:
            for _ in range(count):
                await raw.create({"name": f"raw {next(serial)}", "sources": []})

        async def raw_creates_in_flight() -> None:
            # batch.py's ceiling: 10 workers, each one create after another
            names = iter([f"raw {next(serial)}" for _ in range(count)])

            async def worker() -> None:
                for name in names:
                    await raw.create({"name": name, "sources": []})

            await asyncio.gather(*(worker() for _ in range(10)))

        async def raw_pages() -> None:
            for _ in range(count // 50):
                assert len((await raw.list_page(1))["user_groups"]) == PAGE

        async def creates() -> None:
            for _ in range(count):
                await backend.create(Group(f"ug {next(serial)}"))

        async def batch() -> None:
            ops = [Create(Group(f"ug {next(serial)}")) for _ in range(count)]
            report = await run_batch(backend, ops, concurrency=10)
            assert report.done == count

        async def pages() -> None:
            for _ in range(count // 50):
                seen = 0
                async with contextlib.aclosing(backend.groups()) as listing:
                    async for _group in listing:
                        seen += 1
                        if seen == PAGE:
                            break

        cases = {
            "raw create": (cpu(raw_creates), count),
            "raw create, 10 in flight": (cpu(raw_creates_in_flight), count),
            "raw page": (cpu(raw_pages), count // 50),
            "create()": (cpu(creates), count),
            "run_batch create": (cpu(batch), count),
            f"groups(), a page of {PAGE}": (cpu(pages), count // 50),
        }
        per_call: dict[str, list[float]] = {name: [] for name in cases}
        try:
            for run, _calls in cases.values():
                await run()  # warm up
            for _ in range(rounds):  # interleaved: drift in the machine's speed hits all
                for name, (run, calls) in cases.items():
                    per_call[name].append(await run() / calls)
        finally:
            await backend.aclose()
            await raw.close()

    us = {name: median(values) * 1e6 for name, values in per_call.items()}
    rows = [
        ["create, one at a time", us["create()"], us["raw create"]],
        [
            "create, run_batch (concurrency 10)",
            us["run_batch create"],
            us["raw create, 10 in flight"],
        ],
        [f"list, a page of {PAGE}", us[f"groups(), a page of {PAGE}"], us["raw page"]],
    ]
    print(f"# {machine()}; {count} creates a round, {rounds} rounds, medians")
    print(
        table(
            [
                "operation",
                "unigroups' own code µs",
                "raw aiohttp µs (network, the same calls)",
                "floor ratio (raw + own) ÷ raw",
            ],
            [
                [name, f"{own:.1f}", f"{base:.1f}", f"{(base + own) / base:.2f}"]
                for name, own, base in rows
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="creates per round")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    asyncio.run(main_async(args.count, args.rounds))


if __name__ == "__main__":
    main()
