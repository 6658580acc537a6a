"""The ids Kiln mints for jobs, projects and gates, and the one format they all have.

Ids become parts of Redis key names, so the web app lets only this format in (web/ids.py):
`<job_id>:events` would otherwise name another key of the same job.
"""

from __future__ import annotations

import re
import uuid

ID_PATTERN = "[0-9a-f]{32}"  # uuid4 hex
_ID = re.compile(ID_PATTERN)


def new_id() -> str:
    return uuid.uuid4().hex


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None
