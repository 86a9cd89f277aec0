"""What the command prints is data, never markup; --json is exactly one JSON document."""

import json
from pathlib import Path

import pytest

from .command import one_error_line, run, zoho_target

pytestmark = pytest.mark.slow

MARKUP_NAMES = ["Ops [/x] team", "[red]Ops[/red]", "[bold]", "a [link=http://x]b[/link]"]


def test_names_that_look_like_markup_are_created_listed_and_shown_as_they_are(zoho: str) -> None:
    target = zoho_target(zoho)
    for name in MARKUP_NAMES:
        created = run("create", *target, name, "--description", "[i]desc[/i]")
        assert created.returncode == 0, created.stderr
        assert created.stderr == ""
        assert f"{name} (id " in created.stdout
        assert "[i]desc[/i]" in created.stdout
    listed = run("list", *target)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    for name in MARKUP_NAMES:
        assert name in listed.stdout
    as_json = json.loads(run("list", *target, "--json").stdout)
    assert sorted(g["name"] for g in as_json) == sorted(MARKUP_NAMES)


def test_a_plan_and_its_report_show_markup_names_verbatim(zoho: str, tmp_path: Path) -> None:
    desired = tmp_path / "groups.json"
    desired.write_text(json.dumps({"groups": [{"name": n} for n in MARKUP_NAMES]}))
    result = run("apply", *zoho_target(zoho), str(desired), "--yes")
    assert result.returncode == 0, result.stderr
    for name in MARKUP_NAMES:
        assert name in result.stdout
    assert "4 operations: 4 done, 0 failed" in result.stdout


def test_a_failure_shows_the_vendors_words_verbatim(zoho: str) -> None:
    target = zoho_target(zoho)
    assert run("create", *target, "[red]taken[/red]").returncode == 0
    again = run("create", *target, "[red]taken[/red]")
    assert again.returncode == 1
    assert "DUPLICATE_DATA" in one_error_line(again)


def test_apply_json_is_one_document_with_the_plan_and_its_report(zoho: str, tmp_path: Path) -> None:
    desired = tmp_path / "groups.toml"
    desired.write_text('[[groups]]\nname = "Sales"\n[[groups]]\nname = "Support"\n')
    target = zoho_target(zoho)
    dry = run("apply", *target, str(desired), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert [op["name"] for op in planned["operations"]] == ["Sales", "Support"]
    assert planned["report"] is None
    applied = run("apply", *target, str(desired), "--yes", "--json")
    assert applied.returncode == 0, applied.stderr
    document = json.loads(applied.stdout)  # one document: json.loads reads it whole
    assert [op["action"] for op in document["operations"]] == ["create", "create"]
    assert document["report"]["done"] == 2
    assert document["report"]["already_done"] == 0
    nothing = json.loads(run("apply", *target, str(desired), "--yes", "--json").stdout)
    assert nothing["operations"] == [] and nothing["unchanged"] == ["Sales", "Support"]
    assert nothing["report"] is None


def test_an_unconfirmed_json_plan_is_still_one_document_and_exit_3(
    zoho: str, tmp_path: Path
) -> None:
    desired = tmp_path / "groups.json"
    desired.write_text('{"groups": [{"name": "Sales"}]}')
    result = run("apply", *zoho_target(zoho), str(desired), "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["report"] is None
    assert "--yes" in one_error_line(result)
