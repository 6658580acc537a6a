"""Ids at the edge: a path convertor that lets only Kiln's id format into a route.

A route declares `{job_id:id}` (or `project_id`, `gate_id`); a malformed id matches no route and
is a 404 before any code runs, so it never reaches Redis as part of a key name (where
`<job_id>:events` named the job's event stream). The one id in a body, a start's
`project_id`, is checked where projects are looked up (web/state.py: owned_project).
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from domain.ids import ID_PATTERN

CONVERTOR = "id"


class IdConvertor(Convertor[str]):
    regex = ID_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def register() -> None:
    """Idempotent; before the routing table is built (Starlette compiles paths then)."""
    register_url_convertor(CONVERTOR, IdConvertor())

