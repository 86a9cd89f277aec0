"""Zoho OAuth: the ``Zoho-oauthtoken`` header and the refresh-token grant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import AuthenticationError, ConfigurationError
from ...http import (
    Auth,
    HeaderAuth,
    Redactor,
    RefreshingToken,
    Sender,
    TokenAuth,
    TokenGrant,
    expires_in,
    refresh_token_grant,
)
from ...options import check_secure_url
from .config import ZohoConfig

__all__ = ["SCHEME", "read_grant", "zoho_auth"]

SCHEME = "Zoho-oauthtoken"


def zoho_auth(config: ZohoConfig, sender: Sender) -> Auth:
    """The Auth for the configured credentials; a renewed grant names the API domain."""
    if config.access_token is not None:
        return HeaderAuth({"Authorization": f"{SCHEME} {config.access_token}"}, config.secrets())
    if config.token_provider is not None:
        return TokenAuth(SCHEME, config.token_provider)

    async def refresh() -> TokenGrant:
        data = await refresh_token_grant(
            sender,
            f"{config.accounts_base}/oauth/v2/token",
            client_id=config.client_id or "",
            client_secret=config.client_secret or "",
            refresh_token=config.refresh_token or "",
            redact=Redactor(config.secrets),
        )
        return read_grant(data, config.version)

    token = RefreshingToken(refresh, timeout=config.timeout)
    return TokenAuth(SCHEME, token, secrets=config.secrets())


def read_grant(data: Mapping[str, Any], version: str = "v8") -> TokenGrant:
    """Zoho's token answer: the token, its lifetime, and the API base it is good for.

    Where ``expires_in_sec`` is sent, ``expires_in`` is in milliseconds: prefer the former.
    """
    if not isinstance(data.get("access_token"), str):
        raise AuthenticationError(
            f"Zoho's accounts server gave no access token ({data.get('error', 'no reason')})",
            backend="zoho",
        )
    api_domain = data.get("api_domain")
    base_url = None
    if isinstance(api_domain, str) and api_domain:
        try:
            check_secure_url(api_domain, "api_domain")
        except ConfigurationError:
            raise AuthenticationError(
                "Zoho's accounts server named an api_domain that is not https; refusing it",
                backend="zoho",
            ) from None
        base_url = f"{api_domain.rstrip('/')}/crm/{version}"
    return TokenGrant(
        data["access_token"], expires_in(data, "expires_in_sec", "expires_in"), base_url
    )
