"""The pure parts of previews: what counts as an upstream, the preview origin and which
requests are on it, link tokens, and the header rewrites that keep an app under its prefix."""

from __future__ import annotations

import pytest

from domain.preview import Upstream, upstream_fields
from domain.settings import ConfigError
from web.preview import headers
from web.preview.access import LINK, SESSION, Signer
from web.preview.origins import PreviewOrigin


@pytest.mark.parametrize(("raw", "kind", "bound"), [
    ("http://127.0.0.1:4100", "http", True), ("http://localhost:80/", "http", True),
    ("http://[::1]:9", "http", True), ("unix:/run/kiln/previews/x.sock", "unix", True),
    ("https://8000-abc.e2b.app", "http", False)])
def test_upstreams_kiln_records(raw, kind, bound):
    upstream = Upstream.parse(raw)
    assert upstream is not None and (upstream.kind, upstream.host_bound) == (kind, bound)


@pytest.mark.parametrize("raw", ["", "ftp://x", "unix:relative.sock", "http://", "http://a:b",
                                 "http://u:p@127.0.0.1:1", "http://h/?q=1", "javascript:x"])
def test_anything_else_is_no_upstream(raw):
    assert Upstream.parse(raw) is None
    if raw:
        with pytest.raises(ValueError):
            upstream_fields(raw)


def test_only_host_bound_upstreams_record_their_host():
    assert upstream_fields("https://h.e2b.app")["preview_host"] == ""
    assert upstream_fields("unix:/s.sock")["preview_host"]


def test_the_preview_origin_and_who_is_on_it():
    origin = PreviewOrigin.parse("HTTPS://Preview.Example.com/")
    assert origin.origin == "https://preview.example.com" and origin.secure_context
    assert origin.url("a" * 32) == f"https://preview.example.com/preview/{'a' * 32}/"
    assert origin.serves("preview.example.com") and origin.serves("Preview.example.com:443")
    assert not origin.serves("preview.example.com:8443") and not origin.serves("example.com")
    assert origin.is_origin("https://preview.example.com")
    assert not origin.is_origin("http://preview.example.com") and not origin.is_origin("null")
    dev = PreviewOrigin.parse("http://localhost:8000")
    assert dev.serves("localhost:8000") and not dev.serves("127.0.0.1:8000")
    assert dev.secure_context and not PreviewOrigin.parse("http://preview.lan").secure_context
    assert not PreviewOrigin.parse("").enabled and PreviewOrigin().url("x") is None
    for bad in ("preview.example.com", "https://h/path", "https://h?q", "ws://h", "http://h:x"):
        with pytest.raises(ConfigError):
            PreviewOrigin.parse(bad)


def test_tokens_are_bound_to_purpose_job_and_time():
    signer = Signer("s" * 40)
    token = signer.mint(LINK, "job-a", 2000)
    assert signer.valid(LINK, "job-a", token, now=1999)
    assert not signer.valid(LINK, "job-a", token, now=2000)  # expired
    assert not signer.valid(SESSION, "job-a", token, now=1)  # a link is no cookie
    assert not signer.valid(LINK, "job-b", token, now=1)
    assert not Signer("t" * 40).valid(LINK, "job-a", token, now=1)
    assert not signer.valid(LINK, "job-a", token.replace("2000", "3000"), now=1)
    for junk in (None, "", "x", "1.", ".abc", "9" * 20 + ".x"):
        assert not signer.valid(LINK, "job-a", junk, now=1)


def test_an_apps_cookies_and_redirects_stay_under_its_prefix():
    prefix = "/preview/j/"
    assert headers.set_cookie("a=1", prefix) == "a=1; Path=/preview/j/"
    assert headers.set_cookie("a=1; Domain=.kiln.example.com; Path=/x; Secure", prefix) == \
        "a=1; Path=/preview/j/x; Secure"
    assert headers.set_cookie("kiln_preview=x; Path=/", prefix) is None
    base = "http://127.0.0.1:9"
    assert headers.location("/a?b", prefix, base) == "/preview/j/a?b"
    assert headers.location("http://127.0.0.1:9/a", prefix, base) == "/preview/j/a"
    assert headers.location("http://127.0.0.1:9", prefix, base) == "/preview/j/"
    assert headers.location("https://elsewhere/a", prefix, base) == "https://elsewhere/a"
    assert headers.location("//elsewhere/a", prefix, base) == "//elsewhere/a"
    assert headers.location("next", prefix, base) == "next"
    assert headers.strip_link("a=1&preview_token=x&b=%20&preview%5Ftoken=y") == "a=1&b=%20"
    assert headers.strip_cookie("a=1; kiln_preview=x;b=2") == "a=1; b=2"
