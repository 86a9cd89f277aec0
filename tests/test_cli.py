"""The command, driven as a user would: in a subprocess, against emulators it started itself."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.command import emulator, run, zoho_target

# Every test runs the command in a subprocess (some beside emulators in their own).
pytestmark = pytest.mark.slow


@pytest.fixture
def emulated() -> Iterator[dict[str, str]]:
    """`unigroups emulate zoho` and `unigroups emulate superoffice` (its users "User N" with
    userN@example.com, N = 1..50), each in its own process."""
    with (
        emulator("zoho") as (zoho, _),
        emulator("superoffice", "--seed-users", "50") as (
            office,
            _,
        ),
    ):
        yield {"zoho": zoho, "superoffice": office}


def test_the_demo_exits_0_and_prints_its_summary() -> None:
    result = run("demo", "--groups", "40", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["groups_mirrored"] == summary["groups_in_zoho"] == 41
    assert summary["failed"] == 0
    assert summary["deborah_gill_removed_from_test_group"] is True
    assert summary["test_group_members"] == 3
    # Users travel by e-mail; the few without a SuperOffice user, and the role and territory
    # of "test group", are counted by reason; a second plan has nothing left to do.
    assert summary["members_carried"] > 0
    reasons = summary["members_not_carried_by_reason"]
    assert reasons["the target cannot hold a role"] == 1
    assert reasons["the target cannot hold a territory"] == 1
    assert reasons["the target has no user with the e-mail"] >= 1
    assert summary["members_not_carried"] == sum(reasons.values())
    assert summary["second_plan_changes"] == 0
    # Sends add up: each is a first send or a resend.
    assert summary["requests_sent"] == summary["first_sends"] + summary["resends"] > 0
    assert {"answered_429", "elapsed_seconds", "groups_per_second"} <= set(summary)


def test_backends_lists_builtins_with_capabilities() -> None:
    result = run("backends", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["zoho"]["member_kinds"] == "group, role, territory, user"
    assert rows["superoffice"]["delete"] == "soft"
    assert rows["memory"]["origin"] == "built-in"


def test_apply_then_list_on_an_emulator(emulated: dict[str, str], tmp_path: Path) -> None:
    desired = tmp_path / "groups.toml"
    desired.write_text(
        '[[groups]]\nname = "Sales"\ndescription = "EMEA"\n'
        'members = [{kind = "user", id = "3652397000000186017"}]\n'
        '[[groups]]\nname = "Support"\n'
    )
    target = zoho_target(emulated["zoho"], "test-token")
    dry = run("apply", *target, str(desired), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert [op["name"] for op in json.loads(dry.stdout)["operations"]] == ["Sales", "Support"]
    unconfirmed = run("apply", *target, str(desired))
    assert unconfirmed.returncode == 3 and "--yes" in unconfirmed.stderr
    applied = run("apply", *target, str(desired), "--yes", "--json")
    assert applied.returncode == 0, applied.stderr
    assert '"done": 2' in applied.stdout
    listed = run("list", *target, "--json")
    groups = json.loads(listed.stdout)
    assert sorted(g["name"] for g in groups) == ["Sales", "Support"]
    sales = next(g for g in groups if g["name"] == "Sales")
    shown = json.loads(run("get", *target, sales["id"], "--json").stdout)
    assert shown["members"][0]["id"] == "3652397000000186017"


def test_mirror_between_configured_targets(emulated: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "unigroups.toml").write_text(
        f'[targets.crm]\nbackend = "zoho"\napi_domain = "{emulated["zoho"]}"\n'
        'access_token = "${ZOHO_TOKEN}"\n'
        f'[targets.office]\nbackend = "superoffice"\nbase_url = "{emulated["superoffice"]}"\n'
        'username = "test-user"\npassword = "${SO_PASSWORD}"\n'
    )
    env = {"ZOHO_TOKEN": "test-token", "SO_PASSWORD": "test-password"}
    # Zoho's users 42 and 77 (user42@ and user77@example.com); the tenant has only the first.
    created = run(
        "create",
        *("crm", "Finance", "--member", "user:42", "--member", "user:77", "--json"),
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stderr
    mirrored = run("mirror", "crm", "office", "--yes", "--json", cwd=tmp_path, env=env)
    assert mirrored.returncode == 0, mirrored.stderr
    plan = json.loads(mirrored.stdout)  # the plan with its report: one document
    (create,) = plan["operations"]
    assert [m["id"] for m in create["members"]] == ["142"]  # associate 142 is "User 42"
    assert plan["skipped"] == [
        {
            "group": "Finance",
            "reason": "the target has no user with the e-mail user77@example.com",
            "member": {"kind": "user", "id": "77"},
        }
    ]
    assert plan["report"]["done"] == 1
    listed = json.loads(run("list", "office", "--json", cwd=tmp_path, env=env).stdout)
    finance = {g["name"]: g["id"] for g in listed}["Finance"]  # beside the users' "Users"
    shown = json.loads(run("get", "office", finance, "--json", cwd=tmp_path, env=env).stdout)
    assert [(m["kind"], m["id"]) for m in shown["members"]] == [("user", "142")]
    # Matching off: Zoho's ids are carried as they are (and would replace User 42).
    unmatched = run(
        *("mirror", "crm", "office", "--match-users", "none", "--dry-run", "--json"),
        cwd=tmp_path,
        env=env,
    )
    assert unmatched.returncode == 0, unmatched.stderr
    (update,) = json.loads(unmatched.stdout)["operations"]
    assert sorted(m["id"] for m in update["add"]) == ["42", "77"]
    assert [m["id"] for m in update["remove"]] == ["142"]
    missing_env = run("list", "office", cwd=tmp_path)
    assert missing_env.returncode == 2
    assert missing_env.stderr.count("\n") == 1 and "SO_PASSWORD" in missing_env.stderr


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["list", "--backend", "zoho", "--option", "acess_token=x"], "Did you mean 'access_token'"),
        (
            ["list", "--backend", "zoho", "--option", "dc=mars", "--option", "access_token=x"],
            "dc must be one of",
        ),
        (["list", "--backend", "nosuch"], "no backend named 'nosuch'"),
        (["list", "nowhere"], "no target named 'nowhere'"),
        (["list", "--config", "missing.toml", "x"], "does not exist"),
        (["list", "--bogus-flag"], "unrecognized arguments"),
        (["create", "--backend", "memory", "  "], "name: must not be empty"),
        (["create", "--backend", "memory", "g", "--member", "team:1"], "is not a member kind"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str], text: str, tmp_path: Path) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("unigroups: error: ")
    assert text in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "unigroups.toml").write_text("[targets.x\nbackend=")
    result = run("list", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not valid TOML" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("list", "--backend", "nosuch", "--debug", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_a_vendor_refusal_is_exit_1(emulated: dict[str, str]) -> None:
    target = zoho_target(emulated["zoho"], "wrong")
    result = run("list", *target)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "INVALID_TOKEN" in result.stderr
    assert "wrong" not in result.stderr
