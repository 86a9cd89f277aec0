"""A Griffe extension for the API reference, so that docstrings and attrs models read there
as they read in the code:

- the Sphinx roles some docstrings use (``:class:`~unigroups.Group```, ``:func:`run_batch```)
  become code spans, instead of being printed as they are written;
- an attrs field (``name: str = attrs.field(default="x", validator=...)``) shows its default
  (``name: str = 'x'``), or none, instead of the ``attrs.field(...)`` call.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`(~?)([^`]+)`")
_FIELD_CALLS = {"attrs.field", "attr.ib", "attrs.attrib", "field"}


def _code(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _field_default(value: str) -> str | None:
    """The default an ``attrs.field(...)`` call gives, as source; the value itself when it
    is not such a call; None when the field has no default."""
    try:
        call = ast.parse(value, mode="eval").body
    except SyntaxError:
        return value
    if not isinstance(call, ast.Call) or ast.unparse(call.func) not in _FIELD_CALLS:
        return value
    for keyword in call.keywords:
        if keyword.arg == "default":
            return ast.unparse(keyword.value)
        if keyword.arg == "factory":
            return f"{ast.unparse(keyword.value)}()"
    return None


class ReadableReference(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code, obj.docstring.value)
        if isinstance(obj, griffe.Attribute) and obj.value is not None:
            obj.value = _field_default(str(obj.value))
