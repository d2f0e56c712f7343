"""The wall time and the CPU time of a command and of every process it started.

``python -m devtools.cpu_time make test`` runs the command as a child subreaper
(Linux's ``PR_SET_CHILD_SUBREAPER``): a process whose parent ends before it, as
the shared DynamoDB Local and the OpenID Provider's fork server of the tests do,
is handed to this one instead of to init, and waited for once the command ends.
So the CPU time printed counts every descendant, where ``time make test`` leaves
out those its processes never waited for. It prints one line on stderr and
exits with the command's status.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

PR_SET_CHILD_SUBREAPER = 36
ORPHANS_TIMEOUT = 60.0  # how long descendants left running are waited for


@dataclass(frozen=True)
class Usage:
    """What a command cost: its exit status, seconds of wall time and of CPU."""

    status: int
    wall: float
    user: float
    system: float

    @property
    def cpu(self) -> float:
        """User and system CPU seconds together."""
        return self.user + self.system

    def line(self) -> str:
        """The figures as one line."""
        return (
            f"{self.wall:.1f} s wall, {self.cpu:.1f} s CPU ({self.user:.1f} user, "
            f"{self.system:.1f} system) of the command and every process it started; "
            f"exit status {self.status}"
        )


def become_subreaper() -> None:
    """Make this process the one that orphaned descendants are handed to."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def wait_for_descendants(timeout: float = ORPHANS_TIMEOUT) -> bool:
    """Wait for every child, orphans handed over included; False when some were
    still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def run(command: list[str]) -> Usage:
    """Run ``command`` and every descendant to its end: what they cost together.

    Call it once per process: CPU time already counted for earlier children would
    be added in."""
    become_subreaper()
    start = time.monotonic()
    status = subprocess.run(command, check=False).returncode
    if not wait_for_descendants():
        print(f"descendants still running after {ORPHANS_TIMEOUT:.0f} s", file=sys.stderr)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Usage(status, time.monotonic() - start, children.ru_utime, children.ru_stime)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m devtools.cpu_time COMMAND [ARGUMENT ...]", file=sys.stderr)
        return 2
    usage = run(argv)
    print(usage.line(), file=sys.stderr)
    return usage.status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
