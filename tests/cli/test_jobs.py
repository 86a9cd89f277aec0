"""apply and mirror as long jobs: they stop when the target is gone, show progress when no
terminal watches, and log what the network did with -v."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from .command import PYTHON, emulator, one_error_line, run, zoho_target

pytestmark = pytest.mark.slow

PROGRESS = re.compile(r"^Applying to zoho: (\d+)/(\d+) finished, (\d+) failed, [0-9.]+/s")


def desired(tmp_path: Path, count: int, prefix: str = "group") -> Path:
    path = tmp_path / f"{prefix}.json"
    path.write_text(json.dumps({"groups": [{"name": f"{prefix} {n:03d}"} for n in range(count)]}))
    return path


def test_a_target_gone_mid_job_stops_it_with_one_line_naming_the_host(tmp_path: Path) -> None:
    journal = tmp_path / "job.jsonl"
    with emulator("zoho", "--latency", "0.1") as (url, server):
        job = subprocess.Popen(
            [
                *PYTHON,
                "apply",
                *zoho_target(url),
                str(desired(tmp_path, 40)),
                "--yes",
                *("--concurrency", "1", "--max-attempts", "2", "--journal", str(journal)),
                *("--progress-interval", "0.2"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert job.stderr is not None
        lines = []
        for line in job.stderr:  # progress lines, every 0.2 s
            lines.append(line)
            match = PROGRESS.match(line)
            if match and int(match.group(1)) >= 2:
                break
        server.terminate()  # the target goes down mid-job
        server.wait(timeout=10)
        _out, rest = job.communicate(timeout=60)
    lines += rest.splitlines(keepends=True)
    assert job.returncode == 1, "".join(lines)
    assert "Traceback" not in "".join(lines)
    last = lines[-1]
    port = url.rsplit(":", 1)[1]
    assert last.startswith(
        "unigroups: error: [zoho] stopped: the target could not be reached for 2 sends in a row"
    )
    assert f"cannot connect to 127.0.0.1:{port}" in last
    assert f"run the same command again (with --journal {journal}) to resume" in last
    assert '"state": "done"' in journal.read_text()


def test_a_target_that_cannot_be_reached_at_all_is_one_line_naming_it() -> None:
    target = zoho_target("http://127.0.0.1:9")
    result = run("list", *target, "--option", "max_attempts=2")
    assert result.returncode == 1
    assert "cannot connect to 127.0.0.1:9" in one_error_line(result)


def test_without_a_terminal_progress_is_a_line_every_few_seconds(tmp_path: Path) -> None:
    with emulator("zoho", "--latency", "0.05") as (url, _server):
        result = run(
            "apply",
            *zoho_target(url),
            str(desired(tmp_path, 20)),
            "--yes",
            "--concurrency",
            "1",
            "--progress-interval",
            "0.1",
        )
    assert result.returncode == 0, result.stderr
    progress = [PROGRESS.match(line) for line in result.stderr.splitlines()]
    assert all(progress), result.stderr  # nothing but progress lines on stderr
    assert len(progress) >= 2  # lines while it ran, and one at the end
    finished = [int(m.group(1)) for m in progress if m]
    assert finished == sorted(finished) and finished[-1] == 20
    assert result.stderr.splitlines()[-1].startswith("Applying to zoho: 20/20 finished, 0 failed")


def test_verbose_logs_429_waits_and_throttle_changes_but_never_the_token(tmp_path: Path) -> None:
    token = "s3cr3t-t0ken-value"
    job = ["--yes", "--concurrency", "6"]
    with emulator("zoho", "--max-in-flight", "1", "--latency", "0.05", "--token", token) as (
        url,
        _server,
    ):
        target = zoho_target(url, token)
        quiet = run("apply", *target, str(desired(tmp_path, 12)), *job)
        assert quiet.returncode == 0, quiet.stderr
        assert "unigroups: " not in quiet.stderr  # without -v: progress lines only
        verbose = run("apply", *target, str(desired(tmp_path, 12, "more")), *job, "-vv")
    assert verbose.returncode == 0, verbose.stderr
    log = verbose.stderr
    assert re.search(
        r"unigroups: WARNING unigroups\.http: zoho: POST /crm/v8/settings/user_groups: "
        r"answered 429 \(too many requests\); waiting [0-9.]+ s, then send 2 of 6",
        log,
    ), log
    assert "unigroups: INFO unigroups.http.throttle: limit 10 -> " in log
    assert "unigroups: DEBUG unigroups.http: POST /crm/v8/settings/user_groups -> 201" in log
    assert token not in log and token not in verbose.stdout
