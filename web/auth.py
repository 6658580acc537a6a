"""Bearer JWT auth (HS256): `sub` is the user, `tier` the subscription. Any token problem is a
401 that says nothing about why beyond the basics; a missing tier is a 403 only where a route
needs a subscription."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from starlette.requests import Request

from domain.tiers import Tier, parse_tier
from web.errors import ApiError

ALGORITHM = "HS256"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    user_id: str
    tier: Tier | None


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail, _CHALLENGE)


def decode(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["sub"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("Token expired") from None
    except jwt.PyJWTError:
        raise _unauthorized("Invalid token") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 200:
        raise _unauthorized("Invalid token")
    tier = claims.get("tier")
    return Principal(sub, parse_tier(tier) if isinstance(tier, str) else None)


def authenticate(request: Request, secret: str, allow_query: bool = False) -> Principal:
    """The caller, from `Authorization: Bearer`; with `allow_query`, also `?access_token=`
    (browsers' EventSource cannot set headers)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return decode(token.strip(), secret)
    if allow_query and request.query_params.get("access_token"):
        return decode(request.query_params["access_token"], secret)
    raise _unauthorized("Missing bearer token")


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
