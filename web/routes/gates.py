"""Gates: list a project's gates, resolve one with a decision."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.gates import GateDecision
from web import views
from web.auth import authenticate
from web.bodies import choice, json_object
from web.errors import ApiError, not_found
from web.state import blocking, kiln, owned_project


async def list_gates(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    project = await owned_project(k, request.path_params["project_id"], principal.user_id)
    gates = await blocking(k.gates.list, project["project_id"])
    return JSONResponse({"gates": [views.gate(g) for g in gates]})


async def resolve_gate(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    decision = choice(await json_object(request), "decision", GateDecision)
    gate_id = request.path_params["gate_id"]
    gate = await blocking(k.gates.get, gate_id)
    if gate is None or gate.get("user_id") != principal.user_id:
        raise not_found("Gate not found")
    outcome = await blocking(k.gates.resolve, gate_id, decision)
    if outcome == "missing":
        raise not_found("Gate not found")
    if outcome == "resolved":
        raise ApiError(409, "gate_resolved", "This gate has already been resolved")
    return JSONResponse(views.gate(await blocking(k.gates.get, gate_id)))
