"""Validators shared by the backends' option (config) classes.

They raise ConfigurationError naming the option, so a bad option fails when the backend is
opened, not at its first request.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any
from urllib.parse import urlsplit

import attrs

from .errors import ConfigurationError

__all__ = [
    "check_secure_url",
    "flag",
    "header_safe",
    "is_loopback",
    "one_of",
    "positive",
    "seconds",
    "secure_url",
    "whole",
]


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
    if value is not None and value <= 0:
        raise ConfigurationError(
            f"{attribute.name} must be positive, not {value!r}", option=attribute.name
        )


def one_of(*allowed: str) -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None and value not in allowed:
            raise ConfigurationError(
                f"{attribute.name} must be one of {', '.join(allowed)}, not {value!r}",
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
    if not isinstance(value, str) or any(c in value for c in "\r\n\0") or not value.isascii():
        raise ConfigurationError(
            f"{attribute.name} holds characters an HTTP header cannot carry (line breaks or "
            "non-ASCII); check how it was copied",
            option=attribute.name,
        )
