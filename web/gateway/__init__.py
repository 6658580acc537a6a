"""A worker host's preview gateway (`python -m web.gateway`, docs/previews.md): the web tier's
way to previews whose upstream only this host can reach (a local sandbox's socket or loopback
port), from a web process on any host.

| module | one job |
|---|---|
| `signing.py` | the shared secret, and the HMAC each forwarded request carries |
| `registry.py` | `host -> gateway URL` in Redis, with a heartbeat |
| `answers.py` | the gateway's own answers, and the pages the web tier shows for them |
| `forward.py` | the routes: check the signature and the job, then forward (web/preview's code) |
| `app.py` | the ASGI app: its clients, its registration while it runs |
| `__main__.py` | the process: settings, the secret's check, uvicorn |
"""
