"""Every input path of the command: one line and the right exit code, nothing sent."""

import json
import socket
from pathlib import Path

import pytest

from .command import emulator, one_error_line, run, zoho_target

pytestmark = pytest.mark.slow


def listed(url: str) -> list[dict[str, object]]:
    result = run("list", *zoho_target(url), "--json")
    assert result.returncode == 0, result.stderr
    groups: list[dict[str, object]] = json.loads(result.stdout)
    return groups


# -- the environment ---------------------------------------------------------------------------


def test_emulate_on_a_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("emulate", "zoho", "--port", str(port), timeout=30)
    assert result.returncode == 1
    line = one_error_line(result)
    assert f"cannot serve the zoho emulator on 127.0.0.1:{port}" in line
    assert "in use" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["emulate", "zoho", "--port", "70000"], "not a port number"),
        (["emulate", "zoho", "--latency", "nan"], "not a finite number"),
        (["emulate", "zoho", "--max-in-flight", "0"], "at least 1"),
        (["demo", "--groups", "-1"], "at least 0"),
        (["apply", "--backend", "memory", "x.toml", "--concurrency", "0"], "at least 1"),
        (["apply", "--backend", "memory", "x.toml", "--max-wait", "inf"], "not a finite"),
        (["mirror", "a", "b", "--max-attempts", "2.5"], "at least 1"),
    ],
)
def test_a_bad_number_on_the_command_line_is_exit_2(
    args: list[str], says: str, tmp_path: Path
) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert says in one_error_line(result)


def test_a_folder_as_config_is_one_line(tmp_path: Path) -> None:
    result = run("list", "x", "--config", str(tmp_path))
    assert result.returncode == 2
    assert f"{tmp_path} is a folder, not a file" in one_error_line(result)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        (
            "unigroups.yaml",
            "targets:\n  x: {backend: memory}\n",
            "is YAML; this file is read as TOML",
        ),
        ("unigroups.toml", "targets:\n  x: {backend: memory}\n", "is not valid TOML"),
        ("unigroups.toml", b"\xff\xfe[targets]", "is not UTF-8 text"),
        ("unigroups.toml", '[target.x]\nbackend = "memory"\n', "Did you mean 'targets'?"),
        ("unigroups.toml", "[targets]\nx = 5\n", "targets.x must be a table, not 5"),
        ("unigroups.toml", '[targets.x]\nbackend = "memory"\npage_size = "9"\n', "page_size"),
    ],
)
def test_a_bad_config_file_is_one_line_and_exit_2(
    name: str, content: str | bytes, says: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = run("list", "x", "--config", str(path))
    assert result.returncode == 2
    assert says in one_error_line(result)


def test_an_unreadable_desired_state_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for path, says in (
        (tmp_path / "file" / "groups.toml", "Not a directory"),  # root reads any mode
        (tmp_path / ("x" * 300 + ".toml"), "File name too long"),
        (tmp_path, "is a folder, not a file"),
        (tmp_path / "missing.json", "does not exist"),
    ):
        result = run("apply", "--backend", "memory", str(path), "--dry-run")
        assert result.returncode == 2, result.stderr
        assert says in one_error_line(result)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("groups.yaml", "groups:\n  - name: Sales\n", "is YAML; this file is read as TOML or JSON"),
        ("groups.yml", "groups: []\n", "(YAML is not read)"),
        ("groups.json", "groups:\n  - name: Sales\n", "is not valid JSON (a .toml name is read"),
        ("groups.toml", "[[groups]\n", "is not valid TOML"),
    ],
)
def test_a_desired_state_file_in_another_format_says_which_formats_are_read(
    name: str, content: str, says: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(content)
    result = run("apply", "--backend", "memory", str(path), "--dry-run")
    assert result.returncode == 2
    assert says in one_error_line(result)


# -- strict desired-state files ---------------------------------------------------------------

MEMBER = '{kind = "user", id = "3652397000000186017"}'


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (
            f'[[groups]]\nname = "Sales"\nmember = [{MEMBER}]\n',
            "groups[0]: unknown key 'member'; known keys are name, description, members. "
            "Did you mean 'members'?",
        ),
        (
            '[[groups]]\nname = "Sales"\nmembers = [{kind = "role", id = "3652397000000026008", '
            'include_subordinates = "false"}]\n',
            "groups[0].members[0].include_subordinates must be true or false, not 'false'",
        ),
        (
            '[[groups]]\nname = "Sales"\nmembers = [{kind = "user", idd = "1"}]\n',
            "Did you mean 'id'?",
        ),
        ('[[group]]\nname = "Sales"\n', "unknown key 'group'; known keys are groups."),
        ('[[groups]]\ndescription = "x"\n', "groups[0]: the key 'name' is missing"),
        ("[[groups]]\nname = 5\n", "groups[0].name must be a string, not 5"),
        ('groups = "Sales"\n', "groups must be a list, not 'Sales'"),
        (
            f'[[groups]]\nname = "Sales"\n[[groups]]\nname = "SALES"\nmembers = [{MEMBER}]\n',
            "groups[0] 'Sales' and groups[1] 'SALES' are one name at zoho, which ignores case",
        ),
        ('[[groups]]\nname = "a\\nb"\n', "name: holds the control character U+000A"),
        ('[[groups]]\nname = "a\\u0000b"\n', "U+0000"),
        ('[[groups]]\nname = "ok"\ndescription = "tab\\there"\n', "U+0009"),
        (
            '[[groups]]\nname = "Sales"\nmembers = [{kind = "user", id = "1", email = "a@b.c"}]\n',
            "a member has an id or an email (exactly one), not both",
        ),
    ],
)
def test_a_bad_desired_state_file_is_refused_before_anything_is_sent(
    content: str, says: str, zoho: str, tmp_path: Path
) -> None:
    seeded = run("create", *zoho_target(zoho), "Sales", "--member", "user:3652397000000281001")
    assert seeded.returncode == 0, seeded.stderr
    before = run(
        "get",
        *zoho_target(zoho),
        json.loads(run("list", *zoho_target(zoho), "--json").stdout)[0]["id"],
        "--json",
    ).stdout
    desired = tmp_path / "groups.toml"
    desired.write_text(content)
    result = run("apply", *zoho_target(zoho), str(desired), "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in one_error_line(result)
    assert [g["name"] for g in listed(zoho)] == ["Sales"]  # nothing was sent
    after = run("get", *zoho_target(zoho), json.loads(before)["id"], "--json").stdout
    assert json.loads(after)["members"] == json.loads(before)["members"]


def test_users_named_by_email_are_made_their_ids_at_the_target(zoho: str, tmp_path: Path) -> None:
    desired = tmp_path / "groups.toml"
    desired.write_text(
        '[[groups]]\nname = "Sales"\nmembers = [\n'
        '  {kind = "user", email = "Patricia.Boyle@Example.com"},\n'
        '  {kind = "user", id = "3652397000000281001"},\n'
        "]\n"
    )
    result = run("apply", *zoho_target(zoho), str(desired), "--yes", "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)["operations"][0]
    assert {m["id"] for m in created["members"]} == {"3652397000000186017", "3652397000000281001"}
    sales = listed(zoho)[0]
    shown = json.loads(run("get", *zoho_target(zoho), str(sales["id"]), "--json").stdout)
    assert {m["id"] for m in shown["members"]} == {"3652397000000186017", "3652397000000281001"}


def test_an_email_no_user_has_is_exit_2_before_anything_is_sent(zoho: str, tmp_path: Path) -> None:
    desired = tmp_path / "groups.json"
    desired.write_text(
        json.dumps(
            {
                "groups": [
                    {"name": "Sales"},
                    {"name": "Ops", "members": [{"kind": "user", "email": "nobody@example.com"}]},
                ]
            }
        )
    )
    result = run("apply", *zoho_target(zoho), str(desired), "--yes")
    assert result.returncode == 2
    assert "no active user of zoho has the email nobody@example.com" in one_error_line(result)
    assert listed(zoho) == []


# -- options, on the command line and in the config file --------------------------------------


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("max_concurrency=2.5", "option max_concurrency must be a whole number, not 2.5"),
        ("timeout=nan", "option timeout must be a number, not 'nan'"),
        ("timeout=NaN", "timeout must be a finite number of seconds, above 0, not nan"),
        ("timeout=Infinity", "timeout must be a finite number of seconds, above 0, not inf"),
        ('delete_job_done="completed"', "option delete_job_done must be a list, not 'completed'"),
        ("trust_env=yes", "option trust_env must be true or false, not 'yes'"),
        ('trust_env="false"', "option trust_env must be true or false, not 'false'"),
    ],
)
def test_an_option_of_the_wrong_type_is_exit_2_naming_it(option: str, says: str) -> None:
    target = zoho_target("http://127.0.0.1:9")
    result = run("list", *target, "--option", option)
    assert result.returncode == 2
    assert says in one_error_line(result)


def test_a_secret_of_the_wrong_type_is_named_not_shown(tmp_path: Path) -> None:
    (tmp_path / "unigroups.toml").write_text(
        '[targets.z]\nbackend = "zoho"\napi_domain = "http://127.0.0.1:9"\n'
        "access_token = 918273645\n"
    )
    result = run("list", "z", cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "option access_token must be a string, not int" in line
    assert "918273645" not in line


def test_a_boolean_option_written_as_a_string_in_the_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "unigroups.toml").write_text(
        '[targets.z]\nbackend = "zoho"\napi_domain = "http://127.0.0.1:9"\n'
        'access_token = "t"\nnames_case_sensitive = "false"\n'
    )
    result = run("list", "z", cwd=tmp_path)
    assert result.returncode == 2
    assert "names_case_sensitive must be true or false, not 'false'" in one_error_line(result)


@pytest.mark.parametrize("name", ["a\x1bb", "tab\there", "bell\x07", "c1\x85"])
def test_a_name_with_a_control_character_is_refused_before_sending(name: str, zoho: str) -> None:
    result = run("create", *zoho_target(zoho), name)
    assert result.returncode == 2
    assert "name: holds the control character" in one_error_line(result)
    assert listed(zoho) == []


def test_an_emulator_process_serves_a_fresh_org() -> None:
    with emulator("zoho") as (url, _proc):
        assert listed(url) == []
