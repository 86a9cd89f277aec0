"""How the command shows things: rich tables for people, JSON with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from ..mirror import Plan
from ..models import Group

__all__ = ["Output", "group_json"]


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


class Output:
    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def table(
        self, title: str | None, headers: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        table = Table(title=title, show_lines=False)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)

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
        self.console.print(f"[bold]{group.name}[/bold] (id {group.id})")
        if group.description:
            self.console.print(group.description)
        if not group.active:
            self.console.print("inactive")
        if group.members:
            self.table(
                None,
                ["KIND", "ID", "NAME", "SUBORDINATES"],
                [
                    (m.kind.value, m.id, m.name, "yes" if m.include_subordinates else "")
                    for m in group.members
                ],
            )

    def plan(self, plan: Plan) -> None:
        if self.as_json:
            self.json(plan.to_json())
            return
        self.table(f"{plan.source} -> {plan.target}", ["ACTION", "GROUP", "DETAILS"], plan.rows())
        self.console.print(
            f"{len(plan.operations)} changes, {len(plan.unchanged)} unchanged, "
            f"{len(plan.skipped)} skipped"
        )

    def message(self, text: str) -> None:
        if not self.as_json:
            self.console.print(text)

    def error(self, text: str) -> None:
        # Plain write: one line whatever the terminal's width (rich would wrap it).
        sys.stderr.write("unigroups: error: " + " ".join(text.split()) + "\n")
