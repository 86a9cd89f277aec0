"""``unigroups demo``: the whole product on the built-in emulators, no account, no network.

Zoho is loaded with the seed's "test group" and its four members plus a few hundred generated
groups; they are mirrored into SuperOffice through the batch engine; then one member of
"test group" is removed on Zoho (a ``_delete`` source item). Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ..backends.superoffice import SuperOfficeBackend
from ..backends.zoho import ZohoBackend
from ..mirror import apply, plan
from ..models import GroupChanges, Member, MemberKind
from ..registry import open_backend
from ..testing.faults import FaultPolicy
from ..testing.server import serve
from ..testing.superoffice_emulator import SuperOfficeEmulator
from ..testing.zoho_emulator import ZohoEmulator
from .output import Output
from .progress import progress_bar

__all__ = ["run_demo"]

# The seed page's sample group, as Zoho's own docs show it.
TEST_GROUP_SOURCES: list[dict[str, Any]] = [
    {"source": {"name": "Patricia Boyle", "id": "3652397000000186017"}, "type": "users"},
    {
        "source": {"name": "Manager", "id": "3652397000000026008"},
        "type": "roles",
        "subordinates": True,
    },
    {
        "source": {"name": "New York", "id": "3652397000007622003"},
        "type": "territories",
        "subordinates": True,
    },
    {"source": {"name": "Deborah Gill", "id": "3652397000000281001"}, "type": "users"},
]
DEBORAH = Member(MemberKind.USER, "3652397000000281001", name="Deborah Gill")
DEPARTMENTS = ["Sales", "Support", "Finance", "Marketing", "Engineering", "Legal", "Operations"]
REGIONS = ["EMEA", "Americas", "APAC", "Nordics", "DACH", "Benelux"]


def _load_zoho(emulator: ZohoEmulator, count: int, rng: random.Random) -> None:
    emulator.seed_group("test group", "my group", TEST_GROUP_SOURCES)
    for n in range(count):
        name = f"{rng.choice(DEPARTMENTS)} {rng.choice(REGIONS)} {n:03d}"
        users = [
            {"source": {"name": f"User {u}", "id": str(3652397000001000000 + u)}, "type": "users"}
            for u in rng.sample(range(5000), rng.randint(0, 4))
        ]
        emulator.seed_group(name, f"generated group {n}", users)


async def run_demo(out: Output, *, groups: int = 300, latency: float = 0.01, seed: int = 7) -> int:
    started = time.monotonic()
    zoho_emulator = ZohoEmulator(faults=FaultPolicy(latency=latency, max_in_flight=10, seed=seed))
    so_emulator = SuperOfficeEmulator(
        faults=FaultPolicy(latency=latency, max_in_flight=10, seed=seed)
    )
    _load_zoho(zoho_emulator, groups, random.Random(seed))
    async with serve(zoho_emulator.make_app()) as zoho_url, serve(so_emulator.make_app()) as so_url:
        out.message(f"Zoho emulator on {zoho_url}, SuperOffice emulator on {so_url}")
        zoho: Any = open_backend(
            "zoho", api_domain=zoho_url, access_token="test-token", max_concurrency=16
        )
        office: Any = open_backend(
            "superoffice",
            base_url=so_emulator.api_url(so_url),
            username="test-user",
            password="test-password",
            language="en",
            max_concurrency=16,
        )
        async with zoho, office:
            assert isinstance(zoho, ZohoBackend) and isinstance(office, SuperOfficeBackend)
            mirror_plan = await plan(zoho, office)
            out.message(
                f"Plan: {len(mirror_plan.operations)} groups to create in SuperOffice, "
                f"{len(mirror_plan.skipped)} members skipped "
                "(SuperOffice keeps membership on users)"
            )
            with progress_bar(
                len(mirror_plan.operations), "Mirroring Zoho -> SuperOffice", quiet=out.as_json
            ) as bar:
                report = await apply(mirror_plan, office, concurrency=16, on_progress=bar)
            test_group = await zoho.find("test group")
            assert test_group is not None and test_group.id
            after = await zoho.update(test_group.id, GroupChanges(remove=[DEBORAH]))
            elapsed = time.monotonic() - started
            stats = {
                k: getattr(zoho.transport.stats, k) + getattr(office.transport.stats, k)
                for k in ("requests", "retries", "rate_limited", "refreshes")
            }
    removed = DEBORAH not in (after.members or ())
    summary = {
        "groups_in_zoho": len(zoho_emulator.groups),
        "groups_mirrored": report.done,
        "failed": report.failed,
        "members_skipped": len(mirror_plan.skipped),
        "deborah_gill_removed_from_test_group": removed,
        "test_group_members": len(after.members or ()),
        # Sends add up: every request is a first send or a resend (after a 429, a network
        # error or a 5xx, or with renewed credentials).
        "requests_sent": stats["requests"],
        "first_sends": stats["requests"] - stats["retries"] - stats["refreshes"],
        "resends": stats["retries"] + stats["refreshes"],
        "answered_429": stats["rate_limited"],
        "elapsed_seconds": round(elapsed, 2),
        "groups_per_second": round(report.done / report.elapsed, 1) if report.elapsed else None,
    }
    if out.as_json:
        out.json(summary)
    else:
        out.table("Demo summary", ["", ""], [(k.replace("_", " "), v) for k, v in summary.items()])
    return 0 if report.ok and removed and so_emulator.groups else 1
