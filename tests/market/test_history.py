"""``spark data fetch`` and the ``btcturk`` feed against the fake exchange: files, resuming, bad input, the API."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from spark.api import create_app
from spark.cli import main
from spark.config import load_settings
from spark.errors import DataError, InputError
from spark.market.history import HEADER, fetch_to_csv, parse_when
from spark.system import open_system

H = 3_600_000
JAN_2024 = 1_704_067_200_000


async def spark_cli(fake, tmp_path: Path, *args: str, **env: str) -> trio.CompletedProcess:
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "ADMIN_", "BACKTEST_"))},
        **fake.urls.env(),
        "SPARK_DATA_DIR": str(tmp_path / "data"),
        "SPARK_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "PYTHONPATH": os.pathsep.join(sys.path),
        **env,
    }
    return await trio.run_process(
        [sys.executable, "-m", "spark.cli", *args],
        env=full_env,
        cwd=tmp_path,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


async def test_fetch_writes_a_spark_csv_and_resumes_with_only_what_is_new(fake, tmp_path: Path) -> None:
    settings = fake.client_settings(data_dir=tmp_path, market_klines_page=40)
    first = await fetch_to_csv(settings, "BTC_TRY", "1h", JAN_2024, now_ms=JAN_2024 + 100 * H + 5)
    path = tmp_path / "BTCTRY-1h.csv"
    assert first.path == path and first.added == 100 and first.gaps == []
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 101
    assert lines[1].startswith(f"{JAN_2024},") and lines[-1].startswith(f"{JAN_2024 + 99 * H},")
    before = fake.exchange.requests.count("/v1/klines/history")
    again = await fetch_to_csv(settings, "BTCTRY", "1h", JAN_2024, now_ms=JAN_2024 + 130 * H)
    assert (again.added, again.total) == (30, 130)
    assert fake.exchange.requests.count("/v1/klines/history") - before == 1  # only the 30 new candles asked for
    assert path.read_text().splitlines()[: len(lines)] == lines  # nothing before them rewritten
    same = await fetch_to_csv(settings, "BTCTRY", "1h", JAN_2024, now_ms=JAN_2024 + 130 * H)
    assert same.added == 0


async def test_the_forming_candle_is_never_written(fake, tmp_path: Path) -> None:
    settings = fake.client_settings(data_dir=tmp_path)
    result = await fetch_to_csv(settings, "BTCTRY", "1h", JAN_2024, now_ms=JAN_2024 + 3 * H + H // 2)
    assert result.last_ts == JAN_2024 + 2 * H


async def test_a_gap_is_reported_not_filled(fake, tmp_path: Path) -> None:
    fake.exchange.market.gap = (JAN_2024 + 5 * H, JAN_2024 + 8 * H)
    result = await fetch_to_csv(
        fake.client_settings(data_dir=tmp_path), "BTCTRY", "1h", JAN_2024, now_ms=JAN_2024 + 12 * H
    )
    assert result.gaps == [(JAN_2024 + 5 * H, 3)] and result.total == 9


async def test_a_foreign_file_is_not_touched(fake, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("Date,Open,High,Low,Close\n2024-01-01,1,1,1,1\n")
    with pytest.raises(DataError, match="not a BTCTurk fetch"):
        await fetch_to_csv(fake.settings, "BTCTRY", "1h", JAN_2024, path=path, now_ms=JAN_2024 + 3 * H)
    assert path.read_text().startswith("Date,")


def test_dates() -> None:
    assert parse_when("2024-01-01", "since") == JAN_2024
    assert parse_when("2024-01-01T01:00Z", "since") == JAN_2024 + H
    assert parse_when(str(JAN_2024), "since") == JAN_2024
    with pytest.raises(InputError, match="since: expected a date") as caught:
        parse_when("yesterday", "since")
    assert caught.value.field == "since"


async def test_cli_fetch_into_the_data_dir(fake, tmp_path: Path) -> None:
    done = await spark_cli(fake, tmp_path, "data", "fetch", "btcturk", "--pair", "ETHTRY", "--timeframe", "4h",
                           "--since", "2024-01-01", "--until", "2024-01-03")  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = tmp_path / "data" / "ETHTRY-4h.csv"
    assert f"{path}: 12 new candles, 12 in all" in done.stdout.decode()
    assert done.stderr == b""  # no progress bar off a terminal
    assert len(path.read_text().splitlines()) == 13


def in_process(fake, tmp_path: Path, monkeypatch) -> Callable[..., Awaitable[int]]:
    """``spark ...`` through `spark.cli.main` in a thread (it runs its own trio loop), env pointed at the fake."""
    for name, value in {**fake.urls.env(), "SPARK_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)

    async def run(*args: str) -> int:
        return await trio.to_thread.run_sync(main, list(args))

    return run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pair", "NOPETRY", "--timeframe", "1h", "--since", "2024-01-01"], "BTCTurk lists no pair 'NOPETRY'"),
        (["--pair", "BTCTRY", "--timeframe", "2h", "--since", "2024-01-01"], "has no '2h' candles"),
        (["--pair", "BTCTRY", "--timeframe", "1h", "--since", "2999-01-01"], "since: is in the future"),
        (["--pair", "BTCTRY", "--timeframe", "1h", "--since", "soon"], "--since: expected a date"),
        (["--pair", "BTCTRY", "--timeframe", "1h"], "the following arguments are required: --since"),
    ],
)
async def test_cli_bad_input_is_one_line_exit_2_nothing_written(
    fake, tmp_path: Path, monkeypatch, capsys, args, message
) -> None:
    spark = in_process(fake, tmp_path, monkeypatch)
    try:
        code = await spark("data", "fetch", "btcturk", *args)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


async def test_cli_exchange_down_is_exit_1(fake, tmp_path: Path, monkeypatch, capsys) -> None:
    fake.exchange.rest_faults.extend(["503"] * 20)
    monkeypatch.setenv("SPARK_MARKET_REST_RETRIES", "1")
    spark = in_process(fake, tmp_path, monkeypatch)
    assert (
        await spark("data", "fetch", "btcturk", "--pair", "BTCTRY", "--timeframe", "1h", "--since", "2024-01-01") == 1
    )
    assert "503" in capsys.readouterr().err


async def test_backtest_on_the_btcturk_feed(fake, tmp_path: Path) -> None:
    done = await spark_cli(fake, tmp_path, "backtest", "--data", "btcturk", "--feed-arg", "pair=BTCTRY",
                           "--feed-arg", "timeframe=1h", "--feed-arg", "since=2024-01-01",
                           "--feed-arg", "until=2024-01-15", "--json", "--no-evidence")  # fmt: skip
    assert done.returncode == 0, done.stderr
    metadata = json.loads(done.stdout)["metadata"]
    assert (metadata["symbol"], metadata["timeframe"]) == ("BTCTRY", "1h")


async def test_over_the_api_the_feed_needs_market_data_enabled(fake, tmp_path: Path, monkeypatch) -> None:
    for name, value in fake.urls.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SPARK_MARKET_DATA_ENABLED", raising=False)
    settings = load_settings(
        env={}, toml_path=None, evidence_dir=tmp_path / "e", log_dir=tmp_path / "l", data_dir=tmp_path / "d",
        admin_token="t0ken", impl="mock", mock_delay_s=30.0, max_concurrent=1,
    )  # fmt: skip
    body = {"feed": {"name": "btcturk", "args": {"pair": "BTCTRY", "timeframe": "1h", "since": "2024-01-01"}}}
    async with open_system(settings) as system:
        client = create_app(system).test_client()
        refused = await client.post("/api/backtest/start", json=body, headers={"x-admin-token": "t0ken"})
        assert refused.status_code == 403
        answer = await refused.get_json()
        assert answer["field"] == "feed.name" and "SPARK_MARKET_DATA_ENABLED" in answer["message"]
        monkeypatch.setenv("SPARK_MARKET_DATA_ENABLED", "true")
        bad = dict(body["feed"]["args"], timeframe="3h")
        refused = await client.post(
            "/api/backtest/start", json={"feed": {"name": "btcturk", "args": bad}}, headers={"x-admin-token": "t0ken"}
        )
        assert refused.status_code == 400 and (await refused.get_json())["field"] == "feed.args.timeframe"
        future = dict(body["feed"]["args"], since="2999-01-01")
        refused = await client.post(
            "/api/backtest/start",
            json={"feed": {"name": "btcturk", "args": future}},
            headers={"x-admin-token": "t0ken"},
        )
        assert refused.status_code == 400 and (await refused.get_json())["field"] == "feed.args.since"
        accepted = await client.post("/api/backtest/start", json=body, headers={"x-admin-token": "t0ken"})
        assert accepted.status_code == 201
