"""The dashboard blueprint: the page, its assets, the redirect and the headers that keep the page self-contained.

Served here from a bare Quart app holding only the blueprint, through Quart's test client; the whole service with a
real browser is in tests/browser/.
"""

from __future__ import annotations

import gzip
import re

import pytest
from quart_trio import QuartTrio

from spark.api.dashboard import ASSETS_URL, STATIC_DIR, dashboard_blueprint, static_imports

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


def _imports(source: str, *, lazy: bool) -> set[str]:
    """Modules a module imports statically (`import ... from './x.js'`), or with ``lazy`` dynamically too."""
    found = set(
        re.findall(r"""^(?:import|export)\s[^'"();]*?from\s*['"]\./([\w./-]+)['"]""", source, flags=re.MULTILINE)
    )
    if lazy:
        found |= set(re.findall(r"""import\(\s*['"]\./([\w./-]+)['"]\s*\)""", source))
    return found


def _shipped() -> set[str]:
    return {p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*") if p.suffix in {".js", ".mjs", ".css"}}


async def _walk(client, names: set[str], *, lazy: bool) -> tuple[set[str], int]:
    """Every asset reached from ``names`` (served with a type a browser accepts), and their bytes."""
    todo, seen, total = set(names), set(), 0
    while todo:
        name = todo.pop()
        seen.add(name)
        response = await client.get(f"{ASSETS_URL}/{name}")
        assert response.status_code == 200, name
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert response.headers["Content-Type"].startswith(kind), name
        body = await response.get_data(as_text=True)
        total += len(body.encode())
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        todo |= {folder + found for found in _imports(body, lazy=lazy)} - seen
    return seen, total


async def test_every_referenced_asset_is_served_with_its_type(client) -> None:
    """The page's stylesheet and the whole ES module graph resolve; every shipped file is reached (lazily or
    not); what the first load fetches (the page and app.js's static graph) stays under the budget, uncompressed."""
    page = await (await client.get("/backtest")).get_data(as_text=True)
    roots = set(re.findall(rf"{ASSETS_URL}/([\w./-]+\.(?:js|css))", page))
    assert {"app.js", "style.css"} <= roots
    first, first_bytes = await _walk(client, roots, lazy=False)
    everything, _ = await _walk(client, roots, lazy=True)
    assert everything == _shipped(), f"shipped but never loaded: {_shipped() - everything}"
    assert "vendor/lightweight-charts.mjs" in everything and "vendor/lightweight-charts.mjs" not in first
    assert len(page.encode()) + first_bytes < FIRST_LOAD_BUDGET


@pytest.mark.parametrize("name", ["../dashboard.py", "..%2Fdashboard.py", "missing.js", "%2e%2e/__init__.py"])
async def test_assets_never_leave_the_static_folder(client, name: str) -> None:
    response = await client.get(f"{ASSETS_URL}/{name}")
    assert response.status_code == 404
    assert (await response.get_json())["error"] == "not_found"


async def test_the_first_load_is_preloaded_and_lazy_modules_are_not(client) -> None:
    """app.js's static import graph is preloaded (fetched at once, not one level at a time); modules only ever
    imported dynamically (the chart module, the library, the report view) are not, so the runs list stays light."""
    page = await (await client.get("/backtest")).get_data(as_text=True)
    preloaded = set(re.findall(rf'<link rel="modulepreload" href="{ASSETS_URL}/([\w./-]+)">', page))
    first, _ = await _walk(client, {"app.js"}, lazy=False)
    assert preloaded == first
    assert {"app.js", "runs.js", "views.js"} <= preloaded
    assert not {"charts.js", "report.js", "pricechart.js", "vendor/lightweight-charts.mjs"} & preloaded


async def test_static_imports_are_read_relative_to_the_importing_module() -> None:
    sources = {
        "app.js": "import { a } from './a.js';\nconst lazy = () => import('./lazy.js');\n",
        "a.js": "export { b } from './sub/b.js';\n",
        "sub/b.js": "import x from './c.mjs';\n",
        "sub/c.mjs": "export default 1;\n",
        "lazy.js": "import { a } from './a.js';\n",
    }
    assert static_imports(sources) == ["a.js", "app.js", "sub/b.js", "sub/c.mjs"]


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
