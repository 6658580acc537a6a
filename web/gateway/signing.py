"""How the web tier and a worker host's preview gateway trust each other: a shared secret
(`KILN_PREVIEW_GATEWAY_SECRET`) and an HMAC-SHA256 per forwarded request over its method, job
id, path with query and a timestamp, valid for a short while (clocks of hosts differ a little).

Only the web tier holds the secret besides the gateways, never a sandbox: a request a sandbox
(or anything else on the network) makes to a gateway is refused.
"""

from __future__ import annotations

import hashlib
import hmac

from domain.settings import ConfigError

SECRET_ENV = "KILN_PREVIEW_GATEWAY_SECRET"
MIN_SECRET_BYTES = 32
HEADER = "x-kiln-gateway-signature"
PREFIX = "/preview/"  # a gateway serves `/preview/<job_id>/<the app's path>`
VALID_S = 30  # either way: a signature from the future by this much is as good
WEBSOCKET = "WEBSOCKET"  # the method signed for a WebSocket (a signed GET cannot open one)


def check_secret(secret: str, who: str) -> None:
    """Refuse to run without a secret that is long enough; the message says what to set."""
    how = (f"Set {SECRET_ENV} to the same 32+ random bytes on the web tier and every worker "
           "host, e.g. `openssl rand -hex 32` (docs/previews.md)")
    if not secret:
        raise ConfigError(f"{SECRET_ENV} is not set: {who} will not start without it. {how}.")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"{SECRET_ENV} is {len(secret.encode())} bytes, too short. {how}.")


def _mac(secret: str, method: str, job_id: str, path_query: str, timestamp: int) -> str:
    message = "\n".join(("kiln-preview-gateway-v1", method.upper(), job_id, path_query,
                         str(timestamp)))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, method: str, job_id: str, path_query: str, now: float) -> str:
    """The header value: `<unix time>.<hex HMAC>`."""
    timestamp = int(now)
    return f"{timestamp}.{_mac(secret, method, job_id, path_query, timestamp)}"


def verify(secret: str, value: str | None, method: str, job_id: str, path_query: str,
           now: float) -> str | None:
    """None when the signature holds; otherwise why not (for the 403's detail)."""
    if not value:
        return "missing signature"
    stamp, _, mac = value.partition(".")
    if not stamp.isdigit() or not mac:
        return "malformed signature"
    if abs(now - int(stamp)) > VALID_S:
        return "stale signature"
    expected = _mac(secret, method, job_id, path_query, int(stamp))
    if not hmac.compare_digest(expected, mac):
        return "bad signature"
    return None
