"""devtools/cpu_time.py: the CPU of a command counts the processes it left behind."""

from __future__ import annotations

import re
import subprocess
import sys

from devtools.local_stack import ROOT

# A command that starts a process and ends before it: the orphan burns 0.4 s of CPU
# once its parent has ended.
LEAVES_AN_ORPHAN = """
import os, sys, time
if os.fork() == 0:
    time.sleep(0.2)  # the parent has ended by now
    while time.process_time() < 0.4:
        pass
    os._exit(0)
sys.exit(3)
"""


def test_cpu_of_a_process_left_behind_is_counted_and_the_status_passed_on() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devtools.cpu_time", sys.executable, "-c", LEAVES_AN_ORPHAN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    found = re.search(r"([\d.]+) s wall, ([\d.]+) s CPU .* exit status 3$", done.stderr.strip())
    assert found is not None, done.stderr
    wall, cpu = float(found[1]), float(found[2])
    assert cpu >= 0.4
    assert wall >= 0.6  # the orphan was waited for: its sleep and its work


def test_without_a_command_it_says_how_to_call_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devtools.cpu_time"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "usage: python -m devtools.cpu_time COMMAND" in done.stderr
