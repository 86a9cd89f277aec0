"""JSON bodies in and out: UTF-8, a depth the code downstream can walk, lone surrogates escaped."""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["MAX_JSON_DEPTH", "json_bytes", "json_value"]

# Far deeper than any vendor answer, and shallow enough for the recursive code downstream
# (redaction, cattrs, repr) to walk without a RecursionError.
MAX_JSON_DEPTH: Final = 64


def json_value(body: bytes) -> Any:
    """A JSON body; ValueError when it is not UTF-8, not JSON, or not what Python can hold
    (a number of more than 4300 digits, nesting deeper than ``MAX_JSON_DEPTH``)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    if _too_deep(body):
        raise ValueError("JSON nested too deep")
    return data


# Every byte but quotes and brackets, to delete; and objects read as arrays (only depth counts).
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'"[]{}')
_ARRAYS: Final = bytes.maketrans(b"{}", b"[]")
_QUOTED: Final = re.compile(rb'"[^"]*"')


def _too_deep(body: bytes) -> bool:
    """Whether ``body`` (valid JSON) nests containers deeper than ``MAX_JSON_DEPTH``.

    Worked out on the bytes, at C speed: a page of 200 groups is read in a fraction of the
    time a walk over the parsed values takes. UTF-8 never puts an ASCII byte inside another
    character, so quotes and brackets are found byte by byte.
    """
    if b"\\" in body:
        # An escaped backslash or quote never ends a string: take them out first.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(_ARRAYS, _NOT_STRUCTURE)  # only " [ ] are left
    quotes = skeleton.count(b'"')
    if len(skeleton) - quotes <= MAX_JSON_DEPTH:
        return False  # nothing can nest deeper than it has brackets
    if quotes:
        # When every string's two quotes are adjacent, no string holds a bracket (the usual
        # case, and a C-speed count); otherwise the strings' text is cut out one by one.
        paired = skeleton.count(b'""') * 2 == quotes
        skeleton = skeleton.translate(None, b'"') if paired else _QUOTED.sub(b"", skeleton)
    for _ in range(MAX_JSON_DEPTH):  # each pass removes one level: the innermost pairs
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"[]", b"")
    return bool(skeleton)


def json_bytes(value: Any) -> bytes:
    """``value`` as UTF-8 JSON; a lone surrogate (which UTF-8 cannot carry) is sent escaped."""
    try:
        return json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value).encode()
