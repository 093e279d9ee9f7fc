"""The built-in feeds' ``check``: what a load would refuse without reading data is refused when a request is
accepted (the API answers 400 naming the field), and ``load`` still refuses it for the CLI and Python callers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from spark_plugins.feeds import LAST_MS, SYNTHETIC_EPOCH_MS

from spark.engine import validate_params
from spark.errors import InputError, ParamError
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import build_plugins
from spark.plugin.request import RunRequest

PLUGINS = build_plugins()
ENV = FeedEnv(data_dir=Path("."), restricted=True)


def checked(feed: str, args: dict) -> dict:
    return validate_params(PLUGINS.feed(feed).params, args, prefix="feed.args")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"timeframe": "4x"}, "feed.args.timeframe"),
        ({"timeframe": ""}, "feed.args.timeframe"),
        ({"timeframe": "1d", "bars": 5_000_000}, "feed.args.bars"),
        ({"timeframe": "9999y", "bars": 100_000}, "feed.args.bars"),
        ({"symbol": "s" * 65}, "feed.args.symbol"),
        ({"symbol": "a\x00b"}, "feed.args.symbol"),
    ],
)
def test_synthetic_is_checked_when_the_request_is_accepted(args: dict, field: str) -> None:
    spec = PLUGINS.feed("synthetic")
    assert spec.check is not None
    with pytest.raises(ParamError) as err:
        spec.check(checked("synthetic", args), ENV)
    assert err.value.field == field
    with pytest.raises(InputError) as err:
        RunRequest.parse({"feed": {"name": "synthetic", "args": args}}, PLUGINS, ENV)
    assert err.value.field == field
    with pytest.raises(ParamError) as err:  # and at load, for callers that never ran the check
        spec.load(checked("synthetic", args), ENV)
    assert err.value.field == field


def test_the_longest_synthetic_series_ends_within_the_calendar() -> None:
    spec = PLUGINS.feed("synthetic")
    most = (LAST_MS - SYNTHETIC_EPOCH_MS) // (7 * 86_400_000) + 1
    assert spec.check is not None
    spec.check(checked("synthetic", {"timeframe": "1w", "bars": most}), ENV)
    with pytest.raises(ParamError, match=f"at most {most}"):
        spec.check(checked("synthetic", {"timeframe": "1w", "bars": most + 1}), ENV)
    spec.check(checked("synthetic", {"symbol": "NASDAQ:GOOG", "timeframe": "1m", "bars": 5_000_000}), ENV)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"path": "GOOG.csv", "timeframe": "daily"}, "feed.args.timeframe"),
        ({"path": "GOOG.csv", "symbol": "x\ny"}, "feed.args.symbol"),
    ],
)
def test_csv_symbol_and_timeframe_are_checked_when_given(data_dir: Path, args: dict, field: str) -> None:
    env = FeedEnv(data_dir=data_dir, restricted=True)
    with pytest.raises(InputError) as err:
        RunRequest.parse({"feed": {"name": "csv", "args": args}}, PLUGINS, env)
    assert err.value.field == field
    ok = RunRequest.parse({"feed": {"name": "csv", "args": {"path": "GOOG.csv", "timeframe": "1d"}}}, PLUGINS, env)
    assert ok.feed_args["timeframe"] == "1d"


def test_an_undecodable_feed_arg_name_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "spark.cli", "backtest", "--data", "synthetic", "--feed-arg", b"\xff\xfe=1"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    err = done.stderr.decode("utf-8")  # valid UTF-8: the bad bytes are shown escaped
    assert err.count("\n") == 1 and "feed.args.\\udcff\\udcfe" in err, err
