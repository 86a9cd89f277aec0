"""A Celery app serving unigroups jobs on emulated Zoho orgs, for tests and benchmarks.

Worker processes run it with ``celery -A unigroups.testing.celery_app worker``; it reads its
settings from the environment ``CeleryWorkers`` gives them. The test (or benchmark) process
builds the same app with ``make_jobs`` to submit jobs. Target ``orgN`` is the N-th emulator
URL; the targets' options live here, on the workers' side, as in a deployment.
"""

from __future__ import annotations

import json
import os

from celery import Celery

from unigroups.distributed.celery import CeleryJobs

__all__ = ["make_jobs"]


def make_jobs(
    redis_url: str,
    emulators: list[str],
    *,
    cap: int = 10,
    lease: float = 5.0,
    visibility_timeout: float = 8.0,
    concurrency: int = 10,
) -> CeleryJobs:
    """The app and its job tasks: broker, results, journals and limits all on ``redis_url``."""
    app = Celery("unigroups_testing", broker=redis_url, backend=redis_url)
    app.conf.update(
        # A part taken by a worker that died is delivered again once it has been unacknowledged
        # this many seconds, found by a sweep every second (kombu's default sweeps every
        # 10 x 10 s).
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    targets = {
        f"org{number}": {
            "backend": "zoho",
            "api_domain": url,
            "access_token": "${UNIGROUPS_EMULATOR_TOKEN}",  # from the worker's environment
            "max_concurrency": cap,
            "throttle": "fixed",
            "max_batch": 1,  # one create per request: the cap is what is measured
        }
        for number, url in enumerate(emulators)
    }
    return CeleryJobs(
        app,
        redis_url=redis_url,
        targets=targets,
        lease=lease,
        retry_every=0.5,
        concurrency=concurrency,
    )


if "UNIGROUPS_WORKER_REDIS" in os.environ:
    jobs = make_jobs(
        os.environ["UNIGROUPS_WORKER_REDIS"],
        json.loads(os.environ.get("UNIGROUPS_WORKER_EMULATORS", "[]")),
        cap=int(os.environ.get("UNIGROUPS_WORKER_CAP", "10")),
        lease=float(os.environ.get("UNIGROUPS_WORKER_LEASE", "5")),
        visibility_timeout=float(os.environ.get("UNIGROUPS_WORKER_VISIBILITY", "8")),
        concurrency=int(os.environ.get("UNIGROUPS_WORKER_CONCURRENCY", "10")),
    )
    app = jobs.app
