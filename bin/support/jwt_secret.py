"""The JWT secret of a local Kiln (`bin/dev`, `bin/token`): KILN_JWT_SECRET when it is set, else
a random one made once and kept in `<data dir>/jwt-secret` (mode 600), so tokens from
`bin/token` keep working across `bin/dev` restarts.

There is no shared development secret: a deployment gets KILN_JWT_SECRET from its environment,
and the web app refuses to start without one (web/auth.py: check_secret).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FILE = "jwt-secret"


def local_secret(data_dir: Path, env: str = "KILN_JWT_SECRET", file: str = FILE) -> str:
    """`env` (KILN_JWT_SECRET), or this data dir's own secret (created on first use) in
    `file` (also for the preview gateways' KILN_PREVIEW_GATEWAY_SECRET)."""
    if os.environ.get(env):
        return os.environ[env]
    path = data_dir / file
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: a second bin/dev starting at the same moment
        # reads one whole secret (the first link wins), never a half-written file.
        tmp = data_dir / f".{file}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink()
    return path.read_text().strip()
