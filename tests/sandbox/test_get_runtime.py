"""get_runtime picks the configured runtime and wires it to the Redis registry."""

import pytest

from actors.sandbox import get_runtime
from actors.sandbox.e2b import E2BRuntime
from actors.sandbox.local import LocalRuntime
from domain.keys import Keys
from domain.settings import Settings


def test_local_runtime_registers_under_the_settings_prefix(r, tmp_path):
    rt = get_runtime(Settings(sandbox="local", sandbox_root=tmp_path, redis_prefix="kx"), r)
    assert isinstance(rt, LocalRuntime) and rt.root == tmp_path.resolve()
    sb = rt.create("job-1", {}, 60)
    assert r.hexists(Keys("kx").sandboxes(), sb.id)
    rt.kill(sb.id)
    assert not r.hexists(Keys("kx").sandboxes(), sb.id)


def test_e2b_and_unknown(r):
    assert isinstance(get_runtime(Settings(sandbox="e2b"), r), E2BRuntime)
    with pytest.raises(ValueError):
        get_runtime(Settings(sandbox="docker"), r)


def test_a_runtime_of_the_deployments_own(r):
    from bin.support.bench.noop import NoopRuntime

    rt = get_runtime(Settings(sandbox="bin.support.bench.noop:NoopRuntime"), r)
    assert isinstance(rt, NoopRuntime)
