"""What keeps the local web app safe: an access token beyond loopback, CSRF on every form.

- **Token.** Bound to loopback, the UI is open to the machine's user (as `driftgate` is).
  Bound anywhere else it needs a token (`--token`, or `DRIFTGATE_UI_TOKEN`): opening
  `/?token=T` once sets an HttpOnly cookie, and scripts may send `Authorization: Bearer T`.
  Tokens are compared in constant time.
- **CSRF.** Every form carries a token that is the HMAC of the browser's random cookie
  under a secret made at start-up; a POST whose form token does not match, or whose Origin
  names another site, is refused (403) before anything is stored. The cookie is
  SameSite=Strict, so another site's page cannot even send it.
- Model outputs are untrusted HTML: every template autoescapes (report/web.py), and the
  response carries a Content-Security-Policy that allows the app's own script only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from ..errors import ConfigError
from ..gateway.server import is_loopback  # one rule for what counts as loopback

TOKEN_ENV = "DRIFTGATE_UI_TOKEN"
TOKEN_COOKIE = "driftgate_ui_token"
CSRF_COOKIE = "driftgate_csrf"
CSRF_FIELD = "csrf"
# The app's own files only: no inline script, no other origin (outputs cannot run code).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def required_token(host: str, token: str | None) -> str | None:
    """The token the app demands: None on loopback without one; an error beyond loopback
    without one."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve the UI on {host} without a token: anyone who can reach it "
            "could read every run and record reviews",
            field="--token",
            hint=f"pass --token (or set {TOKEN_ENV}), or bind to 127.0.0.1",
        )
    return token


def token_ok(request: Request, token: str) -> bool:
    given = request.cookies.get(TOKEN_COOKIE) or request.query_params.get("token") or ""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return hmac.compare_digest(given.encode(), token.encode())


class Csrf:
    """Form tokens bound to the browser's cookie (module doc)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def browser_id(self, request: Request) -> tuple[str, bool]:
        """(the browser's id, whether it is new and must be set as a cookie)."""
        value = request.cookies.get(CSRF_COOKIE)
        if value and len(value) == 43:
            return value, False
        return secrets.token_urlsafe(32), True

    def token(self, browser: str) -> str:
        return hmac.new(self._secret, browser.encode(), hashlib.sha256).hexdigest()

    def check(self, request: Request, form_token: str | None) -> bool:
        browser = request.cookies.get(CSRF_COOKIE)
        if not browser or not form_token:
            return False
        if not hmac.compare_digest(self.token(browser), form_token):
            return False
        origin = request.headers.get("origin")
        if origin and origin != "null":
            return urlsplit(origin).netloc == request.headers.get("host", "")
        return True
