"""The command's subcommands: each takes parsed arguments and an Output, returns an exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import attrs

from .. import registry
from ..backends.memory import MemoryBackend
from ..batch import BatchReport, StopWhenUnreachable, run_batch
from ..errors import ConfigurationError, TransportError, ValidationError
from ..http import RetryPolicy
from ..mirror import Plan, plan
from ..models import UNSET, Group, GroupChanges, Member
from ..protocol import GroupBackend
from ..targets import read_config
from .desired import desired_groups
from .files import read_desired, read_json
from .output import Output
from .progress import progress_bar
from .targets import target_options

__all__ = ["COMMANDS", "JOBS", "run_job"]

Command = Callable[[argparse.Namespace, Output], Coroutine[Any, Any, int]]
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DECLINED = 0, 1, 2, 3


def open_target(
    args: argparse.Namespace, name: str | None, *, extra: Mapping[str, Any] | None = None
) -> GroupBackend:
    """The backend a target names (or --backend), with --option and ``extra`` options."""
    backend, options = target_options(
        read_config(args.config), name, getattr(args, "backend", None), getattr(args, "option", [])
    )
    return registry.open_backend(backend, {**options, **(extra or {})})


def parse_member(text: str) -> Member:
    kind, sep, member_id = text.partition(":")
    if not sep:
        raise ValidationError(
            f"a member is kind:id (user:42, role:7), not {text!r}", field="member"
        )
    subordinates = member_id.endswith("+")
    return Member(kind, member_id.removesuffix("+"), include_subordinates=subordinates)


async def cmd_backends(args: argparse.Namespace, out: Output) -> int:
    rows = []
    for name in registry.backend_names():
        try:
            cls: Any = registry.backend_class(name)
            caps = cls.capabilities
            kinds = ", ".join(sorted(k.value for k in caps.member_kinds)) or "none"
            rows.append(
                {
                    "name": name,
                    "origin": registry.backend_origin(name),
                    "member_kinds": kinds,
                    "subordinates": caps.subordinates,
                    "delete": "hard" if caps.hard_delete else "soft",
                    "rank": caps.rank,
                    "name_max_length": caps.name_max_length,
                }
            )
        except ConfigurationError as exc:
            rows.append({"name": name, "origin": registry.backend_origin(name), "error": str(exc)})
    if out.as_json:
        out.json(rows)
        return EXIT_OK
    headers = [
        "name",
        "origin",
        "member_kinds",
        "subordinates",
        "delete",
        "rank",
        "name_max_length",
    ]
    out.table(
        "Backends",
        [h.upper().replace("_", " ") for h in headers],
        [
            [
                row.get(h, row.get("error", ""))
                if h != "member_kinds"
                else row.get(h, row.get("error"))
                for h in headers
            ]
            for row in rows
        ],
    )
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    from .demo import run_demo

    return await run_demo(out, groups=args.groups, latency=args.latency)


async def cmd_list(args: argparse.Namespace, out: Output) -> int:
    async with open_target(args, args.target) as backend:
        groups = [g async for g in backend.groups(include_inactive=args.inactive)]
    out.groups(groups)
    return EXIT_OK


async def cmd_get(args: argparse.Namespace, out: Output) -> int:
    async with open_target(args, args.target) as backend:
        out.group(await backend.get(args.id))
    return EXIT_OK


async def cmd_create(args: argparse.Namespace, out: Output) -> int:
    group = Group(
        name=args.name,
        description=args.description,
        members=tuple(parse_member(m) for m in args.member),
        rank=args.rank,
    )
    async with open_target(args, args.target) as backend:
        out.group(await backend.create(group))
    return EXIT_OK


async def cmd_update(args: argparse.Namespace, out: Output) -> int:
    description: str | Any | None = UNSET
    if args.clear_description:
        description = None
    elif args.description is not None:
        description = args.description
    changes = GroupChanges(
        name=args.name,
        description=description,
        add=tuple(parse_member(m) for m in args.add),
        remove=tuple(parse_member(m) for m in args.remove),
        rank=args.rank,
    )
    if not changes:
        raise ValidationError("nothing to change: give --name, --description, --add or --remove")
    async with open_target(args, args.target) as backend:
        out.group(await backend.update(args.id, changes))
    return EXIT_OK


async def cmd_delete(args: argparse.Namespace, out: Output) -> int:
    async with open_target(args, args.target) as backend:
        await backend.delete(args.id)
    if out.as_json:
        out.json({"deleted": args.id})
    else:
        out.message(f"deleted {args.id}")
    return EXIT_OK


class _Staging(MemoryBackend):
    """Where a desired-state file's groups are staged as a source: names told apart exactly
    (the file was checked under the target's own case rules already)."""

    capabilities = attrs.evolve(MemoryBackend.capabilities, names_case_sensitive=True)


@attrs.frozen
class Job:
    """A planned ``apply`` or ``mirror``: the plan, and the open target it is for."""

    plan: Plan
    target: GroupBackend


JobPlanner = Callable[[argparse.Namespace, contextlib.AsyncExitStack], Coroutine[Any, Any, Job]]


def _job_options(args: argparse.Namespace) -> dict[str, Any]:
    """Transport options given on the command line for a job (checked by the backend)."""
    given = {"max_attempts": args.max_attempts, "max_wait": args.max_wait}
    return {k: v for k, v in given.items() if v is not None}


async def plan_apply(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Job:
    state = read_desired(args.file)  # refused before any connection is made
    target = await stack.enter_async_context(
        open_target(args, args.target, extra=_job_options(args))
    )
    source = _Staging()
    for group in await desired_groups(state, target, args.file):
        await source.create(group)
    # The file names the target's own users: their ids are carried as written.
    the_plan = await plan(source, target, match_users=None, delete_missing=args.delete_missing)
    return Job(attrs.evolve(the_plan, source=args.file), target)


async def plan_mirror(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Job:
    member_map = read_member_map(args.member_map) if args.member_map else None
    options = _job_options(args)
    source = await stack.enter_async_context(open_target(args, args.source, extra=options))
    target = await stack.enter_async_context(open_target(args, args.target, extra=options))
    the_plan = await plan(
        source,
        target,
        member_map=member_map,
        match_users=None if args.match_users == "none" else "email",
        delete_missing=args.delete_missing,
    )
    return Job(the_plan, target)


def confirm(question: str) -> bool:
    """Ask on the terminal, with no event loop running: Ctrl-C raises KeyboardInterrupt at
    once (exit 130), and Ctrl-D (the end of input) is "no"."""
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:
        sys.stderr.write("\n")
    return answer.strip().lower() in {"y", "yes"}


def run_job(
    runner: asyncio.Runner, planner: JobPlanner, args: argparse.Namespace, out: Output
) -> int:
    """Plan, show the plan, ask (between two runs of the loop, none running), apply."""
    stack = contextlib.AsyncExitStack()
    try:
        job = runner.run(planner(args, stack))
        return _confirm_and_apply(runner, args, out, job)
    finally:
        runner.run(stack.aclose())


def _confirm_and_apply(
    runner: asyncio.Runner, args: argparse.Namespace, out: Output, job: Job
) -> int:
    the_plan = job.plan
    if not out.as_json:
        out.plan(the_plan)
    if args.dry_run or not the_plan.operations:
        out.job(the_plan, None)
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            out.job(the_plan, None)
            out.error("the plan needs confirmation: run again with --yes (or --dry-run)")
            return EXIT_DECLINED
        if out.as_json:  # standard output is for the one document: the plan goes to stderr
            out.plan(the_plan, to_errors=True)
        question = f"Apply {len(the_plan.operations)} changes to {the_plan.target}? [y/N] "
        if not confirm(question):
            out.note("Nothing applied.")
            out.job(the_plan, None)
            return EXIT_DECLINED
    report = runner.run(_execute(args, job))
    out.job(the_plan, report)
    return EXIT_OK if report.ok else EXIT_FAILED


async def _execute(args: argparse.Namespace, job: Job) -> BatchReport:
    policy: RetryPolicy | None = getattr(job.target, "retry_policy", None)
    # As many sends in a row as one request may make: once one operation has spent its
    # whole budget on a target that cannot be reached, and nothing succeeded meanwhile.
    unreachable = StopWhenUnreachable((policy or RetryPolicy()).attempts)
    label = f"Applying to {job.plan.target}"
    with progress_bar(len(job.plan.operations), label, interval=args.progress_interval) as bar:
        try:
            return await run_batch(
                job.target,
                job.plan.operations,
                concurrency=args.concurrency,
                journal=args.journal,
                on_progress=bar,
                stop_when=unreachable,
            )
        except TransportError as exc:
            if unreachable.in_a_row < unreachable.limit:
                raise
            again = f" (with --journal {args.journal})" if args.journal else ""
            exc.message = f"{exc.message}; run the same command again{again} to resume"
            raise


def read_member_map(path: str) -> dict[str, str]:
    """A JSON object mapping "kind:id" (or a bare id) in the source to an id in the target."""
    member_map = read_json(path, "the member map")
    if not isinstance(member_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in member_map.items()
    ):
        raise ConfigurationError(
            f'the member map {path} must be a JSON object of "kind:id": "id" strings',
            option="member-map",
        )
    return member_map


def cmd_emulate(args: argparse.Namespace, out: Output) -> int:
    """Serve an emulator until interrupted (runs its own event loop, so it is not async)."""
    if args.vendor == "zoho":
        from ..testing import zoho_emulator as module
    else:
        from ..testing import superoffice_emulator as module  # type: ignore[no-redef]
    argv = ["--port", str(args.port), "--latency", str(args.latency), "--token", args.token]
    if args.max_in_flight is not None:
        argv += ["--max-in-flight", str(args.max_in_flight)]
    if args.vendor == "zoho":
        argv += [
            "--seed-groups",
            str(args.seed_groups),
            "--name-max-length",
            str(args.name_max_length),
            "--description-max-length",
            str(args.description_max_length),
            "--max-sources-per-request",
            str(args.max_sources_per_request),
            "--test-max-groups-per-request",
            str(args.max_groups_per_request),
        ]
    else:
        argv += ["--seed-users", str(args.seed_users)]
        if args.users_file:
            argv += ["--users-file", args.users_file]
        if args.no_user_management:
            argv.append("--no-user-management")
    try:
        module.main(argv)
    except OSError as exc:  # the port is taken, or not ours to bind
        reason = " ".join((exc.strerror or str(exc) or type(exc).__name__).split())
        out.error(f"cannot serve the {args.vendor} emulator on 127.0.0.1:{args.port}: {reason}")
        return EXIT_FAILED
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "backends": cmd_backends,
    "demo": cmd_demo,
    "list": cmd_list,
    "get": cmd_get,
    "create": cmd_create,
    "update": cmd_update,
    "delete": cmd_delete,
}

#: Subcommands that plan, ask and apply: run by ``run_job``.
JOBS: dict[str, JobPlanner] = {"apply": plan_apply, "mirror": plan_mirror}
