"""SuperOffice credentials: Basic (onsite), SOTicket with SO-AppToken, Bearer (Online)."""

from __future__ import annotations

import base64

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
from .config import SuperOfficeConfig

__all__ = ["superoffice_auth"]


def superoffice_auth(config: SuperOfficeConfig, sender: Sender) -> Auth:
    app = {"SO-AppToken": config.app_token} if config.app_token else {}
    if config.username is not None:
        pair = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        # The encoded pair is as secret as the password itself.
        return HeaderAuth({"Authorization": f"Basic {pair}", **app}, (*config.secrets(), pair))
    if config.ticket is not None:
        return HeaderAuth({"Authorization": f"SOTicket {config.ticket}", **app}, config.secrets())
    assert config.access_token is not None
    if config.refresh_token is None:
        return HeaderAuth(
            {"Authorization": f"Bearer {config.access_token}", **app}, config.secrets()
        )

    async def refresh() -> TokenGrant:
        data = await refresh_token_grant(
            sender,
            config.token_endpoint,
            client_id=config.client_id or "",
            client_secret=config.client_secret or "",
            refresh_token=config.refresh_token or "",
            redact=Redactor(config.secrets),
        )
        return TokenGrant(data["access_token"], expires_in(data, "expires_in"))

    token = RefreshingToken(refresh, token=config.access_token, timeout=config.timeout)
    return TokenAuth("Bearer", token, extra_headers=app, secrets=config.secrets())
