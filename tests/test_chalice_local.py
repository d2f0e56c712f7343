"""``devtools/chalice_local.py``: chalice local as the tests and ``make run`` start it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# In a process of its own: loading the app sets the local stage's environment.
NAGLE_OFF = """import socket
from devtools import chalice_local
server = chalice_local.local_server("local", 0)
with socket.create_connection(server.server_address[:2]) as client:
    connection, address = server.get_request()
    with connection:
        client.shutdown(socket.SHUT_WR)  # no request: the handler sets up and ends
        server.RequestHandlerClass(connection, address, server)
        print(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
server.server_close()
"""


def test_answers_are_sent_without_nagles_algorithm() -> None:
    """A connection the server takes has TCP_NODELAY on: a browser keeping its
    connection open does not wait for its delayed acknowledgement before each body."""
    done = subprocess.run(
        [sys.executable, "-c", NAGLE_OFF],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] != "0"
