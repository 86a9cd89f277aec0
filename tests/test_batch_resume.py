"""A batch job really killed (SIGKILL) part-way, then run again, ends in the intended state."""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from unigroups.testing.faults import FaultPolicy
from unigroups.testing.server import serve
from unigroups.testing.zoho_emulator import ZohoEmulator

pytestmark = pytest.mark.slow  # seconds to minutes each: CI runs it, the quick run skips it

JOB = Path(__file__).parent / "jobs" / "create_groups.py"
COUNT = 300


def done_lines(journal: Path) -> int:
    if not journal.exists():
        return 0
    return journal.read_text().count('"state": "done"')


async def test_a_job_killed_with_sigkill_resumes_without_duplicates(tmp_path: Path) -> None:
    emulator = ZohoEmulator(faults=FaultPolicy(latency=0.02))
    journal = tmp_path / "job.jsonl"
    async with serve(emulator.make_app()) as url:
        args = [sys.executable, str(JOB), url, str(journal), str(COUNT)]
        first = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
        for _ in range(600):  # wait until it is well under way, at most 30 s
            if done_lines(journal) >= 40:
                break
            await asyncio.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
        killed_at = len(emulator.groups)
        assert 40 <= killed_at < COUNT, "the job was not killed part-way"

        second = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
        out, _ = await second.communicate()
        assert second.returncode == 0
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["failed"] == 0
    assert summary["done"] + summary["skipped"] == COUNT
    assert summary["skipped"] >= 40
    names = sorted(g.name for g in emulator.groups.values())
    assert names == [f"job group {i:04d}" for i in range(COUNT)], "a group is missing or doubled"
    creates = [r for r in emulator.requests if r.method == "POST"]
    assert len(creates) < COUNT + 8, "the resumed job sent creates it had already done"
