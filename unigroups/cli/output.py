"""How the command shows things: rich tables for people, one JSON document with --json.

Every value shown is data, never markup: names such as ``[red]Ops[/red]`` or ``Ops [/x]
team`` are printed as they are (``rich.text.Text``), in tables, titles, plans and messages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..batch import BatchReport
from ..mirror import Plan
from ..models import Group

__all__ = ["Output", "group_json", "report_json"]


def group_json(group: Group) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "active": group.active,
    }
    if group.rank is not None:
        data["rank"] = group.rank
    if group.members is not None:
        data["members"] = [
            {
                "kind": m.kind.value,
                "id": m.id,
                "name": m.name,
                "include_subordinates": m.include_subordinates,
            }
            for m in group.members
        ]
    return data


def report_json(report: BatchReport) -> dict[str, Any]:
    return {
        "done": report.done,
        "failed": report.failed,
        # Operations an earlier run did, by the journal; not the plan's skipped members.
        "already_done": report.skipped,
        "retried": report.retried,
        "elapsed": round(report.elapsed, 3),
        "failures": [{"key": o.key, "error": str(o.error)} for o in report.failures],
    }


def _cell(value: Any) -> Text:
    return Text("" if value is None else str(value))


class Output:
    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False)
        self.errors = Console(stderr=True, highlight=False)

    def json(self, data: Any) -> None:
        """One JSON document on standard output."""
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def table(
        self,
        title: str | None,
        headers: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        to_errors: bool = False,
    ) -> None:
        table = Table(title=None if title is None else Text(title), show_lines=False)
        for header in headers:
            table.add_column(Text(header))
        for row in rows:
            table.add_row(*(_cell(cell) for cell in row))
        (self.errors if to_errors else self.console).print(table)

    def groups(self, groups: Sequence[Group]) -> None:
        if self.as_json:
            self.json([group_json(g) for g in groups])
            return
        self.table(
            None,
            ["ID", "NAME", "DESCRIPTION", "ACTIVE"],
            [(g.id, g.name, g.description, "yes" if g.active else "no") for g in groups],
        )

    def group(self, group: Group) -> None:
        if self.as_json:
            self.json(group_json(group))
            return
        self.console.print(Text.assemble((group.name, "bold"), f" (id {group.id})"))
        if group.description:
            self.console.print(Text(group.description))
        if not group.active:
            self.console.print(Text("inactive"))
        if group.members:
            self.table(
                None,
                ["KIND", "ID", "NAME", "SUBORDINATES"],
                [
                    (m.kind.value, m.id, m.name, "yes" if m.include_subordinates else "")
                    for m in group.members
                ],
            )

    def plan(self, plan: Plan, *, to_errors: bool = False) -> None:
        """The plan as a table (on standard error with ``to_errors``: --json keeps standard
        output for the one document)."""
        self.table(
            f"{plan.source} -> {plan.target}",
            ["ACTION", "GROUP", "DETAILS"],
            plan.rows(),
            to_errors=to_errors,
        )
        (self.errors if to_errors else self.console).print(
            Text(
                f"{len(plan.operations)} changes, {len(plan.unchanged)} unchanged, "
                f"{len(plan.skipped)} skipped"
            )
        )

    def job(self, plan: Plan, report: BatchReport | None) -> None:
        """What ``apply`` and ``mirror`` print: with --json, one document, the plan with its
        report (null when nothing was applied); else the report (the plan was shown)."""
        if self.as_json:
            self.json({**plan.to_json(), "report": None if report is None else report_json(report)})
            return
        if report is not None:
            self.message(str(report))
            for outcome in report.failures:
                self.error(f"{outcome.key}: {outcome.error}")

    def message(self, text: str) -> None:
        if not self.as_json:
            self.console.print(Text(text))

    def note(self, text: str) -> None:
        """A line for the person at the terminal, on standard error (never in JSON)."""
        sys.stderr.write(" ".join(text.split()) + "\n")

    def error(self, text: str) -> None:
        # Plain write: one line whatever the terminal's width (rich would wrap it).
        sys.stderr.write("unigroups: error: " + " ".join(text.split()) + "\n")
