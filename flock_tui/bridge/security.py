"""Who may talk to the bridge: loopback by default, a token otherwise, same-origin pages.

- Binding to a non-loopback address requires a token; when none is given one is
  generated with `secrets` (the caller prints it).
- /ws, /api/* and /health check the token when one is set (header
  `Authorization: Bearer TOKEN` or `?token=`); only the page and its static files do not.
- The WebSocket handshake and POSTs check the Origin header against the Host the
  request was sent to, so a page from another site cannot drive the bridge; on a loopback
  bind the Host itself must be a loopback name (defeats DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from urllib.parse import urlsplit

from aiohttp import web

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _split_host(host_header: str) -> str:
    """The host name of a Host header value, without port or IPv6 brackets."""
    parsed = urlsplit("//" + host_header)
    return (parsed.hostname or "").lower()


class Guard:
    """The bridge's checks, as plain functions of a request (raise web.HTTPException)."""

    def __init__(self, host: str, token: str | None) -> None:
        self.host = host
        self.token = token
        self.loopback_only = is_loopback(host)

    def check_host(self, request: web.Request) -> None:
        if not self.loopback_only:
            return
        name = _split_host(request.host or "")
        if not is_loopback(name):
            raise _forbidden(f"unexpected Host header {request.host!r}")

    def check_origin(self, request: web.Request) -> None:
        origin = request.headers.get("Origin")
        if origin is None:
            return  # not a browser (or a same-origin GET): nothing to check
        parsed = urlsplit(origin)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise _forbidden(f"foreign origin {origin!r}")
        if parsed.netloc.lower() != (request.host or "").lower():
            raise _forbidden(f"foreign origin {origin!r}")

    def check_token(self, request: web.Request) -> None:
        if self.token is None:
            return
        given = request.query.get("token")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        if not given or not secrets.compare_digest(given.encode(), self.token.encode()):
            raise web.HTTPUnauthorized(
                text='{"error": "missing or wrong token (Authorization: Bearer TOKEN or ?token=)"}',
                content_type="application/json",
            )


def _forbidden(message: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=json.dumps({"error": message}), content_type="application/json")
