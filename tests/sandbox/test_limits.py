"""Resource limits set in the launched command actually stop runaway code."""


import pytest

from actors.sandbox.isolation import Limits
from tests.sandbox.helpers import MODES

SMALL = Limits(cpu_s=1, memory_bytes=512 * 1024**2, file_bytes=1024**2)


@pytest.fixture(params=MODES)
def sb(request, make_runtime):
    return make_runtime(request.param, limits=SMALL).create("job-1", {}, 60)


def test_memory_hog_is_stopped_but_normal_use_works(sb):
    assert sb.run("python3 -c \"b = bytearray(100 * 1024**2); print('ok')\"", timeout=20).ok
    res = sb.run("python3 -c \"b = bytearray(2 * 1024**3); print('allocated')\"", timeout=20)
    assert not res.ok and "MemoryError" in res.output and "allocated" not in res.output


def test_cpu_loop_is_stopped_by_the_cpu_limit(sb):
    res = sb.run("python3 -c 'while True: pass'", timeout=30)
    assert not res.ok and not res.timed_out  # the 1 s CPU limit stopped it, not the timeout


def test_file_size_limit(sb):
    res = sb.run("head -c 5000000 /dev/zero > big.bin; echo rc=$?", timeout=20)
    assert "rc=0" not in res.output
    assert (sb.workspace / "big.bin").stat().st_size <= 1024**2
