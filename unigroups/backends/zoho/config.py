"""``ZohoConfig``: the options of the Zoho backend, validated when the backend is opened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs

from ...errors import ConfigurationError
from ...http import TransportOptions
from ...options import flag, header_safe, one_of, seconds, secure_url, text, words

__all__ = ["DATA_CENTRES", "ZohoConfig"]

# dc -> (accounts host, API host), from Zoho's data-centre table.
DATA_CENTRES: Final = {
    "us": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "eu": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "in": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "au": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "jp": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "cn": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    "ca": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
    "uk": ("https://accounts.zoho.uk", "https://www.zohoapis.uk"),
}


def _between(low: int, high: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigurationError(
                f"{attribute.name} must be a whole number between {low} and {high}",
                option=attribute.name,
            )

    return check


def _callable(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigurationError(
            f"{attribute.name} must be an async function returning a token, not "
            f"{type(value).__name__}",
            option=attribute.name,
        )


# Limits Zoho does not publish. Neither Zoho's prose docs nor the v8 OpenAPI file in the
# history of zoho/crm-oas up to 45dff2c (June 2025) give a figure for any of these (another
# revision of the file, stored at commit de67753, does: these same figures; two revisions
# disagreeing confirm nothing). The defaults are the conservative guesses unigroups always
# used; an org that accepts more can raise them. docs/backends/zoho.md keeps the table.
DEFAULT_NAME_MAX_LENGTH: Final = 250
DEFAULT_DESCRIPTION_MAX_LENGTH: Final = 250
DEFAULT_SOURCES_PER_REQUEST: Final = 200
DEFAULT_MAX_BATCH: Final = 1


@attrs.frozen
class ZohoConfig(TransportOptions):
    """Options of ``open_backend("zoho", ...)``. Secrets are kept out of the repr."""

    dc: str | None = attrs.field(default=None, validator=one_of(*DATA_CENTRES))
    api_domain: str | None = attrs.field(default=None, validator=secure_url)
    accounts_url: str | None = attrs.field(default=None, validator=secure_url)
    version: str = attrs.field(default="v8", validator=one_of("v6", "v7", "v8"))
    access_token: str | None = attrs.field(default=None, repr=False, validator=header_safe)
    refresh_token: str | None = attrs.field(default=None, repr=False, validator=text)
    client_id: str | None = attrs.field(default=None, repr=False, validator=text)
    client_secret: str | None = attrs.field(default=None, repr=False, validator=text)
    token_provider: Callable[[], Awaitable[str]] | None = attrs.field(
        default=None, repr=False, validator=_callable
    )
    # Unconfirmed limits (Zoho publishes no figure; see above), checked before any request.
    name_max_length: int = attrs.field(
        default=DEFAULT_NAME_MAX_LENGTH, validator=_between(1, 10_000)
    )
    description_max_length: int = attrs.field(
        default=DEFAULT_DESCRIPTION_MAX_LENGTH, validator=_between(1, 100_000)
    )
    # Members (``sources[]`` items) one create or update request carries; more are sent by
    # further updates of the same group.
    sources_per_request: int = attrs.field(
        default=DEFAULT_SOURCES_PER_REQUEST, validator=_between(1, 10_000)
    )
    # Groups (``user_groups[]`` items) one create call carries: the body is an array, and the
    # SDK's list-typed bodies and the bulk PUT suggest that more than one is accepted.
    max_batch: int = attrs.field(default=DEFAULT_MAX_BATCH, validator=_between(1, 100))
    # Zoho documents names as unique, not whether case tells them apart: unconfirmed.
    names_case_sensitive: bool = attrs.field(default=False, validator=flag)
    delete_job_timeout: float = attrs.field(default=60.0, validator=seconds())
    delete_job_poll_interval: float = attrs.field(default=1.0, validator=seconds())
    # The deletion job's "done" status values are not documented: configurable, lower case.
    delete_job_done: tuple[str, ...] = attrs.field(
        default=("completed", "complete", "success", "done"), validator=words
    )
    delete_job_failed: tuple[str, ...] = attrs.field(
        default=("failed", "failure", "error"), validator=words
    )

    def __attrs_post_init__(self) -> None:
        modes = [
            name
            for name, given in (
                ("access_token", self.access_token is not None),
                ("refresh_token", self.refresh_token is not None),
                ("token_provider", self.token_provider is not None),
            )
            if given
        ]
        if len(modes) != 1:
            raise ConfigurationError(
                "give exactly one of access_token, refresh_token (with client_id and "
                f"client_secret) or token_provider; got {', '.join(modes) or 'none'}",
                option="access_token",
            )
        if self.refresh_token is not None and not (self.client_id and self.client_secret):
            raise ConfigurationError(
                "refresh_token needs client_id and client_secret", option="client_id"
            )
        if self.refresh_token and self.api_domain and not self.accounts_url:
            raise ConfigurationError(
                "with api_domain, a refresh_token needs accounts_url (the accounts server "
                "that issued it), or give dc instead",
                option="accounts_url",
            )
        if self.dc is not None and self.api_domain is not None:
            raise ConfigurationError("give dc or api_domain, not both", option="api_domain")

    @property
    def api_base(self) -> str:
        return (self.api_domain or DATA_CENTRES[self.dc or "us"][1]).rstrip("/")

    @property
    def accounts_base(self) -> str:
        if self.accounts_url:
            return self.accounts_url.rstrip("/")
        return DATA_CENTRES[self.dc or "us"][0]

    def secrets(self) -> tuple[str, ...]:
        return tuple(
            s
            for s in (self.access_token, self.refresh_token, self.client_id, self.client_secret)
            if s
        )
