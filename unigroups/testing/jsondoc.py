"""JSON bodies as an ASP.NET server binds them, for emulators: property names matched
regardless of case (an unknown or ambiguous one refused, never dropped), JSON Patch
(RFC 6902: ``add``, ``remove``, ``replace``, ``test``) and JSON Merge Patch (RFC 7386).

Paths are matched regardless of case and the leading slash is optional, as SuperOffice's
PATCH documentation says. A failed ``test`` is a :class:`PatchConflict` (409); any other bad
document a :class:`BodyError` (400). A patch applies to a copy: all of it, or nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["BodyError", "PatchConflict", "apply_json_patch", "apply_merge_patch", "bind"]


class BodyError(ValueError):
    """A body the server cannot bind: answered 400."""


class PatchConflict(BodyError):
    """A JSON Patch ``test`` found another value: answered 409, nothing changed."""


def bind(body: Any, known: Iterable[str], what: str) -> dict[str, Any]:
    """``body``'s properties under their ``known`` spelling, whatever the case sent.

    A property that is not known, or two that differ only in case, is a BodyError: a value
    the server would not store must not be answered as if it were.
    """
    if not isinstance(body, Mapping):
        raise BodyError(f"{what} must be a JSON object.")
    spelling = {name.lower(): name for name in known}
    bound: dict[str, Any] = {}
    for key, value in body.items():
        name = spelling.get(str(key).lower())
        if name is None:
            raise BodyError(f"{what} has no property '{key}'.")
        if name in bound:
            raise BodyError(f"{what} gives '{name}' twice (property names ignore case).")
        bound[name] = value
    return bound


def _key(document: Mapping[str, Any], token: str) -> str | None:
    return next((k for k in document if k.lower() == token.lower()), None)


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or not path.strip("/"):
        raise BodyError(f"'{path}' is not a path to a property.")
    return [t.replace("~1", "/").replace("~0", "~") for t in path.strip("/").split("/")]


def _index(container: list[Any], token: str, *, append: bool) -> int:
    if append and token == "-":
        return len(container)
    if not token.isdigit() or int(token) > len(container) - (0 if append else 1):
        raise BodyError(f"'{token}' is not an index of the array (it has {len(container)}).")
    return int(token)


def _parent(document: Any, tokens: list[str]) -> tuple[Any, str]:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict) and (key := _key(node, token)) is not None:
            node = node[key]
        elif isinstance(node, list):
            node = node[_index(node, token, append=False)]
        else:
            raise BodyError(f"the path has no '{token}'.")
    return node, tokens[-1]


def _get(document: Any, tokens: list[str]) -> Any:
    parent, last = _parent(document, tokens)
    if isinstance(parent, dict) and (key := _key(parent, last)) is not None:
        return parent[key]
    if isinstance(parent, list):
        return parent[_index(parent, last, append=False)]
    raise BodyError(f"the path has no '{last}'.")


def _remove(document: Any, tokens: list[str]) -> None:
    parent, last = _parent(document, tokens)
    if isinstance(parent, dict) and (key := _key(parent, last)) is not None:
        del parent[key]
    elif isinstance(parent, list):
        del parent[_index(parent, last, append=False)]
    else:
        raise BodyError(f"the path has no '{last}'.")


def _add(document: Any, tokens: list[str], value: Any) -> None:
    parent, last = _parent(document, tokens)
    if isinstance(parent, dict):
        parent[_key(parent, last) or last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, append=True), value)
    else:
        raise BodyError(f"the path has no '{last}'.")


def apply_json_patch(document: Any, operations: Any) -> Any:
    """``document`` (not changed) with the JSON Patch ``operations`` applied."""
    if not isinstance(operations, list) or not operations:
        raise BodyError("A JSON Patch is a non-empty array of operations.")
    patched = copy.deepcopy(document)
    for raw in operations:
        operation = bind(raw, ("op", "path", "value"), "A JSON Patch operation")
        kind, tokens = operation.get("op"), _pointer(operation.get("path"))
        if kind in ("add", "replace", "test") and "value" not in operation:
            raise BodyError(f"The '{kind}' operation needs a value.")
        if kind == "test":
            try:
                held = _get(patched, tokens)
            except BodyError:  # nothing there (an index past the end): the test fails
                raise PatchConflict(f"Test of '{operation['path']}' failed: no value.") from None
            if held != operation["value"]:
                raise PatchConflict(f"Test of '{operation['path']}' failed: the value differs.")
        elif kind == "add":
            _add(patched, tokens, copy.deepcopy(operation["value"]))
        elif kind == "remove":
            _remove(patched, tokens)
        elif kind == "replace":
            _remove(patched, tokens)
            _add(patched, tokens, copy.deepcopy(operation["value"]))
        else:
            raise BodyError(f"Operation '{kind}' is not supported (add, remove, replace, test).")
    return patched


def apply_merge_patch(document: Any, patch: Any) -> Any:
    """``document`` (not changed) with the merge patch applied; ``null`` removes."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(document) if isinstance(document, dict) else {}
    for name, value in patch.items():
        key = _key(merged, name) or name
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = apply_merge_patch(merged.get(key), value)
    return merged
