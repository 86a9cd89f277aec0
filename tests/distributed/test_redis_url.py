"""A Redis URL's password never shown: in the URL as messages name it, nor in error text."""

import pytest

from unigroups.distributed.redis_url import password_redactor, without_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://ann:hunter2@redis.example:6380/1", "rediss://ann:***@redis.example:6380/1"),
        ("redis://ann@127.0.0.1/0", "redis://ann@127.0.0.1/0"),  # a user, no password
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert without_password(url) == shown


def test_error_text_loses_the_password_and_keeps_the_rest() -> None:
    redact = password_redactor("redis://:hunter2@127.0.0.1:6379/0")
    assert redact("AUTH hunter2 refused") == "AUTH *** refused"
    assert password_redactor(None)("AUTH hunter2 refused") == "AUTH hunter2 refused"
    assert password_redactor("redis://127.0.0.1/0")("nothing secret") == "nothing secret"
