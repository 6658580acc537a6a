"""Auth on every protected route: 401 for any token problem, 403 for a start without a tier."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.web.conftest import SECRET, auth, token

ID = "0" * 32  # well-formed (a malformed id matches no route: tests/web/test_ids.py)
PROTECTED = [
    ("POST", "/api/projects"), ("GET", "/api/projects"), ("GET", f"/api/projects/{ID}"),
    ("GET", f"/api/projects/{ID}/gates"), ("POST", f"/api/gates/{ID}/resolve"),
    ("POST", "/api/generation/start"), ("GET", f"/api/generation/{ID}/status"),
    ("GET", f"/api/generation/{ID}/events"), ("POST", f"/api/generation/{ID}/cancel"),
    ("POST", f"/api/generation/{ID}/preview-viewed"), ("GET", "/api/usage"),
]

BAD_TOKENS = {
    "missing": None,
    "malformed": "Bearer not-a-jwt",
    "wrong-scheme": "Basic dXNlcjpwYXNz",
    "wrong-signature": "Bearer " + token(secret="some-other-secret-456-0123456789abcdef"),
    "expired": "Bearer " + jwt.encode({"sub": "user-1", "tier": "partner",
                                       "exp": int(time.time()) - 10}, SECRET, "HS256"),
    "no-sub": "Bearer " + jwt.encode({"tier": "partner", "exp": int(time.time()) + 60},
                                     SECRET, "HS256"),
    "no-exp": "Bearer " + jwt.encode({"sub": "user-1", "tier": "partner"}, SECRET, "HS256"),
    "empty-sub": "Bearer " + jwt.encode({"sub": " ", "exp": int(time.time()) + 60}, SECRET,
                                        "HS256"),
    "alg-none": "Bearer " + jwt.encode({"sub": "user-1"}, None, "none"),
}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_token_is_401(api, method, path, case):
    headers = {} if BAD_TOKENS[case] is None else {"Authorization": BAD_TOKENS[case]}
    res = api.request(method, path, headers=headers, json={})
    assert res.status_code == 401
    body = res.json()
    assert body["code"] == "unauthorized" and body["detail"]
    assert SECRET not in res.text


def test_start_without_tier_is_403(api, user_project):
    res = api.post("/api/generation/start", headers=auth(tier=None),
                   json={"project_id": user_project["project_id"], "goal": "a todo app"})
    assert res.status_code == 403 and res.json()["code"] == "no_subscription"


def test_unknown_tier_is_no_subscription(api, user_project):
    res = api.post("/api/generation/start", headers=auth(tier="platinum"),
                   json={"project_id": user_project["project_id"], "goal": "a todo app"})
    assert res.status_code == 403


def test_unknown_route_and_method_are_json(api):
    res = api.get("/api/nope")
    assert res.status_code == 404 and res.json()["code"] == "not_found"
    res = api.delete("/api/projects", headers=auth())
    assert res.status_code == 405 and res.json()["code"] == "method_not_allowed"
