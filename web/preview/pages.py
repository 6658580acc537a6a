"""What a preview shows instead of the app: a small HTML page for browsers, or Kiln's JSON
error (`{"detail", "code"}`) for a caller that does not ask for HTML.

Anyone who may not see a job's preview (unknown id, another user's job, a bad or expired
link) gets exactly the NOT_FOUND page, so previews cannot be used to learn which jobs exist.
The pages that say more (building, failed, waking) are for those who may see the job.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, Response


@dataclass(frozen=True)
class Page:
    status: int
    code: str
    title: str
    text: str
    retry_after: int | None = None  # also reloads the HTML page after that many seconds
    reloads: bool = True  # the HTML page reloads itself after `retry_after`


Refusal = tuple[Page, dict[str, str]]  # a page instead of the app, and the values it shows


NOT_FOUND = Page(404, "not_found", "No preview here",
                 "This preview does not exist, or you are not signed in to see it. Open it "
                 "from Kiln's build page, which signs you in to your own builds' previews.")
NOT_HERE = Page(404, "not_found", "Nothing here",
                "This address serves app previews only, at /preview/<build>/.")
FAILED = Page(404, "build_failed", "This build has no preview",
              "The build failed, so there is no app to show. Kiln's build page says why.")
BUILDING = Page(503, "building", "Still building",
                "The app is not ready yet ({stage}). This page reloads by itself.", 5)
# An expired or reaped preview wakes up (web/preview/waking.py).
WAKING = Page(503, "waking", "Waking up the app",
              "This preview was asleep: Kiln is starting its app again from the build's files. "
              "Step {number} of {steps}: {step}... This page reloads by itself.", 2)
WAKE_QUOTA = Page(503, "wake_quota", "No room to wake the app right now",
                  "Waking this preview needs a sandbox, and {which} are all in use. This page "
                  "tries again by itself.", 15)
WAKE_FAILED = Page(503, "wake_failed", "The app could not be restarted",
                   "{reason} Reload this page in {retry} seconds to try again.", 30,
                   reloads=False)  # its code is the failure's (domain/wake.py: FAILURES)
UNAVAILABLE = Page(502, "preview_unavailable", "The app is not answering",
                   "The build is ready but its app did not answer. Try again in a moment.", 10)
ELSEWHERE = Page(503, "preview_unreachable", "The app cannot be reached from here",
                 "The app runs on a worker host this server cannot reach.", 10)
TIMEOUT = Page(504, "preview_timeout", "The app took too long",
               "The app did not answer in time. Try again in a moment.")
TOO_LARGE = Page(413, "payload_too_large", "Request too large",
                 "The request body is larger than previews accept.")
METHOD = Page(405, "method_not_allowed", "Method not allowed",
              "Previews take GET, HEAD, OPTIONS, POST, PUT, PATCH and DELETE.")
ERROR = Page(500, "internal_error", "Something went wrong", "Kiln could not show this preview.")

_STYLE = ("body{font:16px/1.5 system-ui,sans-serif;color:#1f2328;background:#f6f8fa;margin:0;"
          "display:grid;place-items:center;min-height:100vh}main{max-width:32rem;padding:2rem;"
          "background:#fff;border:1px solid #d0d7de;border-radius:12px}h1{font-size:1.25rem;"
          "margin:0 0 .5rem}p{margin:0;color:#57606a}")


def render(page: Page, request_headers: Headers | None = None, **values: str) -> Response:
    text = page.text.format(**values) if values else page.text
    headers = {"Cache-Control": "no-store"}
    if page.retry_after:
        headers["Retry-After"] = str(page.retry_after)
    accept = request_headers.get("accept", "") if request_headers is not None else ""
    if "text/html" not in accept and "*/*" not in accept:
        return JSONResponse({"detail": f"{page.title}. {text}", "code": page.code},
                            status_code=page.status, headers=headers)
    refresh = (f'<meta http-equiv="refresh" content="{page.retry_after}">'
               if page.retry_after and page.reloads else "")
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">{refresh}'
            f'<title>{html.escape(page.title)}</title><style>{_STYLE}</style></head><body>'
            f'<main data-code="{page.code}"><h1>{html.escape(page.title)}</h1>'
            f'<p>{html.escape(text)}</p></main></body></html>')
    return HTMLResponse(body, status_code=page.status, headers=headers)
