"""bin/token mints a token the app accepts; --url prints the build page's sign-in link."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from web.auth import decode

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bin-token-test-secret-0123456789abcdef"


def _token(*args: str) -> str:
    env = {**os.environ, "KILN_JWT_SECRET": SECRET, "PORT": "8123", "KILN_NO_APT": "1"}
    out = subprocess.run([str(ROOT / "bin/token"), *args], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip()


def test_token_and_url():
    principal = decode(_token("alice", "--tier", "partner"), SECRET)
    assert principal.user_id == "alice" and principal.tier == "partner"
    url = _token("bob", "--url")
    assert url.startswith("http://127.0.0.1:8123/#token=")
    assert decode(url.split("#token=", 1)[1], SECRET).tier is None
