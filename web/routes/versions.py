"""A project's line of versions, and a READY build's source tree (listed, or as a zip)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.job import Job
from domain.line import ProjectLine
from domain.status import Status
from web import export, views
from web.auth import authenticate
from web.errors import ApiError
from web.state import Kiln, blocking, kiln, owned_job, owned_project


async def list_versions(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    project = await owned_project(k, request.path_params["project_id"], principal.user_id)
    line = await blocking(ProjectLine(k.store, k.gates).read, project["project_id"])
    return JSONResponse(views.versions(project["project_id"], line, k.previews))


async def _ready_job(request: Request) -> tuple[Kiln, Job]:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    job = await owned_job(k, request.path_params["job_id"], principal.user_id)
    if job.status != Status.READY:
        raise ApiError(409, "job_not_ready", "The build is not ready: only a READY build's "
                                              "files can be listed or downloaded")
    return k, job


async def list_files(request: Request) -> JSONResponse:
    k, job = await _ready_job(request)
    files = await blocking(k.store.files, job.job_id)
    listed: list[dict[str, Any]] = [{"path": path, "size": len(text.encode("utf-8"))}
                                    for path, text in sorted(files.items())]
    return JSONResponse({"job_id": job.job_id, "build_version": job.build_version,
                         "files": listed, "total_bytes": sum(f["size"] for f in listed)})


def _zip(k: Kiln, job: Job) -> tuple[bytes, str]:
    project = k.store.get_project(job.project_id) or {}
    at = job.timestamps.get(Status.READY.value, job.updated_at)
    return (export.zip_bytes(k.store.files(job.job_id), at),
            export.download_name(project.get("name", ""), job.build_version or job.job_id))


async def files_zip(request: Request) -> Response:
    k, job = await _ready_job(request)
    data, name = await blocking(_zip, k, job)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
