"""``chalice local`` serving on a socket it is handed, or on a port it picks itself.

``python -m devtools.chalice_local --stage local --fd N`` serves on the listening
socket inherited as file descriptor ``N`` (bound by the parent, which knew its
port before this process started: no other process can take the port in
between); ``--port 0`` binds a free port itself. Either way it prints
``listening on <url>`` once it accepts connections. The app is loaded and served
as ``chalice local --no-autoreload`` does (``chalice.cli.create_local_server``), its
answers sent without Nagle's algorithm (``RequestHandler``).
"""

from __future__ import annotations

import argparse
import functools
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalice.cli import create_local_server
from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class RequestHandler(ChaliceRequestHandler):
    """chalice local's handler, its answers sent without Nagle's algorithm: it writes
    each answer's headers, then its body, and a client keeping the connection open
    (a browser) waited for its own delayed acknowledgement, some 40 ms, before the
    body of every answer after the connection's first."""

    disable_nagle_algorithm = True


def local_server(stage: str, port: int) -> Any:
    """The HTTP server ``chalice local --no-autoreload --stage <stage>`` serves with, on
    ``port`` of 127.0.0.1 (0: a free one), answering through ``RequestHandler``. Loading
    the app sets the stage's environment variables in this process."""
    server: Any = create_local_server(CLIFactory(project_dir=str(ROOT)), HOST, port, stage)
    http = server.server
    chalices = http.RequestHandlerClass  # its handler, bound to the app and config
    http.RequestHandlerClass = functools.partial(RequestHandler, **chalices.keywords)
    return http


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(prog="python -m devtools.chalice_local")
    parser.add_argument("--stage", default="local")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="a listening socket to serve on")
    where.add_argument("--port", type=int, help="a port to bind; 0: a free one")
    args = parser.parse_args(argv)
    # As chalice local: the app's log lines on stdout.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    http = local_server(args.stage, 0 if args.fd is not None else args.port)
    if args.fd is not None:
        http.socket.close()  # the one it bound on port 0; serve on the inherited one instead
        http.socket = socket.socket(fileno=args.fd)
        http.server_address = http.socket.getsockname()[:2]
    print(f"listening on http://{HOST}:{http.server_address[1]}", flush=True)
    http.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
