"""What the benchmark scripts share: the emulator in its own process, a hand-written aiohttp
client (the baseline), and the table they print.

The emulator always runs as a separate process so that the client measured here does not
share an interpreter (or a GIL) with the server it talks to.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import aiohttp

TOKEN = "bench-token"
API = "/crm/v8/settings/user_groups"
PAGE = 200  # the per_page maximum unigroups asks for


@contextlib.contextmanager
def zoho_emulator(*options: str) -> Iterator[str]:
    """Run ``python -m unigroups.testing.zoho_emulator`` on loopback; yield its base URL.

    A fresh process per phase gives a fresh state (no name collisions, no leftover groups).
    """
    command = [
        sys.executable,
        "-m",
        "unigroups.testing.zoho_emulator",
        "--port",
        "0",
        "--token",
        TOKEN,
        *options,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # printed once it listens
        if not url.startswith("http://"):
            raise RuntimeError(f"the emulator did not start: {command}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.machine()}, aiohttp {aiohttp.__version__}"
    )


def members(count: int) -> list[dict[str, Any]]:
    """``count`` Zoho user sources, as the raw client sends them."""
    return [
        {"source": {"id": str(5725767000000411001 + n), "name": f"user {n}"}, "type": "users"}
        for n in range(count)
    ]


class RawZoho:
    """The baseline: what a careful engineer writes by hand with one aiohttp session.

    It sends the same requests unigroups sends and parses the JSON answers, nothing more:
    no models, no validation, no retries.
    """

    def __init__(self, base_url: str, *, limit: int = 100) -> None:
        self.base = f"{base_url}{API}"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit),
            headers={"Authorization": f"Zoho-oauthtoken {TOKEN}", "Accept": "application/json"},
        )

    async def close(self) -> None:
        await self.session.close()

    async def create(self, item: dict[str, Any]) -> str:
        async with self.session.post(self.base, json={"user_groups": [item]}) as response:
            body = await response.json()
        if response.status != 201:
            raise RuntimeError(f"create failed: {response.status} {body}")
        return str(body["user_groups"][0]["details"]["id"])

    async def create_status(self, *items: dict[str, Any]) -> int:
        """One create call (of one group, or several where the org takes them); the status,
        for the ceiling loop (which must see its 429s, if any).

        The answer is read for each new group's id, as any job that creates groups must.
        """
        async with self.session.post(self.base, json={"user_groups": list(items)}) as response:
            body = await response.json()
        if response.status == 201 and not all(e["details"]["id"] for e in body["user_groups"]):
            raise RuntimeError(f"create answered without an id: {body}")
        return response.status

    async def get(self, group_id: str) -> tuple[Any, Any]:
        """The two calls unigroups' get() makes: the group, then its first sources page."""
        async with self.session.get(f"{self.base}/{group_id}") as response:
            group = await response.json()
        params = {"page": "1", "per_page": str(PAGE)}
        async with self.session.get(f"{self.base}/{group_id}/sources", params=params) as response:
            sources = await response.json() if response.status == 200 else None
        return group, sources

    async def list_page(self, page: int = 1) -> Any:
        params = {"page": str(page), "per_page": str(PAGE)}
        async with self.session.get(self.base, params=params) as response:
            return await response.json() if response.status == 200 else None


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table; numbers are right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i and _numeric(c) else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text.rstrip("x%"))
    except ValueError:
        return False
    return True


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
