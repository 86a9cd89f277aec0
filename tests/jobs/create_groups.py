"""A batch job run as its own process by the kill-and-resume test.

usage: create_groups.py API_DOMAIN JOURNAL COUNT
"""

import asyncio
import json
import sys

from unigroups import Group, open_backend
from unigroups.batch import Create, run_batch


async def main(api_domain: str, journal: str, count: int) -> None:
    ops = [Create(Group(name=f"job group {i:04d}")) for i in range(count)]
    async with open_backend("zoho", api_domain=api_domain, access_token="test-token") as backend:
        report = await run_batch(backend, ops, concurrency=4, journal=journal)
    summary = {"done": report.done, "failed": report.failed, "skipped": report.skipped}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
