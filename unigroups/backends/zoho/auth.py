"""Zoho OAuth: the ``Zoho-oauthtoken`` header and the refresh-token grant."""

from __future__ import annotations

from typing import Any

from ...auth import HeaderAuth, RefreshingToken, TokenAuth, TokenGrant
from ...errors import AuthenticationError, BackendError, ConfigurationError
from ...http import Auth, Transport
from ...options import check_secure_url
from .config import ZohoConfig

__all__ = ["SCHEME", "zoho_auth"]

SCHEME = "Zoho-oauthtoken"


def zoho_auth(config: ZohoConfig, transport: Transport) -> Auth:
    """The Auth for the configured credentials; a refresh may move ``transport.base_url``."""
    if config.access_token is not None:
        return HeaderAuth({"Authorization": f"{SCHEME} {config.access_token}"}, config.secrets())
    if config.token_provider is not None:
        return TokenAuth(SCHEME, config.token_provider)

    async def refresh() -> TokenGrant:
        form = {
            "grant_type": "refresh_token",
            "client_id": config.client_id or "",
            "client_secret": config.client_secret or "",
            "refresh_token": config.refresh_token or "",
        }
        try:
            reply = await transport.request(
                "POST", url=f"{config.accounts_base}/oauth/v2/token", form=form, authenticate=False
            )
        except BackendError as exc:
            raise AuthenticationError(
                f"Zoho's accounts server refused the token refresh: {exc.message}",
                backend="zoho",
                status=exc.status,
                code=exc.code,
            ) from None
        grant, api_domain = read_grant(reply.data)
        if api_domain:
            transport.base_url = f"{api_domain.rstrip('/')}/crm/{config.version}"
        return grant

    return TokenAuth(SCHEME, RefreshingToken(refresh), secrets=config.secrets())


def read_grant(data: Any) -> tuple[TokenGrant, str | None]:
    """The token endpoint's answer: a grant and the api_domain to use from now on.

    Zoho answers a refused grant with HTTP 200 and ``{"error": ...}``; ``expires_in_sec``,
    where sent, is in seconds while ``expires_in`` is then in milliseconds.
    """
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        error = data.get("error") if isinstance(data, dict) else None
        raise AuthenticationError(
            f"Zoho's accounts server gave no access token ({error or 'unexpected answer'}); "
            "check client_id, client_secret and refresh_token, and the data centre",
            backend="zoho",
            code=error if isinstance(error, str) else None,
        )
    seconds = data.get("expires_in_sec", data.get("expires_in"))
    expires_in = float(seconds) if isinstance(seconds, (int, float)) else None
    api_domain = data.get("api_domain")
    if isinstance(api_domain, str) and api_domain:
        try:
            check_secure_url(api_domain, "api_domain")
        except ConfigurationError:
            raise AuthenticationError(
                "Zoho's accounts server named an api_domain that is not https; refusing it",
                backend="zoho",
            ) from None
    else:
        api_domain = None
    return TokenGrant(data["access_token"], expires_in), api_domain
