"""RunRequest.parse: the start body (and CLI flags) validated against the real plugins, naming the bad field."""

import pickle
from pathlib import Path

import pytest

from spark.engine import Options
from spark.errors import InputError, ParamError, UnknownPlugin
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import build_plugins, scan_plugins
from spark.plugin.request import DEFAULT_BARS, RunRequest

PLUGINS = build_plugins()


def test_an_empty_body_means_every_default() -> None:
    for body in ({}, None):
        req = RunRequest.parse(body, PLUGINS)
        assert (req.pair, req.timeframe, req.notes, req.strategy) == ("ETHUSDT", "4h", "", "sma_cross")
        assert req.params == {"fast": 10, "slow": 30}
        assert req.feed_name == "synthetic"
        assert req.feed_args == {
            "symbol": "ETHUSDT",
            "timeframe": "4h",
            "bars": DEFAULT_BARS,
            "seed": -1,
            "price": 100.0,
            "volatility": 0.01,
        }
        assert req.options == Options()


def test_the_default_feed_follows_pair_and_timeframe_and_loads() -> None:
    req = RunRequest.parse(
        {"pair": "BTCUSDT", "timeframe": "1d", "feed": {"name": "synthetic", "args": {"bars": 300}}}, PLUGINS
    )
    assert req.feed_json() == {
        "name": "synthetic",
        "args": {"symbol": "BTCUSDT", "timeframe": "1d", "bars": 300, "seed": -1, "price": 100.0, "volatility": 0.01},
    }
    candles = PLUGINS.feed(req.feed_name).load(req.feed_args, FeedEnv(data_dir=Path(".")))
    assert (len(candles), candles.symbol, candles.timeframe) == (300, "BTCUSDT", "1d")


def test_a_run_s_own_feed_and_params_can_be_sent_again() -> None:
    first = RunRequest.parse({"params": {"fast": 5}}, PLUGINS)
    again = RunRequest.parse(
        {"params": first.params, "feed": first.feed_json(), "options": first.options_json()}, PLUGINS
    )
    assert again == first


def test_a_full_body_and_the_seed_alias() -> None:
    req = RunRequest.parse(
        {
            "pair": "GOOG",
            "timeframe": "1d",
            "notes": "n",
            "strategy": "smaCross",
            "params": {"fast": 5, "slow": 20},
            "feed": {"name": "csv", "args": {"path": "GOOG.csv"}},
            "options": {
                "cash": 5000,
                "fee": 0.001,
                "slippageBps": 2,
                "sizePct": 0.5,
                "fill": "close",
                "periodsPerYear": 252,
                "margin": False,
            },
        },
        PLUGINS,
    )
    assert req.strategy == "sma_cross" and req.params == {"fast": 5, "slow": 20}
    assert req.options == Options(
        cash=5000, fee=0.001, slippage_bps=2, size_pct=0.5, fill="close", periods_per_year=252
    )
    assert req.options_json()["sizePct"] == 0.5
    assert pickle.loads(pickle.dumps(req)) == req  # it travels to a worker process


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"id": "bt-1763700000000-0123abcd"}, "id"),
        ({"startedAt": 1}, "startedAt"),
        ({"pair": 5}, "pair"),
        ({"pair": "ETH USDT"}, "pair"),
        ({"pair": "X" * 33}, "pair"),
        ({"timeframe": "4 hours"}, "timeframe"),
        ({"timeframe": "0h"}, "timeframe"),
        ({"notes": 5}, "notes"),
        ({"notes": "x" * 1001}, "notes"),
        ({"strategy": 3}, "strategy"),
        ({"strategy": "nope"}, "strategy"),
        ({"params": [10, 30]}, "params"),
        ({"params": {"fast": 0}}, "params.fast"),
        ({"params": {"fast": "ten"}}, "params.fast"),
        ({"params": {"fast": True}}, "params.fast"),
        ({"params": {"fast": 10.5}}, "params.fast"),
        ({"params": {"fast": 30, "slow": 10}}, "params.fast"),
        ({"params": {"slow": 10**9}}, "params.slow"),
        ({"params": {"speed": 1}}, "params.speed"),
        ({"feed": "synthetic"}, "feed"),
        ({"feed": {"name": 1}}, "feed.name"),
        ({"feed": {"name": "ftp"}}, "feed.name"),
        ({"feed": {"name": "synthetic", "extra": 1}}, "feed.extra"),
        ({"feed": {"name": "synthetic", "args": []}}, "feed.args"),
        ({"feed": {"name": "synthetic", "args": {"bars": 0}}}, "feed.args.bars"),
        ({"feed": {"name": "synthetic", "args": {"bars": 5_000_001}}}, "feed.args.bars"),
        ({"feed": {"name": "csv", "args": {"path": 5}}}, "feed.args.path"),
        ({"options": []}, "options"),
        ({"options": {"fee": -0.1}}, "options.fee"),
        ({"options": {"fee": "0.1"}}, "options.fee"),
        ({"options": {"cash": 0}}, "options.cash"),
        ({"options": {"slippageBps": 20_000}}, "options.slippageBps"),
        ({"options": {"size": 1, "sizePct": 0.5}}, "options.sizePct"),
        ({"options": {"sizePct": 1.5}}, "options.sizePct"),
        ({"options": {"fill": "vwap"}}, "options.fill"),
        ({"options": {"margin": "yes"}}, "options.margin"),
        ({"options": {"slippage_bps": 1}}, "options.slippage_bps"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(body: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        RunRequest.parse(body, PLUGINS)
    assert err.value.field == field, err.value.message
    assert err.value.status == 400


def test_a_body_that_is_not_an_object() -> None:
    for body in ([], "x", 3):
        with pytest.raises(InputError, match="JSON object"):
            RunRequest.parse(body, PLUGINS)


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(UnknownPlugin, match="known: bollinger_breakout, buy_and_hold, rsi_reversion, sma_cross"):
        RunRequest.parse({"strategy": "nope"}, PLUGINS)


@pytest.mark.parametrize("path", ["../GOOG.csv", "/etc/passwd", "data/GOOG.csv", "..", "..%2fGOOG.csv"])
def test_a_restricted_csv_feed_refuses_paths_the_client_chose(data_dir: Path, path: str) -> None:
    req = RunRequest.parse({"feed": {"name": "csv", "args": {"path": path}}}, PLUGINS)
    with pytest.raises(ParamError) as err:
        PLUGINS.feed(req.feed_name).load(req.feed_args, FeedEnv(data_dir=data_dir, restricted=True))
    assert err.value.field == "feed.args.path"


def test_a_disabled_plugin_takes_its_strategies_away() -> None:
    with pytest.raises(UnknownPlugin):
        RunRequest.parse({}, build_plugins(scan_plugins(disabled=["strategies"])))


@pytest.mark.parametrize("path", ["../GOOG.csv", "/etc/passwd", "data/GOOG.csv", "..", "..%2fGOOG.csv", "absent.csv"])
def test_with_an_env_a_bad_csv_path_is_refused_when_the_request_is_accepted(data_dir: Path, path: str) -> None:
    env = FeedEnv(data_dir=data_dir, restricted=True)
    with pytest.raises(InputError) as err:
        RunRequest.parse({"feed": {"name": "csv", "args": {"path": path}}}, PLUGINS, env)
    assert err.value.field == "feed.args.path"


def test_with_an_env_a_file_in_the_data_directory_is_accepted(data_dir: Path) -> None:
    env = FeedEnv(data_dir=data_dir, restricted=True)
    req = RunRequest.parse({"feed": {"name": "csv", "args": {"path": "GOOG.csv"}}}, PLUGINS, env)
    assert req.feed_json() == {
        "name": "csv",
        "args": {"path": "GOOG.csv", "symbol": "", "timeframe": "", "adjusted": False},
    }
