"""Who may see a preview: the job's owner (a bearer token, for API clients), or whoever holds
a signed, expiring preview link (for browsers: the build page asks the API for one).

A link is `<stable URL>?preview_token=<token>`. Following it sets a cookie scoped to
`/preview/<job_id>/` (HttpOnly: the app's JavaScript cannot read it) and redirects to the clean
URL, so the app's relative URLs keep working. Tokens are `<expiry>.<HMAC-SHA256>` over the
purpose, the job id and the expiry, with a key derived from KILN_JWT_SECRET; a link token
cannot serve as a cookie or the other way round. The query parameter's name contains "token",
so the access log redacts it (web/accesslog.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.datastructures import Headers

from web.preview.origins import PREFIX, PreviewOrigin

COOKIE = "kiln_preview"
LINK_PARAM = "preview_token"
LINK, SESSION = "link", "session"
_KEY_LABEL = b"kiln preview access v1"


class Signer:
    def __init__(self, jwt_secret: str) -> None:
        # A key of its own: a preview token is no API token, and the other way round.
        self._key = hmac.new(jwt_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()

    def _mac(self, purpose: str, job_id: str, expires_at: int) -> str:
        message = f"{purpose}\n{job_id}\n{expires_at}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def mint(self, purpose: str, job_id: str, expires_at: int) -> str:
        return f"{int(expires_at)}.{self._mac(purpose, job_id, int(expires_at))}"

    def valid(self, purpose: str, job_id: str, token: str | None, now: float) -> bool:
        """A token for this purpose and job that has not expired; anything else is no."""
        if not token or len(token) > 200:
            return False
        expiry, _, mac = token.partition(".")
        if not expiry.isdigit() or len(expiry) > 12 or int(expiry) <= now:
            return False
        return hmac.compare_digest(mac, self._mac(purpose, job_id, int(expiry)))


def cookie_path(job_id: str) -> str:
    return f"{PREFIX}{job_id}/"


def session_cookie(job_id: str, token: str, max_age: int, origin: PreviewOrigin,
                   request_headers: Headers) -> str:
    """The Set-Cookie value for a followed link. Where the link was followed decides:

    - a top-level page, or a frame on the same site (the documented setup: the preview origin
      a sibling of Kiln's, e.g. preview.kiln.example.com beside kiln.example.com): SameSite=Lax,
      which every browser keeps, and which a cross-site POST does not carry;
    - a frame on another site (bin/dev's page on 127.0.0.1 framing localhost): only a
      partitioned cookie (CHIPS: SameSite=None; Secure; Partitioned, kept per top-level site)
      is stored there at all, and only where the origin is a secure context. Safari keeps no
      cookie in a cross-site frame: there the preview origin must be same-site.
    """
    attrs = [f"{COOKIE}={token}", f"Path={cookie_path(job_id)}", f"Max-Age={int(max_age)}",
             "HttpOnly"]
    framed_cross_site = (request_headers.get("sec-fetch-site") == "cross-site"
                         and request_headers.get("sec-fetch-dest") in ("iframe", "frame"))
    if framed_cross_site and origin.secure_context:
        attrs += ["SameSite=None", "Secure", "Partitioned"]
    else:
        attrs.append("SameSite=Lax")
        if origin.scheme == "https":
            attrs.append("Secure")
    return "; ".join(attrs)
