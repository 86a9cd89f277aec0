"""The same 1,000-create job with Zoho's official Python SDK and with unigroups.

Zoho's SDK (PyPI ``zohocrmsdk8_0``) is synchronous: it is run one call after another, and in a
pool of 10 threads with the SDK initialised in each thread (``Initializer.switch_user``, the
SDK's documented way to use it from several threads). unigroups runs the job one call after
another too, and as ``run_batch(concurrency=10)``. Every phase gets a fresh emulator process
(20 ms latency, 429 past 10 calls in flight).

The SDK is a benchmark dependency only:  pip install -r bench/requirements.txt

    python bench/peer_zoho_sdk.py [--count 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from _common import TOKEN, machine, table, zoho_emulator

from unigroups import Group, open_backend
from unigroups.batch import Create, run_batch

LATENCY = 0.02
CAP = 10
THREADS = 10

try:
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
    from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
    from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
    from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
    from zohocrmsdk.src.com.zoho.crm.api.user_groups import (
        ActionWrapper,
        BodyWrapper,
        Groups,
        SuccessResponse,
        UserGroupsOperations,
    )
except ImportError:
    SDK = False
else:
    SDK = True


class SDKSetup:
    """The SDK pointed at the emulator: its Environment takes any base URL, http included,
    and an access token with ``find_user=False`` needs no accounts server and no user
    lookup. Its token file and resource (metadata) files go to a temporary directory."""

    def __init__(self, url: str, workdir: str) -> None:
        self.environment = DataCenter.Environment(url, url, url)
        self.workdir = workdir
        self._lock = threading.Lock()

    def token(self) -> Any:
        return OAuthToken(access_token=TOKEN, find_user=False)

    def initialize(self) -> None:
        Initializer.initialize(
            environment=self.environment,
            token=self.token(),
            store=FileStore(os.path.join(self.workdir, "sdk_tokens.csv")),
            resource_path=self.workdir,
        )

    def in_this_thread(self) -> None:
        # One thread at a time: switch_user saves the token to the shared CSV file store.
        with self._lock:
            Initializer.switch_user(environment=self.environment, token=self.token())


def sdk_create(operations: Any, name: str) -> int:
    """One create through the SDK; the HTTP status (a 429 is the caller's to retry)."""
    group = Groups()
    group.set_name(name)
    group.set_sources([])
    body = BodyWrapper()
    body.set_user_groups([group])
    response = operations.create_groups(body)
    if response is None:  # the SDK logs some failures and returns nothing
        raise RuntimeError(f"the SDK returned no response creating {name!r}")
    status: int = response.get_status_code()
    if status == 201:
        answer = response.get_object()
        assert isinstance(answer, ActionWrapper)
        (entry,) = answer.get_user_groups()
        assert isinstance(entry, SuccessResponse), entry
    elif status != 429:
        raise RuntimeError(f"the SDK's create answered {status}")
    return status


def sdk_sequential(url: str, count: int, workdir: str) -> dict[str, Any]:
    SDKSetup(url, workdir).initialize()
    operations = UserGroupsOperations()
    refused = 0
    started = time.perf_counter()
    for n in range(count):
        while sdk_create(operations, f"sdk {n}") == 429:
            refused += 1
    return {"elapsed": time.perf_counter() - started, "rate_limited": refused}


def sdk_threads(url: str, count: int, workdir: str) -> dict[str, Any]:
    setup = SDKSetup(url, workdir)
    setup.initialize()
    names: Iterator[int] = iter(range(count))
    take = threading.Lock()
    ready = threading.Barrier(THREADS + 1)
    refused = [0] * THREADS
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            setup.in_this_thread()
            operations = UserGroupsOperations()
            ready.wait()
            while True:
                with take:
                    n = next(names, None)
                if n is None:
                    return
                while sdk_create(operations, f"sdk {n}") == 429:
                    refused[slot] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            ready.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    ready.wait()  # every thread initialised: the clock starts with the first create
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return {"elapsed": elapsed, "rate_limited": sum(refused)}


def unigroups_sequential(url: str, count: int, _workdir: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        backend: Any = open_backend("zoho", api_domain=url, access_token=TOKEN)
        async with backend:
            started = time.perf_counter()
            for n in range(count):
                await backend.create(Group(f"ug {n}"))
            elapsed = time.perf_counter() - started
            return {"elapsed": elapsed, "rate_limited": backend.transport.stats.rate_limited}

    return asyncio.run(run())


def unigroups_batch(url: str, count: int, _workdir: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        backend: Any = open_backend(
            "zoho", api_domain=url, access_token=TOKEN, max_concurrency=CAP, throttle="fixed"
        )
        async with backend:
            started = time.perf_counter()
            ops = [Create(Group(f"ug {n}")) for n in range(count)]  # on the clock, like the SDK's
            report = await run_batch(backend, ops, concurrency=CAP)
            elapsed = time.perf_counter() - started
            if not report.ok:
                raise RuntimeError(str(report))
            return {"elapsed": elapsed, "rate_limited": backend.transport.stats.rate_limited}

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="creates per phase (%(default)s)")
    args = parser.parse_args()
    if not SDK:
        print(
            "Zoho's SDK is not installed; this benchmark needs it:\n"
            "    pip install -r bench/requirements.txt\n"
            "(it is a benchmark dependency only, never one of unigroups')"
        )
        return 0
    logging.getLogger("SDKLogger").setLevel(logging.CRITICAL)  # no per-call log lines
    print(f"machine: {machine()}")
    print(
        f"emulator: own process per phase, latency {LATENCY * 1000:.0f} ms, 429 past {CAP} "
        f"calls in flight; {args.count} creates per phase\n"
    )
    phases: list[tuple[str, Callable[[str, int, str], dict[str, Any]]]] = [
        ("Zoho SDK, one call after another", sdk_sequential),
        (f"Zoho SDK, {THREADS} threads", sdk_threads),
        ("unigroups, one call after another", unigroups_sequential),
        (f"unigroups, run_batch(concurrency={CAP})", unigroups_batch),
    ]
    rates: list[tuple[str, float, int]] = []
    for name, phase in phases:
        with (
            tempfile.TemporaryDirectory(prefix="zoho-sdk-") as workdir,
            zoho_emulator("--latency", str(LATENCY), "--max-in-flight", str(CAP)) as url,
        ):
            result = phase(url, args.count, workdir)
        rate = args.count / result["elapsed"]
        rates.append((name, rate, result["rate_limited"]))
        print(f"  {name}: {rate:.0f} groups/s", flush=True)

    sdk_seq, sdk_pool = rates[0][1], rates[1][1]
    rows = [
        [name, f"{rate:.0f}", f"{rate / sdk_seq:.2f}x", f"{rate / sdk_pool:.2f}x", refused]
        for name, rate, refused in rates
    ]
    print()
    print(
        table(
            ["how", "groups/s", "÷ SDK sequential", f"÷ SDK {THREADS} threads", "429s"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
