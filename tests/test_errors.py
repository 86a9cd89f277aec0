import pytest

import unigroups
from unigroups import (
    BackendError,
    DuplicateGroupError,
    RateLimitedError,
    TransportError,
    UnigroupsError,
)

TREE = {
    "ConfigurationError": "UnigroupsError",
    "UnknownBackendError": "ConfigurationError",
    "BackendImportError": "ConfigurationError",
    "ValidationError": "UnigroupsError",
    "UnsupportedOperationError": "UnigroupsError",
    "BackendError": "UnigroupsError",
    "AuthenticationError": "BackendError",
    "PermissionDeniedError": "BackendError",
    "NotFoundError": "BackendError",
    "DuplicateGroupError": "BackendError",
    "InvalidDataError": "BackendError",
    "RateLimitedError": "BackendError",
    "ServerError": "BackendError",
    "TransportError": "BackendError",
    "DecodingError": "TransportError",
    "IncompleteWriteError": "BackendError",
    "JournalError": "UnigroupsError",
}


@pytest.mark.parametrize(("name", "parent"), sorted(TREE.items()))
def test_every_error_of_the_design_is_importable_with_its_parent(name: str, parent: str) -> None:
    cls = getattr(unigroups, name)
    assert issubclass(cls, getattr(unigroups, parent))
    assert issubclass(cls, UnigroupsError)


def test_backend_error_carries_the_vendor_answer_and_reads_as_one_line() -> None:
    error = DuplicateGroupError(
        "the name\nexists already",
        backend="zoho",
        status=400,
        code="DUPLICATE_DATA",
        details={"api_name": "name"},
        raw={"code": "DUPLICATE_DATA"},
    )
    assert isinstance(error, BackendError)
    assert (error.backend, error.status, error.code) == ("zoho", 400, "DUPLICATE_DATA")
    assert error.details == {"api_name": "name"}
    assert error.raw == {"code": "DUPLICATE_DATA"}
    assert str(error) == (
        "[zoho DUPLICATE_DATA HTTP 400] the name exists already (api_name='name')"
    )
    assert "\n" not in str(error)


def test_rate_limited_error_keeps_retry_after() -> None:
    error = RateLimitedError("slow down", retry_after=2.5, backend="zoho", status=429)
    assert error.retry_after == 2.5
    assert str(error) == "[zoho HTTP 429] slow down"


def test_error_without_context_is_just_the_message() -> None:
    assert str(TransportError("connection reset")) == "connection reset"
