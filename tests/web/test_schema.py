"""schemathesis over /openapi.json, bounded: a few generated requests per operation (with a
valid token, half of them aimed at real ids) find no 5xx and no response that breaks the
schema. Also: the schema itself is valid OpenAPI 3."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from domain.status import Status
from tests.web.conftest import auth, job_at, walk
from web.openapi import SCHEMA

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
EXAMPLES = 8


@pytest.fixture
def seeded(api, store):
    """Real ids for the generated requests to hit: a project, a running and a ready job."""
    project = api.post("/api/projects", json={"name": "Fuzz"}, headers=auth()).json()
    ready = job_at(store, project["project_id"], Status.CHECKS)
    walk(store, ready, Status.READY)
    gate = api.post(f"/api/generation/{ready}/preview-viewed", headers=auth()).json()
    return {"project_id": [project["project_id"]], "gate_id": [gate["gate_id"]],
            # A running job's event stream would never end; events only get the ready one.
            "job_id": [ready, job_at(store, project["project_id"], Status.CODE)],
            "events_job_id": [ready]}


def _operations(live):
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_schema_is_valid_openapi(live):
    labels = {operation.label for operation in _operations(live)}
    documented = {f"{method.upper()} {path}" for path, ops in SCHEMA["paths"].items()
                  for method in ops}
    # schemathesis leaves out the operation that serves the schema itself.
    assert labels == documented - {"GET /openapi.json"}


def _fuzz(operation, base_url: str, seeded: dict, headers: dict) -> None:
    events = operation.path.endswith("/events")

    @given(st.tuples(operation.as_strategy(), st.booleans(), st.integers(0, 9)))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(drawn):
        case, use_real, pick = drawn
        if use_real:
            for name in list(case.path_parameters or {}):
                choices = seeded["events_job_id" if events else name]
                case.path_parameters[name] = choices[pick % len(choices)]
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=15)

    check()


def test_generated_requests_conform(api, live, seeded):
    for operation in _operations(live):
        _fuzz(operation, live.url, seeded, auth())
