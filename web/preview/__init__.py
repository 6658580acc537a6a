"""Previews served through Kiln: `<preview origin>/preview/<job_id>/...` reverse-proxied to
wherever the build's app runs (docs/previews.md).

| module | one job |
|---|---|
| `origins.py` | the preview origin (`KILN_PREVIEW_ORIGIN`), stable URLs, and the split that keeps Kiln's routes and previews on their own origins |
| `access.py` | who may see a preview: the owner's bearer token, a signed link, the cookie a link sets |
| `targets.py` | how to reach a job's upstream from this web process: directly, or through its host's preview gateway (web/gateway/) |
| `clients.py` | the bounded pools of upstream HTTP connections |
| `headers.py` | what crosses the proxy: hop-by-hop headers out, Kiln's credentials out, paths kept under the prefix |
| `http.py`, `websocket.py` | forwarding a request (streamed both ways) or a WebSocket |
| `pages.py` | the pages a preview shows instead of the app (404, building, waking, ...) |
| `waking.py` | an expired or reaped preview's wake, started (or joined) by a visit |
| `gate.py` | whether a request gets a preview: path checks, access, the job's state, the target |
| `app.py` | the preview routes: a signed link's landing, then the gate, then forwarding |
"""
