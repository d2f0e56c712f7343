"""The web UI: the files ``make`` builds from ``frontend/`` into ``webui_dist/``
beside this module (so that ``chalice package`` ships them with ``chalicelib``),
and the headers they are served with.

The page itself is never cached without asking again (``no-cache``); the files
it loads carry a hash of their content in their name, so they may be cached
for a year. The Content-Security-Policy allows scripts and styles from this
origin only: no inline code, no ``eval``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from chalicelib.errors import WebFileNotFound

DIST = Path(__file__).resolve().parent.parent / "webui_dist"
ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
)
COMMON_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class WebFile:
    """A file of the web UI with the headers to serve it with."""

    body: str
    headers: dict[str, str | list[str]]


def page(root: Path = DIST) -> WebFile:
    """The UI's one HTML page; WebFileNotFound when the UI was not built."""
    body = _read(root, "index.html")
    headers = {**COMMON_HEADERS, "Content-Type": "text/html; charset=utf-8"}
    return WebFile(body, {**headers, "Cache-Control": PAGE_CACHE})


def asset(name: str, root: Path = DIST) -> WebFile:
    """A built, content-hashed file of ``assets/``; WebFileNotFound for any other name."""
    suffix = Path(name).suffix
    if not ASSET_NAME.match(name) or suffix not in CONTENT_TYPES:
        raise WebFileNotFound(f"the web UI has no file {name!r}")
    body = _read(root, f"assets/{name}")
    headers = {**COMMON_HEADERS, "Content-Type": CONTENT_TYPES[suffix]}
    return WebFile(body, {**headers, "Cache-Control": ASSET_CACHE})


def shared_cacheable(cache_control: str | list[str] | None) -> bool:
    """Whether an answer with this ``Cache-Control`` may be kept by shared caches, and so
    must carry no cookie: a cache would hand one person's cookie to everyone."""
    values = [cache_control] if isinstance(cache_control, str) else cache_control or []
    return any("public" in value.lower().replace(" ", "").split(",") for value in values)


def slash_redirect(path: str | None) -> str | None:
    """Where to send a request for the page at ``path`` when it lacks its trailing slash
    (``/api`` → ``api/``), since the page loads its files relative to itself; else None."""
    if not path or path.endswith("/"):
        return None
    return path.rsplit("/", 1)[-1] + "/"


@functools.cache
def _read(root: Path, relative: str) -> str:
    """A built file's text, read once per container."""
    try:
        return (root / relative).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise WebFileNotFound(
            "the web UI is not built (make builds it)"
            if relative == "index.html"
            else f"the web UI has no file {relative.removeprefix('assets/')!r}"
        ) from exc
