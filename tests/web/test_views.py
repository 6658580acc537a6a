"""Stream entries as SSE payloads: labels, progress, queue positions, what stays server-side."""

from __future__ import annotations

from web import views


def test_status_event():
    out = views.event({"type": "status", "status": "code", "from": "scaffold",
                       "at": "1795815189.5", "iteration": "1", "sandbox_id": "sb-1"})
    assert out == {"type": "status", "status": "code", "from": "scaffold", "iteration": 1,
                   "at": "2026-11-27T21:33:09.500000Z", "stage_label": "Writing code...",
                   "progress": 0.45}


def test_failed_event_keeps_the_stage_progress_and_the_message():
    out = views.event({"type": "status", "status": "failed", "from": "deps",
                       "failed_stage": "deps", "cancelled": "1",
                       "error_message": "Cancelled by user", "at": "1795815189"})
    assert out["progress"] == 0.65 and out["cancelled"] is True
    assert out["error_message"] == "Cancelled by user" and out["stage_label"] == "Build failed"


def test_queue_event():
    out = views.event({"type": "queue", "position": "3", "eta_seconds": "42"})
    assert out == {"type": "queue", "queue_position": 3, "eta_seconds": 42.0}
