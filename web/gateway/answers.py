"""What a gateway answers itself (not the app), and what the web tier shows for it.

A gateway's own answer carries `X-Kiln-Gateway-Error: <code>` and is JSON; the web tier never
passes it on as the app's, but shows its own page for the code (the build page, a browser and
an API client get the same pages as for a direct upstream).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import JSONResponse

from domain.logs import get_logger
from web.preview import pages

log = get_logger("kiln.preview")
ERROR_HEADER = "x-kiln-gateway-error"
# The app did not take the gateway's connection: the web tier decides between "not answering"
# and "expired" (it knows the sandbox registry; the page is the same as for a direct upstream).
APP_REFUSED = pages.Page(502, "app_refused", "The app refused the connection", "")
BAD_SIGNATURE = "bad_signature"
NOT_HERE = "not_here"
_PASSED_ON = {p.code: p for p in (pages.TIMEOUT, pages.TOO_LARGE, pages.UNAVAILABLE)}


def refusal(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status,
                        headers={ERROR_HEADER: code, "Cache-Control": "no-store"})


def page_answer(page: pages.Page) -> JSONResponse:
    return refusal(page.status, page.code, f"{page.title}. {page.text}".rstrip(". ") + ".")


async def page_for(code: str, when_app_refused: Callable[[], Awaitable[pages.Refusal]]
                   ) -> pages.Refusal:
    """The page the web tier shows for a gateway's own answer."""
    if code == APP_REFUSED.code:
        return await when_app_refused()  # gone with its sandbox: a wake; else not answering
    if code in _PASSED_ON:
        return _PASSED_ON[code], {}
    # Refused outright (a signature, a job not on its host): secrets that differ, or a record
    # that moved. To the visitor the app is out of reach; the log says why.
    log.warning("preview.gateway_refused", code=code)
    return pages.ELSEWHERE, {}
