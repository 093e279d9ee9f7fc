"""The web dashboard, served by the service itself: ``/`` redirects to ``/backtest``, which serves one HTML page;
its ES modules and stylesheet come from ``/backtest/assets/`` (files shipped in ``spark/api/static/``).

There is no build step and nothing is fetched from elsewhere at run time: a strict Content-Security-Policy says so
to the browser. The page holds no secret: the admin token lives only in the user's browser (local storage).
"""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, redirect, send_from_directory

__all__ = ["ASSETS_URL", "STATIC_DIR", "dashboard_blueprint"]

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_URL = "/backtest/assets"

# Everything from this origin only; inline scripts and styles refused; the page may not be framed.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Revalidate every load (ETag / Last-Modified), so an upgraded package is picked up at once.
    "Cache-Control": "no-cache",
}
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8"}


def _secure(response: Response, suffix: str = ".html") -> Response:
    for name, value in _HEADERS.items():
        response.headers[name] = value
    if suffix in _TYPES:
        response.headers["Content-Type"] = _TYPES[suffix]
    return response


def dashboard_blueprint() -> Blueprint:
    """Routes: ``GET /`` (302 to /backtest), ``GET /backtest`` (the page), ``GET /backtest/assets/<file>``."""
    bp = Blueprint("dashboard", __name__)

    @bp.get("/")
    async def root() -> Response:
        return redirect("/backtest", code=302)

    @bp.get("/backtest")
    @bp.get("/backtest/")
    async def page() -> Response:
        return _secure(await send_from_directory(STATIC_DIR, "index.html"))

    @bp.get(f"{ASSETS_URL}/<path:name>")
    async def asset(name: str) -> Response:
        # send_from_directory refuses names that leave STATIC_DIR (404).
        response = await send_from_directory(STATIC_DIR, name)
        return _secure(response, Path(name).suffix)

    return bp
