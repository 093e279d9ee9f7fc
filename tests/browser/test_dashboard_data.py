"""Bringing data from the dashboard: the csv feed's file is a choice among the data directory's files, an upload
control (guarded by the admin token) posts a file and refreshes the choice, and the server's error shows at the
field. A run started on an uploaded Yahoo export, adjusted, states which close it used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import Console, Server, screenshot
from .helpers import field, open_dashboard, open_form

ROOT = Path(__file__).resolve().parents[1]


def yahoo(folder: Path, name: str, bars: int = 300) -> Path:
    """The first ``bars`` days of GOOG as a Yahoo export whose Adj Close is half the close."""
    rows = [line.split(",") for line in (ROOT / "data" / "GOOG.csv").read_text().splitlines()[1 : bars + 1]]
    path = folder / name
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        + "".join(f"{d},{o},{h},{lo},{c},{float(c) / 2!r},{v}\n" for d, o, h, lo, c, v in rows)
    )
    return path


def choose_csv_feed(page: Any) -> Any:
    page.select_option("#f-feed", "csv")
    path = field(page, "feed.args.path")
    path.locator("select[data-loaded=true]").wait_for()
    return path


def options(path_field: Any) -> list[tuple[str, bool]]:
    return path_field.locator("select option").evaluate_all("os => os.map(o => [o.value, o.disabled])")


def test_the_file_choice_lists_the_data_directory_with_broken_files_shown_but_not_choosable(
    page: Any, engine_server: Server
) -> None:
    data = engine_server.workdir / "data"
    yahoo(data, "listed.csv")
    (data / "listed_broken.csv").write_text("Date,Open,High,Low,Close\n2020-01-02,1,1,1,1\n2020-01-01,1,1,1,1\n")
    open_dashboard(page, engine_server)
    open_form(page)
    path = choose_csv_feed(page)
    found = dict(options(path))
    assert found["listed.csv"] is False and found["listed_broken.csv"] is True
    label = path.locator("option[value='listed.csv']").inner_text()
    assert "300 bars of 1d" in label and "Adj Close" in label
    assert "line 3: time not strictly increasing" in path.locator("option[value='listed_broken.csv']").inner_text()


def test_an_upload_refreshes_the_choice_and_a_run_on_it_states_the_adjusted_close(
    page: Any, engine_server: Server, tmp_path: Path
) -> None:
    source = yahoo(tmp_path, "My Yahoo Export.csv")
    open_dashboard(page, engine_server)
    open_form(page)
    path = choose_csv_feed(page)
    path.locator("input[type=file]").set_input_files(str(source))
    with page.expect_response("**/api/data") as answer:
        page.click("#upload-submit")
    assert answer.value.status == 201
    assert answer.value.json()["name"] == "My_Yahoo_Export.csv"
    page.locator(".toast-ok", has_text="Uploaded My_Yahoo_Export.csv (300 bars)").wait_for()
    page.wait_for_function(
        "() => document.querySelector(\"[data-field='feed.args.path'] select\").value === 'My_Yahoo_Export.csv'"
    )
    assert (engine_server.workdir / "data" / "My_Yahoo_Export.csv").read_bytes() == source.read_bytes()
    field(page, "feed.args.adjusted").locator("input").check()
    screenshot(page, "form-data")
    with page.expect_response("**/api/backtest/start") as started:
        page.click("#start-submit")
    assert started.value.status == 201, started.value.text()
    run_id = started.value.json()["id"]
    assert engine_server.wait_status(run_id, {"done", "failed"})["status"] == "done"
    with engine_server.api() as client:
        meta = client.get(f"/api/backtest/{run_id}").json()["metadata"]
    assert meta["dataSource"]["close"] == "adj_close" and meta["dataSource"]["format"] == "yahoo"
    assert meta["candleCount"] == 300


def test_the_servers_error_shows_at_the_field(
    page: Any, console: Console, engine_server: Server, tmp_path: Path
) -> None:
    console.allow(r"status of (400|409) .*api/data")
    bad = tmp_path / "broken_upload.csv"
    bad.write_text("Date,Open,High,Low,Close\n2020-01-01,1,1,1,1\n2020-01-02,1,x,1,1\n")
    open_dashboard(page, engine_server)
    open_form(page)
    path = choose_csv_feed(page)
    path.locator("input[type=file]").set_input_files(str(bad))
    with page.expect_response("**/api/data") as answer:
        page.click("#upload-submit")
    assert answer.value.status == 400
    error = path.locator(".error")
    error.wait_for()
    assert "broken_upload.csv line 3: 'x' is not a number (column High)" in error.inner_text()
    assert path.locator("select").get_attribute("aria-invalid") == "true"
    page.locator(".toast-error", has_text="Upload refused").wait_for()
    assert not (engine_server.workdir / "data" / "broken_upload.csv").exists()
    # the same name twice: the second is a clash unless "replace" is ticked
    good = yahoo(tmp_path, "twice.csv", bars=50)
    for expected in (201, 409):
        path.locator("input[type=file]").set_input_files(str(good))
        with page.expect_response("**/api/data") as answer:
            page.click("#upload-submit")
        assert answer.value.status == expected
    assert "exists" in error.inner_text()
    path.locator("input[type=checkbox]").check()
    path.locator("input[type=file]").set_input_files(str(good))
    with page.expect_response("**/api/data?replace=true") as answer:
        page.click("#upload-submit")
    assert answer.value.status == 201 and error.is_hidden()


def test_upload_is_guarded_by_the_admin_token_like_start(page: Any, engine_server: Server) -> None:
    open_dashboard(page, engine_server, token=False)
    open_form(page)
    choose_csv_feed(page)
    button = page.locator("#upload-submit")
    assert button.is_disabled()
    assert "admin token" in page.locator("#upload-reason").inner_text()
    assert button.get_attribute("data-reason") == page.locator("#start-submit").get_attribute("data-reason")
