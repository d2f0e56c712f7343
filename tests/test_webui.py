"""The web UI as the service serves it: the page, its content-hashed files, and
the headers that keep them safe and cached right."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from chalice.test import Client

from bench.webui_size import BUDGET, first_page, row
from chalicelib.errors import WebFileNotFound
from chalicelib.http import webui


@pytest.fixture
def built() -> None:
    """The build from frontend/ (``make`` makes it before the tests)."""
    if not (webui.DIST / "index.html").exists():
        pytest.fail("the web UI is not built: run make")


def page_assets(client: Client) -> list[str]:
    html = client.http.get("/").body.decode()
    return re.findall(r"(?:src|href)=\"\./assets/([^\"]+)\"", html)


def test_page_is_served_at_root_with_csp_and_no_cache(client: Client, built: None) -> None:
    response = client.http.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp


def test_page_has_no_inline_script_or_style_and_loads_files_relative_to_itself(
    client: Client, built: None
) -> None:
    html = client.http.get("/").body.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html
    assert " style=" not in html
    assert page_assets(client)
    assert 'src="/' not in html
    assert 'href="/' not in html


def test_assets_have_hashed_names_and_are_cached_for_a_year(client: Client, built: None) -> None:
    for name in page_assets(client):
        assert re.search(r"-[A-Za-z0-9_-]{8}\.(js|css)$", name), name
        response = client.http.get(f"/assets/{name}")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        expected = "text/javascript" if name.endswith(".js") else "text/css"
        assert response.headers["Content-Type"].startswith(expected)


def test_page_hands_out_the_csrf_cookie_but_cached_files_carry_none(
    client: Client, built: None
) -> None:
    page = client.http.get("/")
    assert "_csrf_token=" in str(page.headers.get("Set-Cookie"))
    for name in page_assets(client):
        response = client.http.get(f"/assets/{name}")
        assert "Set-Cookie" not in response.headers, name


def test_built_code_uses_no_eval(client: Client, built: None) -> None:
    for name in page_assets(client):
        body = client.http.get(f"/assets/{name}").body.decode()
        assert "new Function(" not in body
        assert not re.search(r"\beval\(", body)


@pytest.mark.parametrize("name", ["missing-AAAAAAAA.js", "..%2Findex.html", ".env", "index.html"])
def test_unknown_asset_answers_404_with_the_error_body(client: Client, name: str) -> None:
    response = client.http.get(f"/assets/{name}")
    assert response.status_code == 404
    assert response.json_body["Code"] == "WebFileNotFound"


def test_openapi_documents_the_web_ui_routes(client: Client) -> None:
    paths = client.http.get("/api/v1/openapi.json").json_body["paths"]
    assert "text/html" in paths["/"]["get"]["responses"]["200"]["content"]
    assert "404" in paths["/assets/{name}"]["get"]["responses"]


def test_first_page_weighs_under_the_budget(built: None) -> None:
    size = first_page()
    assert any(name.endswith(".js") for name in size.files)
    assert any(name.endswith(".css") for name in size.files)
    assert 0 < size.gzipped <= BUDGET


def test_benchmark_row_gives_the_first_page_gzipped_against_the_budget(built: None) -> None:
    size = first_page()
    line = row(size)
    assert line.measure == f"web UI first page: {len(size.files)} JS/CSS files, gzipped"
    assert line.median.startswith(f"{size.gzipped / 1024:.1f} KiB (")
    assert line.target == f"≤ {BUDGET // 1024} KiB gzipped"
    assert line.result == "pass"


def test_benchmark_row_reports_a_page_over_the_budget(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    noise = random.Random(1).randbytes(BUDGET + 2048)  # gzip cannot shrink it
    (tmp_path / "assets" / "index-12345678.js").write_bytes(noise)
    (tmp_path / "index.html").write_text('<script type="module" src="./assets/index-12345678.js">')
    line = row(first_page(tmp_path))
    assert line.measure == "web UI first page: 1 JS/CSS files, gzipped"
    assert line.result.startswith("miss: 2.")
    assert line.result.endswith(" KiB over")


def test_unbuilt_ui_answers_404_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(WebFileNotFound, match="not built"):
        webui.page(tmp_path)


def test_asset_outside_assets_is_refused(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "secret.js").write_text("x")
    (tmp_path / "assets" / "app-12345678.js").write_text("console.log(1)")
    assert webui.asset("app-12345678.js", tmp_path).body == "console.log(1)"
    for name in ("../secret.js", "app-12345678.exe", ""):
        with pytest.raises(WebFileNotFound):
            webui.asset(name, tmp_path)


@pytest.mark.parametrize(
    ("cache_control", "shared"),
    [
        ("public, max-age=31536000, immutable", True),
        (["no-store"], False),
        ("no-cache", False),
        (None, False),
        ("private, max-age=60", False),
    ],
)
def test_shared_cacheable(cache_control: str | list[str] | None, shared: bool) -> None:
    assert webui.shared_cacheable(cache_control) is shared


@pytest.mark.parametrize(
    ("path", "location"),
    [("/", None), ("/api/", None), ("/api", "api/"), ("/users/ui", "ui/"), (None, None)],
)
def test_page_without_trailing_slash_redirects_to_it(
    path: str | None, location: str | None
) -> None:
    assert webui.slash_redirect(path) == location
