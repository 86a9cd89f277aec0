"""5,000 mixed operations against each emulator with 10% mixed faults, for several seeds.

Faults: 429, 500, 503, connections dropped after the vendor acted, answers slower than the
client's timeout, and tokens that expire mid-run. Afterwards the emulator's own state must be
exactly what the operations intended: nothing lost, nothing doubled. Every log record (at DEBUG)
and every error string is searched for every secret.
"""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from unigroups import Group, GroupBackend, GroupChanges, open_backend
from unigroups.batch import Create, Delete, Operation, Update, run_batch
from unigroups.testing.faults import FaultPolicy, OAuthClient
from unigroups.testing.server import serve
from unigroups.testing.superoffice_emulator import SuperOfficeEmulator
from unigroups.testing.zoho_emulator import ZohoEmulator

pytestmark = pytest.mark.slow  # seconds to minutes each: CI runs it, the quick run skips it

SEEDS = [11, 22, 33]
CREATES, UPDATES, DELETES = 4000, 500, 500
OAUTH = OAuthClient(
    client_id="matrix-client-id",
    client_secret="matrix-client-secret-5f4e",
    refresh_token="matrix-refresh-token-9a8b",
)


def faults(seed: int, timeout: float) -> FaultPolicy:
    return FaultPolicy(
        rate_429=0.02,
        rate_500=0.02,
        rate_503=0.02,
        drop_rate=0.02,
        drop_after_handling=True,
        slow_rate=0.02,
        slow_delay=2 * timeout,  # answers the client has given up on
        seed=seed,
    )


Setup = Callable[[int], Any]

# With one send in ten failing, the default budget of 6 sends leaves about one operation in
# a million failed for good, which 30,000 operations per CI run meet now and then (a true
# outcome, but not the one this test is about). 10 sends make that one in 10^10.
ATTEMPTS = 10


def throttle(seed: int) -> str:
    # Random 429s here are faults, not overload: the adaptive throttle (tested on its own
    # against a real cap) would hold the job at a few calls in flight and only make it
    # slow. It runs adaptive for the first seed, to show correctness holds with it too.
    return "adaptive" if seed == SEEDS[0] else "fixed"


@asynccontextmanager
async def zoho(seed: int) -> AsyncIterator[tuple[Any, GroupBackend, list[str]]]:
    emulator = ZohoEmulator(
        faults=faults(seed, 0.25), access_tokens=(), oauth=OAUTH, token_lifetime=3
    )
    ids = [emulator.seed_group(f"old {i}", "before") for i in range(UPDATES + DELETES)]
    async with serve(emulator.make_app()) as url:
        backend = open_backend(
            "zoho",
            api_domain=url,
            accounts_url=url,
            client_id=OAUTH.client_id,
            client_secret=OAUTH.client_secret,
            refresh_token=OAUTH.refresh_token,
            timeout=0.25,
            max_attempts=ATTEMPTS,
            max_concurrency=32,
            throttle=throttle(seed),
        )
        async with backend:
            yield emulator, backend, ids


@asynccontextmanager
async def superoffice(seed: int) -> AsyncIterator[tuple[Any, GroupBackend, list[str]]]:
    # SuperOffice has no name filter: find() after an ambiguous create lists every group,
    # thousands here, which takes longer than Zoho's calls: a longer timeout.
    emulator = SuperOfficeEmulator(faults=faults(seed, 1.0), oauth=OAUTH, token_lifetime=3)
    ids = [str(emulator.seed_group(f"old {i}", "before")) for i in range(UPDATES + DELETES)]
    async with serve(emulator.make_app()) as server:
        backend = open_backend(
            "superoffice",
            base_url=emulator.api_url(server),
            access_token="test-token",
            client_id=OAUTH.client_id,
            client_secret=OAUTH.client_secret,
            refresh_token=OAUTH.refresh_token,
            token_url=f"{server}/login/common/oauth/tokens",
            timeout=1.0,
            max_attempts=ATTEMPTS,
            max_concurrency=32,
            throttle=throttle(seed),
        )
        async with backend:
            yield emulator, backend, ids


def operations(ids: list[str]) -> list[Operation]:
    ops: list[Operation] = [
        Create(Group(name=f"new {i}", description="made")) for i in range(CREATES)
    ]
    ops += [Update(i, GroupChanges(description="after")) for i in ids[:UPDATES]]
    ops += [Delete(i) for i in ids[UPDATES:]]
    return ops


def state(emulator: Any) -> dict[str, tuple[str | None, bool]]:
    """name -> (description, active) as the emulator holds it, counting every stored group."""
    found: dict[str, tuple[str | None, bool]] = {}
    for group in emulator.groups.values():
        name = getattr(group, "name", None) or group.value
        description = (
            getattr(group, "description", None) if hasattr(group, "name") else group.tooltip
        )
        active = not getattr(group, "deleted", False)
        assert name not in found, f"{name!r} is stored twice"
        found[name] = (description, active)
    return found


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("vendor", [zoho, superoffice], ids=["zoho", "superoffice"])
async def test_every_operation_ends_done_with_nothing_lost_or_doubled(
    vendor: Callable[[int], Any], seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="unigroups")
    async with vendor(seed) as (emulator, backend, ids):
        report = await run_batch(backend, operations(ids), concurrency=16)
    failures = [(o.key, repr(o.error)) for o in report.failures[:5]]
    assert report.done == CREATES + UPDATES + DELETES, failures

    held = state(emulator)
    for i in range(CREATES):
        assert held[f"new {i}"] == ("made", True)
    for i in range(UPDATES):
        assert held[f"old {i}"] == ("after", True)
    soft = emulator.__class__ is SuperOfficeEmulator
    for i in range(UPDATES, UPDATES + DELETES):
        assert held.get(f"old {i}") == (("before", False) if soft else None)
    assert len(held) == CREATES + UPDATES + (DELETES if soft else 0)

    stats = emulator.stats
    assert sum(stats.injected.values()) > 0.05 * stats.requests, "the faults did not happen"
    assert stats.drops > 0 and stats.slow > 0
    assert emulator.token_refreshes > 1, "no token expired mid-run"

    secrets = [OAUTH.client_secret, OAUTH.refresh_token, "test-token"]
    secrets += list(emulator.tokens._tokens)
    texts = [r.getMessage() for r in caplog.records] + [repr(o.error) for o in report.outcomes]
    assert len(caplog.records) > stats.requests / 2, "DEBUG logging did not happen"
    for secret in secrets:
        leaked = [t for t in texts if secret in t]
        assert not leaked, f"a secret reached a log line or an error: {leaked[:1]}"
