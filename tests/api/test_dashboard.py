"""The dashboard blueprint: the page, its assets, the redirect and the headers that keep the page self-contained.

Served here from a bare Quart app holding only the blueprint, through Quart's test client; the whole service with a
real browser is in tests/browser/.
"""

from __future__ import annotations

import gzip
import re

import pytest
from quart_trio import QuartTrio

from spark.api.dashboard import ASSETS_URL, STATIC_DIR, dashboard_blueprint

FIRST_LOAD_BUDGET = 300 * 1024


@pytest.fixture
def client():
    app = QuartTrio("dashboard-test")
    app.register_blueprint(dashboard_blueprint())
    return app.test_client()


async def test_root_redirects_to_the_dashboard(client) -> None:
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/backtest")


@pytest.mark.parametrize("path", ["/backtest", "/backtest/"])
async def test_page_is_html_with_a_strict_policy(client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = await response.get_data(as_text=True)
    assert '<script type="module" src="/backtest/assets/app.js">' in body


def _imports(source: str) -> set[str]:
    return set(re.findall(r"""^import\s[^'"]*['"]\./([\w.-]+)['"]""", source, flags=re.MULTILINE))


async def test_every_referenced_asset_is_served_with_its_type(client) -> None:
    """The page's stylesheet and the whole ES module graph resolve, each with a type a browser accepts."""
    page = await (await client.get("/backtest")).get_data(as_text=True)
    todo = set(re.findall(rf"{ASSETS_URL}/([\w.-]+)", page))
    assert {"app.js", "style.css"} <= todo
    seen: set[str] = set()
    total = len(page.encode())
    while todo:
        name = todo.pop()
        seen.add(name)
        response = await client.get(f"{ASSETS_URL}/{name}")
        assert response.status_code == 200, name
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        assert response.headers["Content-Type"].startswith(kind), name
        body = await response.get_data(as_text=True)
        total += len(body.encode())
        todo |= _imports(body) - seen
    assert total < FIRST_LOAD_BUDGET
    lazy = set()  # what views import on demand (`import('./x.js')`): reachable, but not part of the first load
    todo = {name for name in seen if name.endswith(".js")}
    while todo:
        name = todo.pop()
        body = (STATIC_DIR / name).read_text()
        found = set(re.findall(r"""import\(\s*['"]\./([\w.-]+)['"]\s*\)""", body)) | _imports(body)
        todo |= found - seen - lazy
        lazy |= found - seen
    for name in lazy:
        response = await client.get(f"{ASSETS_URL}/{name}")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/javascript"), name
    shipped = {p.name for p in STATIC_DIR.iterdir() if p.suffix in {".js", ".css"}}
    assert seen | lazy == shipped, f"shipped but never loaded: {shipped - seen - lazy}"


@pytest.mark.parametrize("name", ["../dashboard.py", "..%2Fdashboard.py", "missing.js", "%2e%2e/__init__.py"])
async def test_assets_never_leave_the_static_folder(client, name: str) -> None:
    response = await client.get(f"{ASSETS_URL}/{name}")
    assert response.status_code == 404
    assert (await response.get_json())["error"] == "not_found"


async def test_every_module_is_preloaded_so_imports_do_not_wait_on_each_other(client) -> None:
    page = await (await client.get("/backtest")).get_data(as_text=True)
    preloaded = set(re.findall(rf'<link rel="modulepreload" href="{ASSETS_URL}/([\w.-]+)">', page))
    graph, todo = set(), {"app.js"}
    while todo:  # app.js's static import graph: what the first load needs, nothing imported lazily
        name = todo.pop()
        graph.add(name)
        todo |= _imports((STATIC_DIR / name).read_text()) - graph
    assert preloaded == graph and "guardrails.js" not in preloaded


async def test_an_unchanged_asset_is_answered_304_by_its_etag(client) -> None:
    first = await client.get(f"{ASSETS_URL}/app.js")
    etag = first.headers["ETag"]
    again = await client.get(f"{ASSETS_URL}/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and await again.get_data() == b""
    assert again.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]


def test_no_secret_or_remote_resource_in_the_bundle() -> None:
    """The token lives in the browser only, and nothing is fetched from another origin at run time. (The vendored
    library is checked by its pinned hash instead, tests/api/test_vendor.py: its one URL is an attribution link.)"""
    for path in STATIC_DIR.rglob("*"):
        if not path.is_file() or path.parent.name == "vendor":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), f"{path.name} references a remote URL"
        assert "ADMIN_TOKEN=" not in text


async def test_the_vendored_library_is_served_as_a_module_gzipped_when_accepted(client) -> None:
    url = f"{ASSETS_URL}/vendor/lightweight-charts.mjs"
    plain = await client.get(url)
    assert plain.status_code == 200 and plain.headers["Content-Type"].startswith("text/javascript")
    body = await plain.get_data()
    assert body == (STATIC_DIR / "vendor" / "lightweight-charts.mjs").read_bytes()
    zipped = await client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    packed = await zipped.get_data()
    assert gzip.decompress(packed) == body and len(packed) < len(body) / 2
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = await client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304


async def test_the_vendored_library_is_not_preloaded(client) -> None:
    page = await (await client.get("/backtest")).get_data(as_text=True)
    assert "vendor/" not in page
