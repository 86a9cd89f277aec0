"""Backend and transport options: every one typed and ranged, nothing coerced, secrets hidden."""

from typing import Any

import pytest

from unigroups import ConfigurationError, open_backend

ZOHO = {"access_token": "test-token", "api_domain": "http://127.0.0.1:9"}
OFFICE = {"base_url": "http://127.0.0.1:9/Cust1/api/v1", "username": "u", "password": "secret-pw"}


@pytest.mark.parametrize(
    ("backend", "options", "option", "says"),
    [
        ("zoho", {"access_token": 12345}, "access_token", "must be a string, not int"),
        ("zoho", {"max_concurrency": 2.5}, "max_concurrency", "must be a whole number, not 2.5"),
        ("zoho", {"max_concurrency": "4"}, "max_concurrency", "must be a whole number, not '4'"),
        ("zoho", {"max_concurrency": True}, "max_concurrency", "must be a whole number, not True"),
        ("zoho", {"max_concurrency": 0}, "max_concurrency", "must be an int of at least 1, not 0"),
        (
            "zoho",
            {"timeout": float("nan")},
            "timeout",
            "finite number of seconds, above 0, not nan",
        ),
        ("zoho", {"timeout": "nan"}, "timeout", "must be a number, not 'nan'"),
        (
            "zoho",
            {"timeout": float("inf")},
            "timeout",
            "finite number of seconds, above 0, not inf",
        ),
        ("zoho", {"max_wait": -1}, "max_wait", "finite number of seconds, 0 or more, not -1"),
        ("zoho", {"read_timeout": "5"}, "read_timeout", "must be a number, not '5'"),
        (
            "zoho",
            {"delete_job_done": "completed"},
            "delete_job_done",
            "must be a list, not 'completed'",
        ),
        ("zoho", {"delete_job_done": [""]}, "delete_job_done", "list of non-empty strings"),
        ("zoho", {"delete_job_timeout": 0}, "delete_job_timeout", "above 0, not 0"),
        ("zoho", {"trust_env": "false"}, "trust_env", "must be true or false, not 'false'"),
        (
            "zoho",
            {"names_case_sensitive": 1},
            "names_case_sensitive",
            "must be true or false, not 1",
        ),
        ("zoho", {"dc": 5, "api_domain": None}, "dc", "must be a string, not 5"),
        ("zoho", {"max_body": 1e6}, "max_body", "must be a whole number, not 1000000.0"),
        ("zoho", {"name_max_length": 0}, "name_max_length", "between 1 and 10000"),
        ("zoho", {"throttle": ["fixed"]}, "throttle", "must be 'adaptive', 'fixed' or a Throttle"),
        ("zoho", {"session": "x"}, "session", "expected ClientSession"),
        ("superoffice", {"password": 5}, "password", "must be a string, not int"),
        ("superoffice", {"password": ""}, "password", "must be a non-empty string, not str"),
        ("superoffice", {"username": ["u"]}, "username", "must be a string, not ['u']"),
        ("superoffice", {"language": 5}, "language", "must be a string, not 5"),
        (
            "superoffice",
            {"timezone": "Mars/Base"},
            "timezone",
            "is not a SuperOffice time-zone code",
        ),
        ("superoffice", {"max_attempts": 2.0}, "max_attempts", "must be a whole number, not 2.0"),
        (
            "superoffice",
            {"names_case_sensitive": "no"},
            "names_case_sensitive",
            "true or false, not 'no'",
        ),
    ],
)
def test_an_option_of_the_wrong_type_or_range_names_it_and_what_it_expects(
    backend: str, options: dict[str, Any], option: str, says: str
) -> None:
    base = ZOHO if backend == "zoho" else OFFICE
    with pytest.raises(ConfigurationError) as info:
        open_backend(backend, {**base, **options})
    assert info.value.option == option
    assert str(info.value).startswith(f"{backend}: ")
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("backend", "options", "secret"),
    [
        ("zoho", {"access_token": 918273645}, "918273645"),
        ("zoho", {"access_token": None, "refresh_token": 55443322, "client_id": "i"}, "55443322"),
        ("superoffice", {"password": 77665544}, "77665544"),
        ("superoffice", {"password": ["hunter2-pw"]}, "hunter2-pw"),
    ],
)
def test_a_secret_of_the_wrong_type_is_named_but_never_shown(
    backend: str, options: dict[str, Any], secret: str
) -> None:
    base = ZOHO if backend == "zoho" else OFFICE
    with pytest.raises(ConfigurationError) as info:
        open_backend(backend, {**base, **options})
    assert secret not in str(info.value)
    assert "must be a string, not" in str(info.value)


def test_values_of_the_right_type_are_kept_as_given() -> None:
    zoho: Any = open_backend(
        "zoho", {**ZOHO, "timeout": 5, "max_wait": 0, "delete_job_done": ["completed"]}
    )
    assert zoho.config.timeout == 5
    assert zoho.config.max_wait == 0
    assert zoho.config.delete_job_done == ("completed",)


def test_a_config_class_built_directly_checks_types_too() -> None:
    from unigroups.backends.zoho.config import ZohoConfig

    with pytest.raises(ConfigurationError, match="token_provider must be an async function"):
        ZohoConfig(token_provider="not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="delete_job_done must be a list"):
        ZohoConfig(access_token="t", delete_job_done="completed")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="refresh_token must be a non-empty string"):
        ZohoConfig(refresh_token=5, client_id="i", client_secret="s")  # type: ignore[arg-type]
