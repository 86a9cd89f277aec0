"""``SuperOfficeConfig`` and ``Locale``: the SuperOffice backend's options."""

from __future__ import annotations

import re
from typing import Any, Final

import attrs

from ...errors import ConfigurationError
from ...http import TransportOptions
from ...options import flag, header_safe, one_of, secure_url, shown, text, whole

__all__ = ["ENVIRONMENTS", "Locale", "SuperOfficeConfig"]

ENVIRONMENTS: Final = ("sod", "qaonline", "online")

_TAG = r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?"
# One tag, a list for Accept-Language ("fr,de" or "en-us; en-gb"), or * / x for "no translation".
_LANGUAGE: Final = re.compile(rf"(?:\*|x|{_TAG}(?:\s*[,;]\s*{_TAG})*)")
_CULTURE: Final = re.compile(_TAG)
# A SuperOffice zone code (UTC, NO, US-NY, AU-ACT) or its numeric id, then maybe the flag.
_TIMEZONE: Final = re.compile(
    r"(?:UTC|[A-Z]{2}(?:-[A-Z]{2,4})?|[0-9]{1,5})(?:\s*,\s*includeTZOffset)?"
)
_TENANT: Final = re.compile(r"Cust[0-9]{1,10}")


def _matches(pattern: re.Pattern[str], what: str) -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None and (not isinstance(value, str) or not pattern.fullmatch(value)):
            raise ConfigurationError(
                f"{attribute.name} {shown(value)} is not {what}", option=attribute.name
            )

    return check


@attrs.frozen
class Locale:
    """What the language, culture and time-zone headers say; validated together."""

    language: str | None = attrs.field(
        default=None,
        validator=_matches(_LANGUAGE, "a language tag list such as 'fr' or 'en-us; en-gb'"),
    )
    culture: str | None = attrs.field(
        default=None, validator=_matches(_CULTURE, "a culture such as 'sv' or 'en-gb'")
    )
    timezone: str | None = attrs.field(
        default=None,
        validator=_matches(_TIMEZONE, "a SuperOffice time-zone code ('UTC', 'NO', 'US-NY') or id"),
    )

    def __attrs_post_init__(self) -> None:
        if self.culture is not None and self.language is None:
            raise ConfigurationError(
                "culture needs a language: SuperOffice ignores SO-Culture without one",
                option="culture",
            )

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.language is not None:
            headers["Accept-Language"] = self.language
            # SO-Language takes one language: the first of a list.
            headers["SO-Language"] = re.split(r"\s*[,;]\s*", self.language)[0]
        if self.culture is not None:
            headers["SO-Culture"] = self.culture
        if self.timezone is not None:
            headers["SO-TimeZone"] = self.timezone
        return headers


@attrs.frozen
class SuperOfficeConfig(TransportOptions):
    """Options of ``open_backend("superoffice", ...)``. Secrets are kept out of the repr."""

    base_url: str | None = attrs.field(default=None, validator=secure_url)
    environment: str | None = attrs.field(default=None, validator=one_of(*ENVIRONMENTS))
    tenant: str | None = attrs.field(default=None, validator=_matches(_TENANT, "CustNNNNN"))
    username: str | None = attrs.field(default=None, validator=text)
    password: str | None = attrs.field(default=None, repr=False, validator=text)
    ticket: str | None = attrs.field(default=None, repr=False, validator=header_safe)
    app_token: str | None = attrs.field(default=None, repr=False, validator=header_safe)
    access_token: str | None = attrs.field(default=None, repr=False, validator=header_safe)
    refresh_token: str | None = attrs.field(default=None, repr=False, validator=text)
    client_id: str | None = attrs.field(default=None, repr=False, validator=text)
    client_secret: str | None = attrs.field(default=None, repr=False, validator=text)
    token_url: str | None = attrs.field(default=None, validator=secure_url)
    # SuperOffice's unique index on names: whether it tells case apart is unconfirmed.
    names_case_sensitive: bool = attrs.field(default=False, validator=flag)
    language: str | None = None
    culture: str | None = None
    timezone: str | None = None
    # Rows per page of GET /User ($top) when listing members and users.
    user_page_size: int = attrs.field(default=500, validator=whole(1))
    # Members live on the User entity; False for a tenant or app not allowed to manage users
    # (Online partner apps): the backend then keeps no members, as before wave 2.
    user_management: bool = attrs.field(default=True, validator=flag)

    def __attrs_post_init__(self) -> None:
        self.locale  # noqa: B018 - validates language, culture and time zone now
        if (self.base_url is None) == (self.environment is None):
            raise ConfigurationError(
                "give base_url (the tenant's .../api/v1) or environment with tenant",
                option="base_url",
            )
        if self.environment is not None and self.tenant is None:
            raise ConfigurationError("environment needs tenant (CustNNNNN)", option="tenant")
        modes = [
            name
            for name, given in (
                ("username", self.username is not None or self.password is not None),
                ("ticket", self.ticket is not None),
                ("access_token", self.access_token is not None),
            )
            if given
        ]
        if len(modes) != 1:
            raise ConfigurationError(
                "give exactly one of username + password (Basic), ticket (with app_token) or "
                f"access_token; got {', '.join(modes) or 'none'}",
                option="username",
            )
        if modes == ["username"] and not (self.username and self.password):
            raise ConfigurationError("Basic auth needs username and password", option="password")
        if self.ticket is not None and not self.app_token:
            raise ConfigurationError("a SOTicket needs app_token", option="app_token")
        if self.refresh_token is not None:
            if not (self.client_id and self.client_secret) or self.access_token is None:
                raise ConfigurationError(
                    "refresh_token needs access_token, client_id and client_secret",
                    option="refresh_token",
                )
            if self.environment is None and self.token_url is None:
                raise ConfigurationError(
                    "with base_url, a refresh_token needs token_url", option="token_url"
                )

    @property
    def locale(self) -> Locale:
        return Locale(self.language, self.culture, self.timezone)

    @property
    def api_base(self) -> str:
        if self.base_url is not None:
            return self.base_url.rstrip("/")
        return f"https://{self.environment}.superoffice.com/{self.tenant}/api/v1"

    @property
    def token_endpoint(self) -> str:
        if self.token_url is not None:
            return self.token_url
        return f"https://{self.environment}.superoffice.com/login/common/oauth/tokens"

    def secrets(self) -> tuple[str, ...]:
        values = (
            self.password,
            self.ticket,
            self.app_token,
            self.access_token,
            self.refresh_token,
            self.client_secret,
        )
        return tuple(v for v in values if v)
