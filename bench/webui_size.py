"""The weight of the web UI's first page: the JS and CSS that ``index.html`` loads
(its scripts, stylesheets and module preloads), each gzipped as a server would
send it. ``make bench`` writes it as a row of BENCHMARKS.md (``row``);
``python -m bench.webui_size`` prints it alone.
"""

from __future__ import annotations

import gzip
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.table import Row
from chalicelib.http.webui import DIST

LOADED = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"\./(assets/[^\"]+\.(?:js|css))\"")
BUDGET = 100 * 1024


@dataclass(frozen=True)
class FirstPage:
    """What the first page loads: file names, their raw and gzipped sizes in bytes."""

    files: tuple[str, ...]
    raw: int
    gzipped: int


def first_page(root: Path = DIST) -> FirstPage:
    """The JS and CSS the built page loads before it can show anything."""
    html = (root / "index.html").read_text(encoding="utf-8")
    files = tuple(dict.fromkeys(LOADED.findall(html)))
    raw = gzipped = 0
    for name in files:
        data = (root / name).read_bytes()
        raw += len(data)
        gzipped += len(gzip.compress(data, compresslevel=9, mtime=0))
    return FirstPage(files, raw, gzipped)


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def row(size: FirstPage) -> Row:
    """The first page's weight as a row of the benchmark table, judged by the budget."""
    fits = size.gzipped <= BUDGET
    return Row(
        measure=f"web UI first page: {len(size.files)} JS/CSS files, gzipped",
        median=f"{_kib(size.gzipped)} ({_kib(size.raw)} raw)",
        target=f"≤ {BUDGET // 1024} KiB gzipped",
        result="pass" if fits else f"miss: {_kib(size.gzipped - BUDGET)} over",
    )


def main() -> int:
    size = first_page()
    print(
        f"web UI first page: {size.gzipped / 1024:.1f} KiB gzipped "
        f"({size.raw / 1024:.1f} KiB raw) in {len(size.files)} JS/CSS files; "
        f"budget {BUDGET // 1024} KiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
