"""The web dashboard, served by the service itself: ``/`` redirects to ``/backtest``, which serves one HTML page;
its ES modules and stylesheet come from ``/backtest/assets/<name>`` (files shipped in ``spark/api/static/``).

There is no build step and nothing is fetched from elsewhere at run time: a strict Content-Security-Policy says so
to the browser. The files are read once, when the blueprint is built, and answered from memory with an ETag (a
request never touches the file system, so no name can reach outside the folder). The page lists the modules
``app.js`` imports statically (its whole static graph) as ``modulepreload``, so the browser fetches them at once
instead of discovering imports one level at a time; modules only ever imported dynamically (the chart module, the
vendored charting library in ``static/vendor/``, views that chart) are left out, so the runs list stays light and
they load when a view first needs them. Each asset is also kept gzip-compressed, answered to a browser that
accepts it. The page holds no secret: the admin token lives only in the user's browser (local storage).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from quart import Blueprint, Response, redirect, request

from spark.errors import NotFound

__all__ = ["ASSETS_URL", "ENTRY_MODULE", "STATIC_DIR", "dashboard_blueprint", "static_imports"]

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_URL = "/backtest/assets"
_PRELOAD_MARK = "<!-- modulepreload -->"
ENTRY_MODULE = "app.js"
# `import ... from './x.js'` and `export ... from './x.js'` at the start of a line (static imports only: a dynamic
# `import('./x.js')` is lazy on purpose and is not preloaded)
_STATIC_IMPORT = re.compile(r"""^(?:import|export)\s[^'"();]*?from\s*['"]\./([\w./-]+)['"]""", re.MULTILINE)
_GZIP_MIN = 1024  # smaller files are sent as they are

# Everything from this origin only; inline scripts and styles refused; the page may not be framed.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Revalidate on every load (a 304 when unchanged), so an upgraded package is picked up at once.
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    gzipped: bytes | None  # None: not worth compressing
    content_type: str
    etag: str


def _asset(body: bytes, suffix: str) -> _Asset:
    gzipped = gzip.compress(body, compresslevel=9, mtime=0) if len(body) >= _GZIP_MIN else None
    return _Asset(
        body=body, gzipped=gzipped, content_type=_TYPES[suffix], etag=f'"{hashlib.sha256(body).hexdigest()[:20]}"'
    )


def static_imports(sources: dict[str, str], entry: str = ENTRY_MODULE) -> list[str]:
    """The modules ``entry`` loads through static imports, itself included, in a stable order (``sources``: module
    name under static/ -> its text). Relative paths are resolved against the importing module's folder."""
    seen: list[str] = []
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in seen or name not in sources:
            continue
        seen.append(name)
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        todo.extend(folder + found for found in _STATIC_IMPORT.findall(sources[name]))
    return sorted(seen)


def _load() -> tuple[_Asset, dict[str, _Asset]]:
    """The page (with its preload list filled in) and every asset by its path under static/ (``vendor/...``)."""
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file() and p.suffix in (".js", ".mjs", ".css"))
    raw = {p.relative_to(STATIC_DIR).as_posix(): p.read_bytes() for p in files}
    assets = {name: _asset(body, Path(name).suffix) for name, body in raw.items()}
    scripts = {name: body.decode("utf-8") for name, body in raw.items() if name.endswith((".js", ".mjs"))}
    preload = "\n".join(f'<link rel="modulepreload" href="{ASSETS_URL}/{name}">' for name in static_imports(scripts))
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace(_PRELOAD_MARK, preload)
    return _asset(html.encode(), ".html"), assets


def _answer(asset: _Asset) -> Response:
    """The asset, gzipped when the browser accepts it (its own ETag then: the bytes differ), or a 304."""
    zipped = asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "")
    etag = f'{asset.etag[:-1]}-gz"' if zipped else asset.etag
    if etag in request.headers.get("If-None-Match", ""):
        response = Response(b"", status=304)
    else:
        response = Response(asset.gzipped if zipped else asset.body, status=200, content_type=asset.content_type)
        if zipped:
            response.headers["Content-Encoding"] = "gzip"
    response.headers.update(_HEADERS)
    response.headers["ETag"] = etag
    response.headers["Vary"] = "Accept-Encoding"
    return response


def dashboard_blueprint() -> Blueprint:
    """Routes: ``GET /`` (302 to /backtest), ``GET /backtest`` (the page), ``GET /backtest/assets/<name>``."""
    page, assets = _load()
    bp = Blueprint("dashboard", __name__)

    @bp.get("/")
    async def root() -> Response:
        return redirect("/backtest", code=302)

    @bp.get("/backtest")
    @bp.get("/backtest/")
    async def dashboard() -> Response:
        return _answer(page)

    @bp.get(f"{ASSETS_URL}/<path:name>")
    async def asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            error = NotFound("no such dashboard file", field="name")
            return Response(json.dumps(error.to_json()), status=error.status, content_type="application/json")
        return _answer(found)

    return bp
