"""What the browser tests do to a page: open the dashboard, store the token through the UI, read what it drew."""

from __future__ import annotations

from typing import Any

from .conftest import TOKEN, Server

SMALL_RUN = {"feed": {"name": "synthetic", "args": {"bars": 2000}}}


def open_dashboard(page: Any, server: Server, *, token: bool = True, hash_: str = "") -> None:
    page.goto(f"{server.url}/backtest{hash_}")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#sse-badge[data-state=connected]")
    if token:
        store_token(page)


def store_token(page: Any, token: str = TOKEN) -> None:
    """Through the page's own admin panel, as a user would paste it."""
    page.click("#admin-toggle")
    page.fill("#admin-token-input", token)
    page.click("#admin-form button[type=submit]")
    page.wait_for_selector("#admin-state:has-text('Token saved')")
    page.click("#admin-toggle")


def open_form(page: Any) -> None:
    page.click("#new-toggle")
    page.wait_for_selector("#start-submit")


def field(page: Any, name: str) -> Any:
    return page.locator(f"[data-field='{name}']")


def drawn_pixels(page: Any, selector: str = "canvas.equity") -> int:
    """Non-transparent pixels on the chart canvas: a drawn curve has thousands, an empty canvas none."""
    return page.evaluate(
        """(sel) => {
        const c = document.querySelector(sel);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n += 1;
        return n;
    }""",
        selector,
    )


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def pane_pixels(page: Any, pane: str) -> int:
    """Non-transparent pixels over the canvases of one chart pane (the library draws each pane on a few canvases)."""
    return page.evaluate(
        """(name) => {
        let n = 0;
        for (const c of document.querySelectorAll(`.pane[data-pane="${name}"] canvas`)) {
            if (!c.width || !c.height) continue;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n += 1;
        }
        return n;
    }""",
        pane,
    )


def number(text: str) -> float:
    """A number as the dashboard shows it: thousands separators, a real minus sign, a unit after it."""
    return float(text.replace(",", "").replace("\u2212", "-").split(" ")[0])
