"""Who may drive the console: it holds a signing key, so only the person who started it, in their browser.

- It listens on one loopback address only, by default a random one in 127.0.0.0/8 other than 127.0.0.1:
  browsers keep cookies per host, not per port, so a cookie of 127.0.0.1 would also go to any other local
  server (another user's) that the console's user visits.
- A random token is printed at start in the console's URL (``/?token=...``); opening that URL stores it in a
  cookie (HttpOnly, SameSite=Strict, this port's own name), and every request must carry the cookie. Another
  local user or program does not have it; another web site's page cannot make the browser send it (SameSite).
- A request whose ``Host`` is not this console's (DNS rebinding) or whose ``Origin`` is another site's is
  refused, and so is a cross-site request the browser marks (``Sec-Fetch-Site``).
- Every form that signs something carries a CSRF token derived from the secret; a POST without it, or without
  this console's own ``Origin`` (or ``Referer``), is refused.
- Pages are never cached or framed, and give no referrer to other sites; scripts and styles come from the
  console itself only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Secret:
    """The console's token and what is derived from it."""

    def __init__(self, port: int, token: str | None = None, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.token = token or secrets.token_urlsafe(32)
        self.cookie = f"credit_ledger_console_{port}"
        self.csrf = hmac.new(self.token.encode(), b"csrf", hashlib.sha256).hexdigest()
        # One address only (no ``localhost``): the cookie is the host's, so it goes where this host goes.
        self.hosts = {f"{host}:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    def url(self) -> str:
        return f"http://{self.host}:{self.port}/?token={self.token}"

    def check_csrf(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.csrf.encode())


def _refuse(status: int, why: str) -> Response:
    page = (f"<!doctype html><meta charset=utf-8><title>Refused</title><h1>Refused ({status})</h1><p>{why}</p>"
            "<p>Open the console with the address <code>credit-ledger console</code> printed when it started.</p>")
    return HTMLResponse(page, status_code=status, headers=HEADERS)


class Guard:
    """ASGI middleware applying the rules above before any route runs."""

    def __init__(self, app: ASGIApp, secret: Secret) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self.refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        token = request.query_params.get("token")
        if token is not None:
            # The printed URL: keep the token in a cookie and drop it from the address bar.
            response = RedirectResponse(request.url.path or "/", status_code=303, headers=HEADERS)
            response.set_cookie(self.secret.cookie, self.secret.token, httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in _LOWER]
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def refusal(self, request: Request) -> Response | None:
        """The response refusing ``request``, or None to let it through."""
        host = request.headers.get("host", "")
        if host not in self.secret.hosts:
            return _refuse(403, f"This console answers to {sorted(self.secret.hosts)[0]} only, not to the host "
                                f"{host[:80]!r}.")
        origin = request.headers.get("origin")
        if origin is not None and origin not in self.secret.origins:
            return _refuse(403, "A request from another site's page is refused.")
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return _refuse(403, "A request started by another site is refused.")
        if request.method not in ("GET", "HEAD"):
            referer = request.headers.get("referer")
            referer_origin = None
            if referer:
                parts = urllib.parse.urlsplit(referer)
                referer_origin = f"{parts.scheme}://{parts.netloc}"
            if origin is None and referer_origin not in self.secret.origins:
                return _refuse(403, "A form may only be sent from the console's own pages.")
        token = request.query_params.get("token")
        if token is not None:
            if not hmac.compare_digest(token.encode(), self.secret.token.encode()):
                return _refuse(403, "The token in this address is not this console's.")
            return None
        cookie = request.cookies.get(self.secret.cookie)
        if cookie is None or not hmac.compare_digest(cookie.encode(), self.secret.token.encode()):
            return _refuse(403, "This browser has not opened the console's address.")
        return None


_LOWER = {k.lower() for k in HEADERS}


async def form_of(request: Request, secret: Secret) -> dict[str, str] | None:
    """The fields of a URL-encoded form whose CSRF token is the console's (None if it is not)."""
    body = await request.body()
    if len(body) > 65536:
        return None
    fields = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", errors="replace"),
                                                        keep_blank_values=True).items()}
    return fields if secret.check_csrf(fields.get("csrf")) else None
