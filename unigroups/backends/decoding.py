"""What the vendors' wire modules share: strict type hooks and answers that fail as errors.

A wire module owns its vendor's field names and converter; reading an answer of an unexpected
shape is the same everywhere, and lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import cattrs

from ..errors import DecodingError

__all__ = ["strict", "structure_answer"]

T = TypeVar("T")


def strict(kind: type[Any]) -> Callable[[Any, Any], Any]:
    """A structure hook that takes ``kind`` only: no str for int, no int for str, no bool for int.

    Ids must stay strings: a number would already have lost digits in some JSON parser.
    """

    def structure(value: Any, _type: Any) -> Any:
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


def structure_answer(
    converter: cattrs.Converter, data: Any, cls: type[T], *, backend: str, what: str
) -> T:
    """Vendor JSON to a wire class; an unexpected shape is a DecodingError, never a crash."""
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs wraps what it finds in several exception types
        problem = (
            "; ".join(cattrs.transform_error(exc)[:3])
            if isinstance(exc, cattrs.BaseValidationError)
            else f"{type(exc).__name__}: {exc}"
        )
        raise DecodingError(
            f"the answer for {what} is not in the documented shape: {problem}",
            backend=backend,
            raw=data,
        ) from None
