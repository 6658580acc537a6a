"""What crosses the proxy, each way.

To the app: the caller's headers minus hop-by-hop ones (RFC 9110 7.6.1: Connection and what it
names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*), minus Kiln's credentials
(a Kiln bearer token, the preview cookie, the link's token: nothing of Kiln's reaches a
sandbox), with X-Forwarded-* set by Kiln (never the caller's) and X-Forwarded-Prefix telling
the app where it is mounted.

From the app: its headers minus hop-by-hop ones; redirects to its own root and its cookies
kept under `/preview/<job_id>/` (an app written for `/` stays inside its prefix, and cannot
set a cookie for another preview, for Kiln's cookie name or for a parent domain).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote_plus

from web.preview.access import COOKIE, LINK_PARAM

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})
# Set by Kiln itself, so a caller's own values never reach the app as if Kiln had said them.
_REPLACED = frozenset({"host", "forwarded", "x-forwarded-for", "x-forwarded-proto",
                       "x-forwarded-host", "x-forwarded-prefix", "x-real-ip"})
_WEBSOCKET_OWN = frozenset({"sec-websocket-key", "sec-websocket-version",
                            "sec-websocket-extensions", "sec-websocket-protocol",
                            "sec-websocket-accept"})

Raw = Iterable[tuple[bytes, bytes]]


def _dropped(raw: list[tuple[str, str]]) -> set[str]:
    """Hop-by-hop names, including every header the Connection header lists."""
    names = set(HOP_BY_HOP)
    for name, value in raw:
        if name == "connection":
            names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


def _decoded(raw: Raw) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]


def strip_cookie(value: str) -> str:
    """A Cookie header without Kiln's preview cookie."""
    kept = [part.strip() for part in value.split(";")
            if part.strip() and part.strip().partition("=")[0].strip() != COOKIE]
    return "; ".join(kept)


def strip_link(query: str) -> str:
    """A query string without the link's token (the rest exactly as sent)."""
    parts = [part for part in query.split("&")
             if part and unquote_plus(part.partition("=")[0]) != LINK_PARAM]
    return "&".join(parts)


def to_upstream(raw: Raw, *, drop_authorization: bool, client_ip: str, proto: str,
                host: str, prefix: str, websocket: bool = False) -> list[tuple[str, str]]:
    headers = _decoded(raw)
    dropped = _dropped(headers) | _REPLACED
    if websocket:
        dropped |= _WEBSOCKET_OWN
    if drop_authorization:
        dropped.add("authorization")
    out: list[tuple[str, str]] = []
    for name, value in headers:
        if name in dropped:
            continue
        if name == "cookie":
            value = strip_cookie(value)
            if not value:
                continue
        out.append((name, value))
    if not websocket and not any(name == "accept-encoding" for name, _ in out):
        out.append(("accept-encoding", "identity"))  # what the caller can read, raw
    out += [("x-forwarded-for", client_ip), ("x-forwarded-proto", proto),
            ("x-forwarded-host", host), ("x-forwarded-prefix", prefix.rstrip("/"))]
    return out


def set_cookie(value: str, prefix: str) -> str | None:
    """An app's Set-Cookie, scoped under its prefix; None for one that takes Kiln's name."""
    first, *attributes = [part.strip() for part in value.split(";")]
    if first.partition("=")[0].strip() == COOKIE:
        return None
    path = "/"
    kept = []
    for attribute in attributes:
        name, _, arg = attribute.partition("=")
        name = name.strip().lower()
        if name == "domain":
            continue  # host-only: never a parent domain (Kiln's site)
        if name == "path":
            path = arg.strip() if arg.strip().startswith("/") else "/"
            continue
        if attribute:
            kept.append(attribute)
    return "; ".join([first, f"Path={prefix.rstrip('/')}{path}", *kept])


def location(value: str, prefix: str, upstream_base: str) -> str:
    """A redirect to the app's own root stays under its prefix; others are left alone."""
    base = upstream_base.rstrip("/")
    if value.startswith("/") and not value.startswith("//"):
        return prefix.rstrip("/") + value
    if value == base or value.startswith(base + "/") or value.startswith(base + "?"):
        rest = value[len(base):]
        return prefix.rstrip("/") + (rest if rest.startswith("/") else "/" + rest)
    return value


# uvicorn sends its own Date and Server: the app's would be second copies.
_SERVER_OWN = frozenset({"date", "server"})


def from_upstream(raw: Raw, *, prefix: str, upstream_base: str) -> list[tuple[bytes, bytes]]:
    headers = _decoded(raw)
    dropped = _dropped(headers) | _SERVER_OWN
    out: list[tuple[bytes, bytes]] = []
    cache_control = False
    for name, value in headers:
        if name in dropped:
            continue
        if name == "set-cookie":
            scoped = set_cookie(value, prefix)
            if scoped is None:
                continue
            value = scoped
        elif name == "location":
            value = location(value, prefix, upstream_base)
        elif name == "cache-control":
            cache_control = True
        out.append((name.encode("latin-1"), value.encode("latin-1")))
    if not cache_control:  # a signed-in page: no shared cache keeps it
        out.append((b"cache-control", b"private"))
    return out


def passed_through(raw: Raw, drop: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Headers minus hop-by-hop ones and `drop`, otherwise as they are: a preview gateway
    passes on what the web tier already made of a request (and the app's response, which the
    web tier rewrites)."""
    headers = _decoded(raw)
    dropped = _dropped(headers) | drop
    return [(name, value) for name, value in headers if name not in dropped]


def passed_back(raw: Raw, drop: frozenset[str] = frozenset()) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1"))
            for name, value in passed_through(raw, _SERVER_OWN | drop)]
