"""A third-party plugin, installed the way pip lays a wheel out on disk (a package plus its ``*.dist-info`` with
an entry point in group ``spark``), found through entry-point metadata, listed, run, and disabled by config."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
"""A throwaway third-party Spark plugin: a strategy with a parameter, a strategy that fails, a feed."""
import numpy as np

import spark
from spark import Candles, FeedSpec, Param, StrategySpec


def enter_after(params, ctx):
    n = len(ctx.candles)
    entries = np.zeros(n, dtype=bool)
    entries[params["after"]:params["after"] + 1] = True
    ctx.signals(entries, np.zeros(n, dtype=bool))


def exploding(params, ctx):
    raise RuntimeError("kaboom")


def ramp(args, env):
    close = np.arange(1.0, args["bars"] + 1.0)
    return Candles.from_arrays(timestamp=np.arange(args["bars"]) * 60_000 + 1_600_000_000_000, open=close - 0.5,
                               high=close, low=close - 0.5, close=close, symbol="RAMP", timeframe="1m")


@spark.hookimpl
def register_strategies(register):
    register(StrategySpec(name="enter_after", fn=enter_after, version="0.1", help="buy once, after some bars",
                          params=(Param(name="after", type="int", default=5, min=0, max=1000, help="bars to wait"),)))
    register(StrategySpec(name="exploding", fn=exploding, help="always fails"))


@spark.hookimpl
def register_feeds(register):
    register(FeedSpec(name="ramp", load=ramp, help="a straight line up",
                      params=(Param(name="bars", type="int", default=20, min=2, max=1000, help="bars"),)))
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "spark_demo_plugin.py").write_text(PLUGIN)
    info = root / "spark_demo_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spark-demo-plugin\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[spark]\ndemo = spark_demo_plugin\n")
    (info / "top_level.txt").write_text("spark_demo_plugin\n")
    return root


def spark(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}
    path = os.pathsep.join(filter(None, [str(site), clean.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "spark.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**clean, "PYTHONPATH": path, **env},
        timeout=120,
    )


def test_the_plugin_is_listed_with_its_params(site: Path, tmp_path: Path) -> None:
    out = spark(site, tmp_path, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["plugins"][:2] == ["strategies", "feeds"] and "demo" in doc["plugins"]
    strategies = {s["name"]: s for s in doc["strategies"]}
    assert strategies["enter_after"]["params"] == [
        {"name": "after", "type": "int", "default": 5, "min": 0, "max": 1000, "help": "bars to wait"}
    ]
    assert "sma_cross" in strategies and "ramp" in {f["name"] for f in doc["feeds"]}
    text = spark(site, tmp_path, "plugins").stdout
    assert "enter_after v0.1: buy once, after some bars" in text and "after (int, default 5 in [0, 1000])" in text


def test_its_strategy_and_feed_run_from_the_cli(site: Path, tmp_path: Path) -> None:
    out = spark(
        site,
        tmp_path,
        "backtest",
        "--data",
        "ramp",
        "--feed-arg",
        "bars=10",
        "--strategy",
        "enter_after",
        "--param",
        "after=3",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["metadata"]["strategy"] == {"name": "enter_after", "version": "0.1"}
    (trade,) = doc["report"]["trades"]
    # decided at bar 3's close, filled at bar 4's open (4.5), marked at the last close (10)
    assert (trade["entryBar"], trade["entryPrice"], trade["open"]) == (4, 4.5, True)
    assert doc["report"]["stats"]["finalEquity"] == pytest.approx(10_000 - 4.5 + 10)
    assert (tmp_path / "evidence" / "backtest" / f"{doc['id']}.json").is_file()


def test_a_failing_strategy_is_one_line_naming_it_and_writes_nothing(site: Path, tmp_path: Path) -> None:
    out = spark(site, tmp_path, "backtest", "--strategy", "exploding")
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.strip() == "spark: error: strategy 'exploding' failed: RuntimeError: kaboom"
    assert not (tmp_path / "evidence").exists()


@pytest.mark.parametrize("how", ["env", "toml"])
def test_disabling_the_plugin_by_name_at_start_up(site: Path, tmp_path: Path, how: str) -> None:
    env = {"SPARK_DISABLED_PLUGINS": "demo"} if how == "env" else {}
    if how == "toml":
        (tmp_path / "spark.toml").write_text(textwrap.dedent('[plugins]\ndisabled = ["demo"]\n'))
    listing = json.loads(spark(site, tmp_path, "plugins", "--json", **env).stdout)
    assert "demo" not in listing["plugins"] and listing["disabled"] == ["demo"]
    assert "enter_after" not in {s["name"] for s in listing["strategies"]}
    out = spark(site, tmp_path, "backtest", "--strategy", "enter_after", **env)
    assert out.returncode != 0 and "unknown strategy 'enter_after'" in out.stderr
    assert spark(site, tmp_path, "backtest", "--json", **env).returncode == 0  # the built-ins still run


def test_disabling_a_builtin_plugin(tmp_path: Path, site: Path) -> None:
    out = spark(site, tmp_path, "backtest", "--strategy", "sma_cross", SPARK_DISABLED_PLUGINS="strategies")
    assert out.returncode != 0 and "unknown strategy 'sma_cross' (known: enter_after, exploding)" in out.stderr
