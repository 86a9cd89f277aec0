"""The command's subcommands: each takes parsed arguments and an Output, returns an exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tomllib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import attrs

from .. import registry
from ..backends.memory import MemoryBackend
from ..batch import BatchReport
from ..errors import ConfigurationError, ValidationError
from ..mirror import Plan, apply, plan
from ..models import UNSET, Group, GroupChanges, Member
from ..protocol import GroupBackend
from .output import Output
from .progress import progress_bar
from .targets import load_config, target_options

__all__ = ["COMMANDS"]

Command = Callable[[argparse.Namespace, Output], Coroutine[Any, Any, int]]
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DECLINED = 0, 1, 2, 3


def open_target(args: argparse.Namespace, name: str | None) -> GroupBackend:
    backend, options = target_options(
        load_config(args.config), name, getattr(args, "backend", None), getattr(args, "option", [])
    )
    return registry.open_backend(backend, options)


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


def read_desired(path: str) -> list[Group]:
    """The desired groups from a JSON or TOML file: ``groups = [{name, description, members}]``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}", option="file") from None
    except ValueError as exc:
        raise ConfigurationError(
            f"{path} is not valid {file.suffix[1:] or 'JSON'}: {exc}", option="file"
        ) from None
    items = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigurationError(f"{path} needs a list named 'groups'", option="file")
    groups = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValidationError(f"groups[{n}] needs a name", field="groups")
        members = []
        for m in item.get("members", []):
            if not isinstance(m, dict):
                raise ValidationError(
                    f"groups[{n}].members holds {{kind, id}} tables", field="members"
                )
            members.append(
                Member(
                    m.get("kind"),
                    m.get("id", ""),
                    m.get("name"),
                    bool(m.get("include_subordinates", False)),
                )
            )
        groups.append(
            Group(name=item["name"], description=item.get("description"), members=tuple(members))
        )
    return groups


async def _confirm_and_apply(
    args: argparse.Namespace, out: Output, the_plan: Plan, target: GroupBackend
) -> int:
    out.plan(the_plan)
    if args.dry_run or not the_plan.operations:
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            out.error("the plan needs confirmation: run again with --yes (or --dry-run)")
            return EXIT_DECLINED
        question = f"Apply {len(the_plan.operations)} changes to {the_plan.target}? [y/N] "
        answer = await asyncio.to_thread(input, question)
        if answer.strip().lower() not in {"y", "yes"}:
            out.message("Nothing applied.")
            return EXIT_DECLINED
    with progress_bar(
        len(the_plan.operations), f"Applying to {the_plan.target}", quiet=out.as_json
    ) as bar:
        report = await apply(the_plan, target, journal=args.journal, on_progress=bar)
    return _report(report, out)


def _report(report: BatchReport, out: Output) -> int:
    if out.as_json:
        out.json(
            {
                "done": report.done,
                "failed": report.failed,
                "skipped": report.skipped,
                "retried": report.retried,
                "elapsed": round(report.elapsed, 3),
                "failures": [{"key": o.key, "error": str(o.error)} for o in report.failures],
            }
        )
    else:
        out.message(str(report))
        for outcome in report.failures:
            out.error(f"{outcome.key}: {outcome.error}")
    return EXIT_OK if report.ok else EXIT_FAILED


async def cmd_apply(args: argparse.Namespace, out: Output) -> int:
    source = MemoryBackend()
    for group in read_desired(args.file):
        await source.create(group)
    async with open_target(args, args.target) as target:
        # The file names the target's own users: their ids are carried as written.
        the_plan = await plan(source, target, match_users=None, delete_missing=args.delete_missing)
        the_plan = attrs.evolve(the_plan, source=args.file)
        return await _confirm_and_apply(args, out, the_plan, target)


async def cmd_mirror(args: argparse.Namespace, out: Output) -> int:
    member_map = read_member_map(args.member_map) if args.member_map else None
    async with open_target(args, args.source) as source, open_target(args, args.target) as target:
        the_plan = await plan(
            source, target, member_map=member_map, delete_missing=args.delete_missing
        )
        return await _confirm_and_apply(args, out, the_plan, target)


def read_member_map(path: str) -> dict[str, str]:
    """A JSON object mapping "kind:id" (or a bare id) in the source to an id in the target."""
    try:
        member_map = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read the member map {path}: {exc}", option="member-map"
        ) from None
    if not isinstance(member_map, dict) or not all(isinstance(v, str) for v in member_map.values()):
        raise ConfigurationError(
            'the member map is a JSON object of "kind:id": "id"', option="member-map"
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
    module.main(argv)
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "backends": cmd_backends,
    "demo": cmd_demo,
    "list": cmd_list,
    "get": cmd_get,
    "create": cmd_create,
    "update": cmd_update,
    "delete": cmd_delete,
    "apply": cmd_apply,
    "mirror": cmd_mirror,
}
