"""Security properties that hold for every built-in vendor backend."""

import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from unigroups import (
    ConfigurationError,
    GroupChanges,
    TransportError,
    ValidationError,
    open_backend,
)

VENDORS: dict[str, dict[str, Any]] = {
    "zoho": {"api_domain": "https://www.zohoapis.eu", "access_token": "tok-zoho-1"},
    "superoffice": {
        "base_url": "https://crm.example.com/api/v1",
        "username": "u",
        "password": "pw-so-1",
    },
}
URL_OPTION = {"zoho": "api_domain", "superoffice": "base_url"}

PATH_CHANGING_IDS = [
    "../1",
    "1/../2",
    "%2F1",
    "1%2F2",
    "1 2",
    " 1",
    "1\n",
    "1\r\n2",
    "1?x=2",
    "1#2",
    "",
]


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.parametrize("bad", PATH_CHANGING_IDS)
async def test_ids_that_could_change_the_path_are_refused_before_sending(
    mocked: aioresponses, vendor: str, bad: str
) -> None:
    async with open_backend(vendor, VENDORS[vendor]) as backend:
        for call in (
            backend.get(bad),
            backend.delete(bad),
            backend.update(bad, GroupChanges(description="x")),
        ):
            with pytest.raises(ValidationError):
                await call
    assert mocked.requests == {}


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.com/api",
        "http://10.0.0.5/api",
        "ftp://crm.example.com",
        "crm.example.com",
    ],
)
def test_https_is_required_except_for_loopback(vendor: str, url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_backend(vendor, {**VENDORS[vendor], URL_OPTION[vendor]: url})
    assert info.value.option == URL_OPTION[vendor]


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/api", "http://localhost:9/api", "http://[::1]:8/api"]
)
def test_plain_http_is_allowed_for_loopback_emulators(vendor: str, url: str) -> None:
    open_backend(vendor, {**VENDORS[vendor], URL_OPTION[vendor]: url})


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_tls_verification_cannot_be_switched_off_through_a_session(
    vendor: str, tmp_path: Path
) -> None:
    """A borrowed session whose connector skips verification still verifies: a server with
    a self-signed certificate is refused before the request (and its credentials) leave."""
    context = _self_signed(tmp_path)
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock, ssl_context=context).start()
    url = f"https://127.0.0.1:{sock.getsockname()[1]}/api/v1"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            options = {**VENDORS[vendor], URL_OPTION[vendor]: url, "session": session}
            async with open_backend(vendor, options) as backend:
                with pytest.raises(TransportError, match="certificate") as info:
                    await backend.get("1")
    finally:
        await runner.cleanup()
    assert info.value.request_sent is False
    assert info.value.attempts == 1  # final: sending again cannot change the certificate
    assert seen == []


def _self_signed(folder: Path) -> ssl.SSLContext:
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_an_ssl_context_that_does_not_verify_is_refused() -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for vendor in VENDORS:
        with pytest.raises(ConfigurationError, match="verification") as info:
            open_backend(vendor, {**VENDORS[vendor], "ssl_context": context})
        assert info.value.option == "ssl_context"


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.parametrize("option", ["verify", "ssl", "verify_ssl", "insecure"])
def test_there_is_no_option_to_turn_verification_off(vendor: str, option: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_backend(vendor, {**VENDORS[vendor], option: False})
    assert info.value.option == option


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_secrets_stay_out_of_reprs(vendor: str) -> None:
    backend: Any = open_backend(vendor, VENDORS[vendor])
    shown = repr(backend) + repr(backend.config) + repr(backend.transport)
    shown += repr(backend.transport.auth)
    for secret in ("tok-zoho-1", "pw-so-1"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("vendor", "option"),
    [("zoho", "access_token"), ("superoffice", "access_token"), ("superoffice", "ticket")],
)
@pytest.mark.parametrize("value", ["s3cr3t\r\nX-Injected: 1", "s3cr3t\n", "s3cr3t-ñ"])
def test_credentials_that_cannot_be_a_header_are_refused_without_echoing_them(
    vendor: str, option: str, value: str
) -> None:
    base = {"zoho": {"dc": "eu"}, "superoffice": {"base_url": "https://crm.example.com/api/v1"}}
    extra = {"app_token": "app"} if option == "ticket" else {}
    with pytest.raises(ConfigurationError) as info:
        open_backend(vendor, {**base[vendor], option: value, **extra})
    assert info.value.option == option
    assert "s3cr3t" not in str(info.value)
