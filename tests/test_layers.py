"""The folders of ``chalicelib/`` are its layers, and imports point down only.

From the bottom: the shared vocabulary at the top level of ``chalicelib/``
(settings, errors, ids, permission names, text and time rules), ``storage/``
(tables, transactions, batches, cursors), ``records/`` (users, their logs,
keys and search items), ``identity/`` (sessions, tokens, the authorizer,
OpenID Connect), ``http/`` (what routes read and answer). ``app.py`` sits on
top of them all, and the operator's tools in ``ops/`` beside it: nothing in
``chalicelib/`` imports ``ops`` or ``app``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["", "storage", "records", "identity", "http"]


def layer_of(module: str) -> int:
    """The rank of a dotted module name of chalicelib (``chalicelib.records.users``)."""
    parts = module.split(".")
    folder = parts[1] if len(parts) > 2 else ""
    return LAYERS.index(folder)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """The modules a file imports by absolute name, each with its line."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            package = node.module
            found += [(f"{package}.{alias.name}", node.lineno) for alias in node.names]
            found.append((package, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
    return found


def dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


SERVICE = sorted(p for p in (ROOT / "chalicelib").glob("**/*.py") if p.name != "__init__.py")
MODULES = {dotted(p) for p in SERVICE}


def test_every_module_sits_in_a_layer() -> None:
    folders = {p.parent.name for p in SERVICE} - {"chalicelib"}
    assert folders <= set(LAYERS)
    assert len(SERVICE) > 40


@pytest.mark.parametrize("path", SERVICE, ids=lambda p: dotted(p))
def test_imports_point_down(path: Path) -> None:
    here = layer_of(dotted(path))
    upward = [
        f"line {line}: {name}"
        for name, line in imports_of(path)
        if name.split(".")[0] in {"app", "ops", "manage"}
        or (name in MODULES and layer_of(name) > here)
    ]
    assert upward == []


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    """The check above reads what a module imports, not only its first line."""
    source = tmp_path / "m.py"
    source.write_text("import json\n\n\ndef f():\n    from chalicelib.http import openapi\n")
    names = [name for name, _ in imports_of(source)]
    assert "chalicelib.http.openapi" in names
    assert layer_of("chalicelib.http.openapi") > layer_of("chalicelib.records.users")
