"""docs/API.md: its tables are the declarations', and the repository cites no page
outside itself."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from devtools import api_doc

ROOT = Path(__file__).resolve().parent.parent


def test_every_table_of_docs_api_md_is_written_from_the_declarations() -> None:
    page = api_doc.PAGE.read_text("utf-8")
    assert {m.group(2) for m in api_doc.TABLE.finditer(page)} == set(api_doc.TABLES)
    assert page == api_doc.render(page), "run: python -m devtools.api_doc"


def test_docs_api_md_names_every_setting_and_the_shape_of_oidc_providers() -> None:
    from chalicelib.config import Provider

    page = api_doc.PAGE.read_text("utf-8")
    read = re.findall(r'_get\(environ, "(\w+)"', (ROOT / "chalicelib/config.py").read_text("utf-8"))
    assert len(read) > 5
    for name in [*read, "SESSION_SECRET", "OIDC_PROVIDERS"]:
        assert f"`{name}`" in page, name
    for key in Provider.__dataclass_fields__:
        if key != "name":
            assert f'"{key}"' in page, key


def test_the_repository_cites_no_document_outside_itself() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        if not name.endswith((".py", ".md", ".ts", ".vue", ".yaml", ".json", ".toml")):
            continue
        if name.endswith("package-lock.json"):
            continue
        text = (ROOT / name).read_text("utf-8", errors="replace")
        assert "shared " + "documents" not in text, name
        assert not re.search(r"(?<![\w/])API" + r"\.md", text), name
