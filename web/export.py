"""A build's source tree as a zip: the files Kiln stored for it, at the archive's root, with
the build's READY time on every entry, so the same build always downloads the same bytes."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import PurePosixPath

from domain.logs import get_logger

log = get_logger("kiln.web")
_EPOCH_1980 = 315532800.0  # the earliest time a zip entry can carry


def safe_name(path: str) -> bool:
    """A relative path without `..` (stored files are checked when generated; a zip must
    never carry a path that extracts outside its folder even so)."""
    pure = PurePosixPath(path)
    return bool(path) and not pure.is_absolute() and ".." not in pure.parts \
        and "\\" not in path and "\x00" not in path


def zip_bytes(files: dict[str, str], at: float) -> bytes:
    stamp = time.gmtime(max(at, _EPOCH_1980))[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            if not safe_name(path):
                log.warning("export_path_skipped", path=path[:200])
                continue
            entry = zipfile.ZipInfo(path, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, files[path].encode("utf-8"))
    return buffer.getvalue()


def download_name(project_name: str, build_version: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", project_name.lower()).strip("-")[:40] or "kiln-app"
    return f"{slug}-{build_version}.zip"
