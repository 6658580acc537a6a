"""Children that die with the process that started them, even when it is SIGKILLed (a closed
terminal, `kill -9`, the OOM killer): the kernel's parent-death signal (PR_SET_PDEATHSIG), set
by util-linux's `setpriv` just before it execs the real command.

Not `preexec_fn`: it is unsafe in a threaded parent, and the supervisor starts children from a
thread. The signal fires when the *thread* that started the child exits, not only the process:
start children from a thread that lives as long as they should (Supervisor keeps its watcher
alive until its children are gone).
"""

from __future__ import annotations

import functools
import shutil
import sys


@functools.cache
def _setpriv() -> str | None:
    path = shutil.which("setpriv")
    if path is None:
        print("kiln: setpriv (util-linux) not found: children outlive a killed parent",
              file=sys.stderr)
    return path


def die_with_parent(argv: list[str], signal: str = "TERM") -> list[str]:
    """`argv` run so that the child gets `signal` (SIGTERM: an orderly stop) when its parent
    dies; `argv` unchanged where setpriv is missing (said once)."""
    setpriv = _setpriv()
    return [setpriv, "--pdeathsig", signal, "--", *argv] if setpriv else list(argv)
