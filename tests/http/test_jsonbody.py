"""The transport's guard on JSON nesting: it counts brackets on the bytes, and that count is
the depth of the parsed value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unigroups.http.jsonbody import MAX_JSON_DEPTH, _too_deep, json_value


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


tricky = st.text(alphabet='[]{}"\\ab\né\U0001f600', max_size=6)
documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), tricky),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(tricky, inner, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=500)
@given(documents, st.integers(0, 70), st.booleans(), st.booleans(), st.booleans())
def test_nesting_is_measured_on_the_bytes_like_on_the_value(
    document: Any, wraps: int, ascii_only: bool, indented: bool, bracketed_text: bool
) -> None:
    # Levels wrapped with bracket-laden keys and strings, or with plain ones (the usual case,
    # which takes the short cut when no string in the document holds a bracket).
    key, text = ('k[\\"', "}}") if bracketed_text else ("k", "x")
    for n in range(wraps):
        document = [document] if n % 2 else {key: document, "x": text}
    body = json.dumps(document, ensure_ascii=ascii_only, indent=1 if indented else None).encode()
    assert _too_deep(body) == (_depth(document) > MAX_JSON_DEPTH)


def test_nesting_at_the_limit_is_read_and_past_it_refused() -> None:
    assert json_value(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(ValueError, match="too deep"):
        json_value(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
