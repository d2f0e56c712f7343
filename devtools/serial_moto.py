"""moto's server answering one request at a time, as the local DynamoDB.

``python -m devtools.serial_moto --port P`` serves moto's own application on
127.0.0.1. moto 5.2.5's backend holds no lock: a cancelled
``TransactWriteItems`` puts back copies of the tables it touched, wiping what
other requests wrote meanwhile. DynamoDB applies each request atomically; one
lock around each whole request, its answer included, gives the local stack the
same. Connections are still accepted concurrently; only the backend waits.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

HOST = "127.0.0.1"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def one_at_a_time(app: WsgiApp) -> WsgiApp:
    """``app`` behind a lock held until its whole answer is made."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            answer = app(environ, start_response)
            try:
                return [b"".join(answer)]
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()

    return serve


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until terminated; a port in use is one line on stderr, exit 2."""
    parser = argparse.ArgumentParser(prog="python -m devtools.serial_moto")
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free one")
    args = parser.parse_args(argv)
    app = one_at_a_time(DomainDispatcherApplication(create_backend_app))
    try:
        server = make_server(
            HOST, args.port, app, threaded=True, request_handler=MotoRequestHandler
        )
    except (OSError, SystemExit):
        print(f"serial_moto: port {args.port} on {HOST} is in use", file=sys.stderr)
        return 2
    # The port is the server's own choice when asked for 0: it is bound before
    # anyone learns it, so no other process can take it in between.
    print(f"listening on http://{HOST}:{server.server_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
