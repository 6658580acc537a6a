"""Projects: create, list the caller's own, read one with its builds and pending gate."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.clock import iso
from web import views
from web.auth import authenticate
from web.bodies import NAME_MAX, json_object, text
from web.state import Kiln, blocking, kiln, owned_project

BUILDS_SHOWN = 20


def _with_builds(k: Kiln, record: dict[str, Any]) -> dict[str, Any]:
    project_id = record["project_id"]
    builds = k.store.get_jobs(k.store.project_job_ids(project_id, BUILDS_SHOWN))
    return views.project(record, builds, k.gates.pending(project_id), k.previews)


def _list(k: Kiln, user_id: str) -> list[dict[str, Any]]:
    return [_with_builds(k, record) for record in k.store.list_projects(user_id)]


async def create_project(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    name = text(await json_object(request), "name", NAME_MAX).strip()
    record = await blocking(k.store.create_project, principal.user_id, name)
    return JSONResponse({"project_id": record["project_id"], "name": record["name"],
                         "created_at": iso(record["created_at"])}, status_code=201)


async def list_projects(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    return JSONResponse({"projects": await blocking(_list, k, principal.user_id)})


async def get_project(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    record = await owned_project(k, request.path_params["project_id"], principal.user_id)
    return JSONResponse(await blocking(_with_builds, k, record))
