"""The web app refuses to start without a real JWT secret. Before, `uvicorn web.app:app` (the
image's command) without KILN_JWT_SECRET served with a published development secret, so anyone
could sign a token for any user."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from domain.settings import ConfigError, Settings
from tests.support.webproc import ROOT, free_port, uvicorn_argv, web_env, web_process
from tests.web.conftest import token
from web.app import create_app

PUBLISHED = "kiln-local-development-secret-change-me"  # the old default, in old .env files


@pytest.mark.parametrize(("secret", "says"), [
    ("", "KILN_JWT_SECRET is not set"),
    ("x" * 31, "KILN_JWT_SECRET is 31 bytes"),
    (PUBLISHED, "published development default"),
])
def test_uvicorn_refuses_to_start_with_a_missing_short_or_published_secret(redis_url, secret,
                                                                           says):
    port = free_port()
    done = subprocess.run(uvicorn_argv(port), cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=web_env(REDIS_URL=redis_url, KILN_JWT_SECRET=secret))
    assert done.returncode == 1
    assert says in done.stderr and "openssl rand -hex 32" in done.stderr
    assert "Traceback" not in done.stderr  # one clear line, not a stack
    with pytest.raises(httpx.ConnectError):  # it never listened
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_create_app_checks_the_secret_before_anything_else(redis_url):
    for secret in ("", "é" * 15, PUBLISHED):  # 30 bytes in UTF-8: bytes count, not chars
        with pytest.raises(ConfigError, match="KILN_JWT_SECRET"):
            create_app(Settings(redis_url="redis://127.0.0.1:1/0", jwt_secret=secret))
    create_app(Settings(redis_url=redis_url, jwt_secret="é" * 16))  # 32 bytes: fine


def test_with_a_secret_it_serves_and_a_token_signed_with_the_old_default_is_refused(
        redis_url, tmp_path):
    secret = "a-real-secret-for-this-test-0123456789"
    env = web_env(REDIS_URL=redis_url, KILN_JWT_SECRET=secret)
    with web_process(env, tmp_path / "web.log") as url:
        forged = token("victim", secret=PUBLISHED)
        res = httpx.get(f"{url}/api/usage", headers={"Authorization": f"Bearer {forged}"})
        assert res.status_code == 401
        res = httpx.get(f"{url}/api/usage",
                        headers={"Authorization": f"Bearer {token('victim', secret=secret)}"})
        assert res.status_code == 200
