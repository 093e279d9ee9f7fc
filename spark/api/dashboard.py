"""The web dashboard, served by the service itself: ``/`` redirects to ``/backtest``, which serves one HTML page;
its ES modules and stylesheet come from ``/backtest/assets/<name>`` (files shipped in ``spark/api/static/``).

There is no build step and nothing is fetched from elsewhere at run time: a strict Content-Security-Policy says so
to the browser. The files are read once, when the blueprint is built, and answered from memory with an ETag (a
request never touches the file system, so no name can reach outside the folder). The page lists every module as a
``modulepreload`` so the browser fetches them all at once instead of discovering imports one level at a time.
The page holds no secret: the admin token lives only in the user's browser (local storage).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from quart import Blueprint, Response, redirect, request

from spark.errors import NotFound

__all__ = ["ASSETS_URL", "STATIC_DIR", "dashboard_blueprint"]

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_URL = "/backtest/assets"
_PRELOAD_MARK = "<!-- modulepreload -->"

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
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


def _asset(body: bytes, suffix: str) -> _Asset:
    return _Asset(body=body, content_type=_TYPES[suffix], etag=f'"{hashlib.sha256(body).hexdigest()[:20]}"')


def _load() -> tuple[_Asset, dict[str, _Asset]]:
    """The page (with its preload list filled in) and every asset by file name."""
    assets = {
        p.name: _asset(p.read_bytes(), p.suffix)
        for p in sorted(STATIC_DIR.iterdir())
        if p.is_file() and p.suffix in (".js", ".css")
    }
    preload = "\n".join(
        f'<link rel="modulepreload" href="{ASSETS_URL}/{name}">' for name in assets if name.endswith(".js")
    )
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace(_PRELOAD_MARK, preload)
    return _asset(html.encode(), ".html"), assets


def _answer(asset: _Asset) -> Response:
    if asset.etag in request.headers.get("If-None-Match", ""):
        response = Response(b"", status=304)
    else:
        response = Response(asset.body, status=200, content_type=asset.content_type)
    response.headers.update(_HEADERS)
    response.headers["ETag"] = asset.etag
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
