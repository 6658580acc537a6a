"""The deployment files hold together: the compose file parses and has what operations rely on,
the Dockerfile copies paths that exist and runs as a non-root user, and
docs/configuration.md's table names every environment variable the code reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_redis_web_and_scalable_workers():
    services = _compose()["services"]
    assert set(services) == {"redis", "web", "worker"}
    redis, web, worker = services["redis"], services["web"], services["worker"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", name
    assert any("/readyz" in part for part in web["healthcheck"]["test"])
    assert web["command"][:2] == ["uvicorn", "web.app:app"]
    # A worker host: its workers and its preview gateway (docs/previews.md).
    assert worker["command"][:3] == ["python", "-m", "bin.support.worker_host"]
    # `--scale worker=N` needs no fixed container name and no published host port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker.get("init") is True  # SIGTERM forwarded, sandbox processes reaped
    grace = int(worker["stop_grace_period"].rstrip("s"))
    timeout_ms = int(worker["command"][worker["command"].index("--worker-shutdown-timeout") + 1])
    assert grace > timeout_ms / 1000  # docker waits longer than the worker does for its stage
    for service in (web, worker):
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.skipif(not shutil.which("docker"), reason="docker CLI not installed")
def test_docker_compose_config_accepts_the_file():
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True,
                           timeout=60)
    if probe.returncode != 0:
        pytest.skip("docker compose plugin not installed (the YAML checks above still run)")
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
                            capture_output=True, text=True, timeout=60,
                            env={"KILN_JWT_SECRET": "x" * 32,
                                 "KILN_PREVIEW_GATEWAY_SECRET": "y" * 32,
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr


def test_scaled_workers_each_serve_their_previews_through_a_gateway():
    """`--scale worker=3` with local sandboxes: each worker container is a host of its own (no
    fixed KILN_HOST_ID or gateway URL: the container's name and address), its gateway listens
    on the compose network, and web and workers share the secret it checks."""
    services = _compose()["services"]
    web, worker = services["web"], services["worker"]
    assert worker["environment"]["KILN_PREVIEW_GATEWAY_BIND"] == "0.0.0.0:8100"
    for service in (web, worker):
        env = service["environment"]
        assert env["KILN_PREVIEW_GATEWAY_SECRET"].startswith("${KILN_PREVIEW_GATEWAY_SECRET:?")
        assert env["KILN_SANDBOX"] == "${KILN_SANDBOX:-local}"
        assert "KILN_HOST_ID" not in env and "KILN_PREVIEW_GATEWAY_URL" not in env
    assert not any("8100" in str(port) for port in worker.get("ports", []))
    assert any("8100/healthz" in part for part in worker["healthcheck"]["test"])
    assert "--worker-shutdown-timeout" in worker["command"]


def test_dockerfile_copies_existing_paths_and_runs_unprivileged():
    text = DOCKERFILE.read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    assert re.search(r"^USER (?!root\b|0\b)\S+", text, re.MULTILINE)
    assert "bubblewrap" in text and "uv sync --frozen --no-dev" in text
    assert '"uvicorn", "web.app:app"' in text
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not ignored & {"domain", "actors", "web", "bin", "uv.lock", "pyproject.toml"}


# Markers the sandbox sets for itself, not configuration.
_INTERNAL = {"KILN_SANDBOX_CMD", "KILN_SANDBOX_ID"}


def test_configuration_table_names_every_environment_variable():
    readme = (ROOT / "docs" / "configuration.md").read_text()
    names = set()
    for package in ("domain", "actors", "web", "bin"):
        for path in (ROOT / package).rglob("*.py"):
            if "bench" in path.parts:  # bin/bench documents its own knobs
                continue
            names |= set(re.findall(r"[\"'](KILN_[A-Z0-9_]+|REDIS_URL|[A-Z0-9]+_API_KEY|"
                                    r"ANTHROPIC_BASE_URL)[\"']", path.read_text()))
    names -= _INTERNAL
    assert {"REDIS_URL", "KILN_SANDBOX", "KILN_SANDBOX_CPU_S", "KILN_E2B_TEMPLATE"} <= names
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, f"docs/configuration.md lacks {missing}"
    assert "`KILN_TIER_<TIER>_<FIELD>`" in readme and "`E2B_API_KEY`" in readme
