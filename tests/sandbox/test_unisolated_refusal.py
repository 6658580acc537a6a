"""Workers refuse to run a model's code without bubblewrap unless the operator accepts it: the
real `import actors` that `dramatiq actors` does, in a process whose PATH has no bwrap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _import_actors(redis_url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    no_bwrap = tmp_path / "bin"  # a PATH where bubblewrap cannot be found
    no_bwrap.mkdir(exist_ok=True)
    base = {"HOME": os.environ.get("HOME", "/root"), "PATH": str(no_bwrap),
            "REDIS_URL": redis_url, "KILN_LOG_FORMAT": "json",
            "KILN_SANDBOX_ROOT": str(tmp_path / "sandboxes")}
    return subprocess.run([sys.executable, "-c", "import actors"], cwd=ROOT, env=base | env,
                          capture_output=True, text=True, timeout=60)


def test_a_model_generator_without_bwrap_refuses_to_start(redis_url, tmp_path):
    done = _import_actors(redis_url, tmp_path, KILN_GENERATOR="anthropic")
    assert done.returncode != 0
    assert "worker_refused_unisolated" in done.stderr
    assert "KILN_ALLOW_UNISOLATED=1" in done.stderr and "bubblewrap" in done.stderr


@pytest.mark.parametrize("env", [{"KILN_GENERATOR": "anthropic", "KILN_ALLOW_UNISOLATED": "1"},
                                 {"KILN_GENERATOR": "template"},
                                 {"KILN_GENERATOR": "anthropic", "KILN_SANDBOX": "e2b"}],
                         ids=["accepted-by-operator", "trusted-template", "e2b-runtime"])
def test_trusted_or_accepted_configurations_start(redis_url, tmp_path, env):
    done = _import_actors(redis_url, tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert "worker_refused_unisolated" not in done.stderr
