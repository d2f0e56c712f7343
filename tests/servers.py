"""Small HTTP servers the browser tests start on 127.0.0.1: pages of an app, and a
reverse proxy that serves the API under a path prefix.

Both run in a thread of the test process (the standard library's
``ThreadingHTTPServer``) and stop when their ``with`` block ends.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from devtools.local_stack import Listener

HOST = "127.0.0.1"
# Headers that belong to one connection, not to the request or answer (RFC 9110 section 7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class _Handler(BaseHTTPRequestHandler):
    """Serves ``pages`` by exact path; with an ``upstream``, forwards ``prefix``-ed paths."""

    pages: Mapping[str, str] = {}
    upstream: str | None = None
    prefix: str = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest shows what the test asserts, not every request."""

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        if path in self.pages:
            self._answer(200, self.pages[path].encode(), "text/html; charset=utf-8")
        elif self.upstream is not None and (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            self._forward()
        else:
            self._answer(404, b"not found", "text/plain")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def _forward(self) -> None:
        """Send the request on without the prefix, as a reverse proxy that mounts the
        service under it does; headers a client could forge come along unchanged."""
        assert self.upstream is not None
        target = urlsplit(self.upstream)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = target.netloc
        headers["Connection"] = "close"
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        headers["X-Forwarded-Proto"] = "http"
        headers["X-Forwarded-Prefix"] = self.prefix
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            connection.request(self.command, self.path[len(self.prefix) :], body, headers)
            reply = connection.getresponse()
            content = reply.read()
            self.send_response(reply.status)
            for name, value in reply.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
        finally:
            connection.close()
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)
        self.close_connection = True


@contextmanager
def _serve(handler: type[_Handler], listener: Listener | None = None) -> Iterator[str]:
    """Serve on ``listener``'s socket (its address known before), or on a port
    the server picks itself."""
    server = ThreadingHTTPServer((HOST, 0), handler, bind_and_activate=listener is None)
    if listener is not None:
        server.socket.close()
        server.socket = listener.socket
        server.server_address = listener.socket.getsockname()[:2]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def page_server(pages: Mapping[str, str], listener: Listener | None = None) -> Iterator[str]:
    """Serve HTML ``pages`` (path -> document) on 127.0.0.1; yields the origin.

    ``pages`` is read on each request, so pages that name the origin can be added
    once it is known."""
    handler = type("PageHandler", (_Handler,), {"pages": pages})
    with _serve(handler, listener) as origin:
        yield origin


@contextmanager
def reverse_proxy(
    upstream: str,
    prefix: str,
    pages: Mapping[str, str] | None = None,
    listener: Listener | None = None,
) -> Iterator[str]:
    """Serve ``upstream`` under ``prefix`` (``/users/api/v1/x`` -> ``<upstream>/api/v1/x``)
    and ``pages`` by exact path, on 127.0.0.1; yields the proxy's origin."""
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError("prefix must start with / and not end with one")
    attributes = {"pages": {} if pages is None else pages, "upstream": upstream, "prefix": prefix}
    handler = type("ProxyHandler", (_Handler,), attributes)
    with _serve(handler, listener) as origin:
        yield origin


@dataclass
class HangingServer:
    """A server that takes connections and never answers: a provider that is down
    in the worst way. ``connections`` counts the connections it took."""

    url: str
    connections: int = 0


@contextmanager
def hanging_server() -> Iterator[HangingServer]:
    """Listen on 127.0.0.1, accept every connection and say nothing; yields the
    server, whose ``url`` is its origin."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stopping = threading.Event()
    server = HangingServer(f"http://{HOST}:{listener.getsockname()[1]}")

    def accept() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            server.connections += 1
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stopping.set()
        thread.join(timeout=10)
        for connection in held:
            connection.close()
        listener.close()
