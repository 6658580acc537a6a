"""A generator that kills the worker process running it: a crash-looping stage."""

from __future__ import annotations

import os
import signal


class KillsItsWorker:
    name = "kills-its-worker"

    def generate(self, goal, workspace, feedback):
        os.kill(os.getpid(), signal.SIGKILL)
