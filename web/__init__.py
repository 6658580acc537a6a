"""Kiln's web app: the HTTP API, live events, health and metrics (see web/app.py)."""
