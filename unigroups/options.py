"""Validators shared by the backends' option (config) classes, and the strict converter
that reads options and files into them.

They raise ConfigurationError naming the option, so a bad option fails when the backend is
opened, not at its first request. Nothing is coerced: a string is not read as a number or a
flag, a number not as a string, a float not truncated to an int.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any, get_args, get_origin
from urllib.parse import urlsplit

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    list_structure_factory,
    mapping_structure_factory,
)
from cattrs.errors import (
    AttributeValidationNote,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)

from .errors import ConfigurationError

__all__ = [
    "check_secure_url",
    "first_problem",
    "flag",
    "header_safe",
    "is_loopback",
    "one_of",
    "positive",
    "seconds",
    "secure_url",
    "shown",
    "strict_converter",
    "structure_error",
    "text",
    "unknown_key",
    "whole",
    "words",
]


def shown(value: Any) -> str:
    """A wrong value as an error message shows it: short, and never more than one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def whole(minimum: int) -> Any:
    """An int (never a bool or a float) of at least ``minimum``."""

    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigurationError(
                f"{attribute.name} must be an int of at least {minimum}, not {value!r}",
                option=attribute.name,
            )

    return check


def seconds(*, optional: bool = False, zero: bool = False) -> Any:
    """A finite number of seconds above 0 (or 0 too with ``zero``; or None with ``optional``)."""

    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            least = "0 or more" if zero else "above 0"
            raise ConfigurationError(
                f"{attribute.name} must be a finite number of seconds, {least}, not {value!r}",
                option=attribute.name,
            )

    return check


def flag(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """True or False, never a string or a number read as one."""
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"{attribute.name} must be true or false, not {value!r}", option=attribute.name
        )


def positive(_inst: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    """A finite number above 0 (or None)."""
    if value is None:
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            f"{attribute.name} must be a finite number above 0, not {shown(value)}",
            option=attribute.name,
        )


def _given(attribute: attrs.Attribute[Any], value: Any) -> str:
    """A wrong value as shown: a secret (a field whose repr is hidden) by its type only."""
    return shown(value) if attribute.repr else type(value).__name__


def text(_inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """A non-empty string (or None)."""
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(
            f"{attribute.name} must be a non-empty string, not {_given(attribute, value)}",
            option=attribute.name,
        )


def words(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A tuple of non-empty strings (a list in a file or on the command line)."""
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(
            f"{attribute.name} must be a list of non-empty strings, not {shown(value)}",
            option=attribute.name,
        )


def one_of(*allowed: str) -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None and (not isinstance(value, str) or value not in allowed):
            raise ConfigurationError(
                f"{attribute.name} must be one of {', '.join(allowed)}, not {shown(value)}",
                option=attribute.name,
            )

    return check


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secure_url(value: str, option: str) -> str:
    """``value`` if it is an https URL (plain http only for loopback hosts: the emulators)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return value
    raise ConfigurationError(
        f"{option} must be an https:// URL (http:// only for a loopback host), not {value!r}",
        option=option,
    )


def secure_url(_inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        check_secure_url(value, attribute.name)


def header_safe(_inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """A value that goes into an HTTP header: no line breaks, Latin-1 only (never echoed)."""
    if value is None:
        return
    if not isinstance(value, str) or not value:
        # The value is a secret: its type is named, never the value.
        raise ConfigurationError(
            f"{attribute.name} must be a non-empty string, not {type(value).__name__}",
            option=attribute.name,
        )
    if any(c in value for c in "\r\n\0") or not value.isascii():
        raise ConfigurationError(
            f"{attribute.name} holds characters an HTTP header cannot carry (line breaks or "
            "non-ASCII); check how it was copied",
            option=attribute.name,
        )


# -- reading options and files: cattrs, with nothing coerced ---------------------------------


class WrongType(TypeError):
    """A value of the wrong type met the strict converter: what was expected, and what came."""

    def __init__(self, expected: str, value: Any) -> None:
        super().__init__(f"must be {expected}, not {shown(value)}")
        self.expected = expected
        self.value = value

    def describe(self, *, secret: bool = False) -> str:
        """``must be ..., not ...``; for a secret, the value's type instead of the value."""
        given = type(self.value).__name__ if secret else shown(self.value)
        return f"must be {self.expected}, not {given}"


def _exactly(check: Callable[[Any], bool], expected: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        if not check(value):
            raise WrongType(expected, value)
        return value

    return structure


def _containers(
    factory: Callable[[Any, cattrs.Converter], Any], kinds: tuple[type, ...], expected: str
) -> Any:
    """cattrs' own hook for a container type, after a check that the value is one: cattrs
    would iterate a string into its characters, and a table into its keys."""

    def make(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
        inner = factory(type_, converter)

        def structure(value: Any, cl: Any) -> Any:
            if not isinstance(value, kinds):
                raise WrongType(expected, value)
            return inner(value, cl)

        return structure

    return make


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def strict_converter() -> cattrs.Converter:
    """A cattrs converter that refuses unknown keys and converts nothing: a value of the
    wrong type is an error (``WrongType``), never coerced (cattrs alone reads ``"false"`` as
    True, 2.5 as 2, 12345 as ``"12345"``, and a string as a tuple of its characters)."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _exactly(lambda v: isinstance(v, str), "a string"))
    converter.register_structure_hook(
        bool, _exactly(lambda v: isinstance(v, bool), "true or false")
    )
    converter.register_structure_hook(
        int,
        _exactly(lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    )
    converter.register_structure_hook(float, _exactly(_is_number, "a number"))
    converter.register_structure_hook_factory(
        _of(list), _containers(list_structure_factory, (list, tuple), "a list")
    )
    converter.register_structure_hook_factory(
        _of(tuple, homogenous=True),
        _containers(homogenous_tuple_structure_factory, (list, tuple), "a list"),
    )
    converter.register_structure_hook_factory(
        _of(dict), _containers(mapping_structure_factory, (dict,), "a table")
    )
    return converter


def _of(origin: type, *, homogenous: bool = False) -> Callable[[Any], bool]:
    """A predicate for ``list[X]``, ``dict[K, V]``, or with ``homogenous`` ``tuple[X, ...]``."""

    def matches(type_: Any) -> bool:
        found: Any = get_origin(type_)
        return found is origin and (not homogenous or get_args(type_)[1:] == (...,))

    return matches


@attrs.frozen
class Problem:
    """The first thing wrong in a cattrs error: where (``groups[0].members[1].kind``), the
    error found there, and the class whose field it is in (None at the top)."""

    path: str
    error: BaseException
    owner: type[Any] | None

    @property
    def secret(self) -> bool:
        """Whether the field holds a secret (its repr is hidden): its value is never shown."""
        name = self.path.rsplit(".", 1)[-1]
        if self.owner is None or not attrs.has(self.owner):
            return False
        return any(a.name == name and not a.repr for a in attrs.fields(self.owner))


def first_problem(exc: BaseException) -> Problem:
    """The first problem inside a cattrs error, walked in the order cattrs met them."""
    path = ""
    owner: type[Any] | None = None
    while isinstance(exc, cattrs.BaseValidationError):
        if isinstance(exc, cattrs.ClassValidationError):
            owner = exc.cl
        with_notes, without = exc.group_exceptions()  # type: ignore[attr-defined]
        extra = [e for e in without if isinstance(e, ForbiddenExtraKeysError)]
        if extra:  # a misspelt key explains a missing one: it comes first
            exc = extra[0]
        elif with_notes:
            exc, note = with_notes[0]
            if isinstance(note, AttributeValidationNote):
                path += f".{note.name}"
            elif isinstance(note, IterableValidationNote):
                # A list's position in brackets; a table's key as a dotted name, as TOML has it.
                path += f"[{note.index}]" if isinstance(note.index, int) else f".{note.index}"
        elif without:
            exc = without[0]
        else:
            break
    return Problem(path.lstrip("."), exc, owner)


def unknown_key(key: Any, known: list[str]) -> str:
    """``unknown key 'x'; known keys are a, b. Did you mean 'y'?``"""
    # A file may hold keys that are not strings (``1:`` in YAML, say).
    close = difflib.get_close_matches(key, known, n=1) if isinstance(key, str) else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown key {shown(key)}; known keys are {', '.join(known)}.{hint}"


def structure_error(
    exc: BaseException, *, unread: Mapping[type[Any], Collection[str]] | None = None
) -> ConfigurationError:
    """One ConfigurationError for what the strict converter found first, naming where it is
    (``groups[0].members[1].include_subordinates must be true or false, not 'false'``). A
    field whose repr is hidden holds a secret: its value is never shown. ``unread``: fields
    a converter leaves out of a class, never offered as known keys."""
    problem = first_problem(exc)
    path, found = problem.path, problem.error
    root = path.split(".", 1)[0].split("[", 1)[0] or None
    where = f"{path}: " if path else ""
    if isinstance(found, ConfigurationError):  # a validator's own words name the field
        return ConfigurationError(f"{where}{found}", option=root or found.option)
    if isinstance(found, ForbiddenExtraKeysError):
        left_out = (unread or {}).get(found.cl, ())
        known = [a.name for a in attrs.fields(found.cl) if a.name not in left_out]
        key = sorted(found.extra_fields)[0]
        return ConfigurationError(f"{where}{unknown_key(key, known)}", option=root or key)
    if isinstance(found, KeyError):  # cattrs names the field in the path
        parent, _, name = path.rpartition(".")
        return ConfigurationError(
            f"{parent + ': ' if parent else ''}the key {name!r} is missing", option=root
        )
    if isinstance(found, WrongType):
        return ConfigurationError(f"{path} {found.describe(secret=problem.secret)}", option=root)
    message = " ".join(str(found).split()) or type(found).__name__
    return ConfigurationError(f"{where}{message}", option=root)
