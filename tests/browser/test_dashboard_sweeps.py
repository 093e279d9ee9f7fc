"""The Sweeps views on a real server: the list follows a running sweep's progress to done without a reload; a
sweep's results come best first and sort by a clicked header; the heatmap draws one cell per pair of values and a
click picks a set; "Backtest this set" starts a normal run with it and opens it; a walk-forward shows its folds and
the out-of-sample equity beside the in-sample one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Server, make_server, screenshot
from .helpers import number, open_dashboard, pane_pixels

SMALL = {"name": "synthetic", "args": {"bars": 3000, "seed": 3, "timeframe": "1h"}}
GRID = {"fast": [4, 8, 12, 16], "slow": [20, 30, 40]}
LONG = {  # 7,839 sets over 100,000 bars: a few seconds on two workers, so the list sees it part done
    "grid": {"fast": "2:40:1", "slow": "50:250:1"},
    "feed": {"name": "synthetic", "args": {"bars": 100_000, "seed": 3, "timeframe": "1m"}},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(
        tmp_path_factory.mktemp("sweeps"), BACKTEST_IMPL="mock", SPARK_MOCK_DELAY_S="1", SPARK_SWEEP_WORKERS="2"
    ).start()
    try:
        yield server
    finally:
        server.stop()


def start_sweep(server: Server, body: dict[str, Any]) -> str:
    with server.api() as client:
        answer = client.post("/api/sweeps", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def wait_done(server: Server, sweep_id: str, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with server.api() as client:
        while True:
            summary = client.get(f"/api/sweeps/{sweep_id}").json()["sweep"]
            if summary["status"] in ("done", "failed"):
                assert summary["status"] == "done", summary
                return summary
            assert time.monotonic() < deadline, f"{sweep_id} still {summary['status']}"
            time.sleep(0.2)


def test_the_list_follows_a_running_sweep_to_done(page: Any, server: Server) -> None:
    open_dashboard(page, server, hash_="#/sweeps")
    page.wait_for_selector("#main[data-loaded=true]")
    sweep_id = start_sweep(server, LONG)
    row = page.locator(f"tr[data-id='{sweep_id}']")
    row.wait_for()
    page.wait_for_function(
        "(id) => { const p = document.querySelector(`tr[data-id='${id}'] progress`); return p && p.value > 0; }",
        arg=sweep_id,
        timeout=240_000,
    )
    screenshot(page, "sweeps-list-running")
    page.wait_for_selector(f"tr[data-id='{sweep_id}'][data-status=done]", timeout=240_000)
    assert "sharpe" in row.locator("td[data-key=best]").inner_text()
    assert page.locator("nav.views a[data-route=sweeps]").get_attribute("aria-current") == "page"


def test_results_heatmap_and_backtest_this_set(page: Any, server: Server) -> None:
    sweep_id = start_sweep(server, {"grid": GRID, "feed": SMALL, "options": {"fee": 0.001, "slippageBps": 2}})
    summary = wait_done(server, sweep_id)
    open_dashboard(page, server, hash_=f"#/sweeps/{sweep_id}")
    page.wait_for_selector("#main[data-loaded=true]")
    page.wait_for_selector(".sweep-results[data-loaded=true]")
    first = page.locator("table.results tbody tr").first
    assert int(first.get_attribute("data-index")) == summary["best"]["index"]
    sharpe = [number(t) for t in page.locator("table.results tbody td[data-stat=sharpe]").all_inner_texts()]
    assert sharpe == sorted(sharpe, reverse=True) and len(sharpe) == 12

    page.click("th button[data-sort=totalTrades]")
    page.wait_for_selector("th[aria-sort=descending] button[data-sort=totalTrades]")
    trades = [number(t) for t in page.locator("table.results tbody td[data-stat=totalTrades]").all_inner_texts()]
    assert trades == sorted(trades, reverse=True)

    heat = page.locator("canvas.heatmap")
    heat.wait_for()
    page.wait_for_function("() => document.querySelector('canvas.heatmap').dataset.cells === '12'")
    drawn = page.evaluate(
        """() => { const c = document.querySelector('canvas.heatmap');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n += 1; return n; }"""
    )
    assert drawn > 50_000  # twelve coloured cells, not an empty canvas
    page.select_option("select[name=x]", "slow")
    page.select_option("select[name=y]", "fast")
    assert "over slow (across) and fast (down)" in heat.get_attribute("aria-label")
    box = heat.bounding_box()
    heat.click(position={"x": box["width"] * 0.2, "y": box["height"] * 0.2})  # a cell of the top row
    page.wait_for_selector("p.picked button[data-action=backtest]")
    assert "slow" in page.locator("p.heatmap-cell").inner_text()
    screenshot(page, "sweep-results-heatmap")

    best = summary["best"]["params"]
    page.click(f"table.results tr[data-index='{summary['best']['index']}'] button[data-action=backtest]")
    page.wait_for_url("**/backtest#/runs/bt-*")
    run_id = page.url.split("#/runs/")[1]
    with server.api() as client:
        run = client.get(f"/api/backtest/{run_id}").json()
    assert {k: run["params"][k] for k in best} == best and run["strategy"] == "sma_cross"
    assert run["feed"]["args"]["bars"] == 3000
    assert run["options"]["fee"] == 0.001 and run["options"]["slippageBps"] == 2  # the sweep's options


def test_a_walk_forward_shows_its_folds_and_both_equity_curves(page: Any, server: Server) -> None:
    sweep_id = start_sweep(server, {"grid": GRID, "feed": SMALL, "walkForward": {"folds": 4}})
    wait_done(server, sweep_id)
    open_dashboard(page, server, token=False, hash_=f"#/sweeps/{sweep_id}")
    page.wait_for_selector("#main[data-loaded=true]")
    assert page.locator("table.folds tbody tr").count() == 4
    assert "Out of sample" in page.locator("p.oos-line").inner_text()
    page.wait_for_function("() => document.querySelectorAll('.pane[data-pane=equity] canvas').length > 0")
    page.wait_for_timeout(300)
    assert pane_pixels(page, "equity") > 1000
    # without a token the buttons say why they are disabled
    button = page.locator("table.results button[data-action=backtest]").first
    assert button.is_disabled() and "token" in button.get_attribute("title")
    screenshot(page, "sweep-walk-forward")
