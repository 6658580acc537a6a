"""Bearer JWT auth (HS256): `sub` is the user, `tier` the subscription, `exp` is required. Any
token problem is a 401 that says nothing about why beyond the basics; a missing tier is a 403
only where a route needs a subscription."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import jwt
from starlette.requests import Request

from domain.logs import bind_job_context
from domain.settings import ConfigError
from domain.tiers import Tier, parse_tier
from web.errors import ApiError

ALGORITHM = "HS256"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
MIN_SECRET_BYTES = 32  # HS256's key size (RFC 7518 3.2)
# Published secrets are no secrets: an old default, copied into some .env files.
_PUBLIC_SECRETS = frozenset({"kiln-local-development-secret-change-me"})


def check_secret(secret: str) -> None:
    """Refuse a signing secret anyone could know or guess: with it, anyone could sign a token
    for any user. Raises ConfigError saying what to set."""
    how = ("Set KILN_JWT_SECRET to at least 32 random bytes, e.g. `openssl rand -hex 32` "
           "(bin/dev and bin/test provide one themselves)")
    if not secret:
        raise ConfigError(f"KILN_JWT_SECRET is not set: the web app will not start without "
                          f"it. {how}.")
    if secret in _PUBLIC_SECRETS:
        raise ConfigError(f"KILN_JWT_SECRET is the published development default. {how}.")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"KILN_JWT_SECRET is {len(secret.encode())} bytes, too short to "
                          f"sign tokens. {how}.")


@dataclass(frozen=True)
class Principal:
    user_id: str
    tier: Tier | None


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail, _CHALLENGE)


@lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> tuple[Principal, float | None]:
    """Signature and claims, checked once per distinct token (HMAC + JSON cost ~0.1-0.2 ms,
    a large share of a status request). Failures raise and so are never cached."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("Token expired") from None
    except jwt.PyJWTError:
        raise _unauthorized("Invalid token") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 200:
        raise _unauthorized("Invalid token")
    tier = claims.get("tier")
    exp = claims.get("exp")
    return (Principal(sub, parse_tier(tier) if isinstance(tier, str) else None),
            float(exp) if isinstance(exp, int | float) else None)


def decode(token: str, secret: str) -> Principal:
    principal, exp = _verified(token, secret)
    if exp is not None and exp <= time.time():  # a cached token can expire since
        raise _unauthorized("Token expired")
    return principal


def authenticate(request: Request, secret: str, allow_query: bool = False) -> Principal:
    """The caller, from `Authorization: Bearer`; with `allow_query`, also `?access_token=`
    (browsers' EventSource cannot set headers)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        principal = decode(token.strip(), secret)
    elif allow_query and request.query_params.get("access_token"):
        principal = decode(request.query_params["access_token"], secret)
    else:
        raise _unauthorized("Missing bearer token")
    bind_job_context(user_id=principal.user_id)  # this request's log lines (access line too)
    return principal


def require_tier(principal: Principal) -> Tier:
    if principal.tier is None:
        raise ApiError(403, "no_subscription", "A subscription tier is required to start builds")
    return principal.tier


def mint(user_id: str, tier: str | None, secret: str, ttl_s: int = 7 * 24 * 3600) -> str:
    """A token for local use (bin/token, tests)."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl_s}
    if tier:
        claims["tier"] = tier
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
