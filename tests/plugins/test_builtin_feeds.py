"""The built-in feeds: csv (and its restricted mode for the API), synthetic, default."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from spark_plugins.feeds import SYNTHETIC_EPOCH_MS

from spark.engine import validate_params
from spark.errors import DataError, InputError, ParamError
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import build_plugins
from spark.service.datafiles import load_candles

PLUGINS = build_plugins()


def load(feed: str, args: dict, data_dir: Path = Path("."), restricted: bool = False):
    spec = PLUGINS.feed(feed)
    return spec.load(
        validate_params(spec.params, args, prefix="feed.args"), FeedEnv(data_dir=data_dir, restricted=restricted)
    )


def test_feeds_declare_their_params() -> None:
    assert {"csv", "synthetic", "default"} <= set(PLUGINS.feeds)
    names = [p.name for p in PLUGINS.feed("synthetic").params]
    assert names == ["symbol", "timeframe", "bars", "seed", "price", "volatility"]
    assert all(p.help for p in PLUGINS.feed("csv").params + PLUGINS.feed("synthetic").params)


def test_default_feed_is_the_embedded_goog_series(data_dir: Path) -> None:
    c = load("default", {})
    assert (len(c), c.symbol, c.timeframe) == (2148, "GOOG", "1d")
    assert c.fingerprint == load_candles(data_dir / "GOOG.csv").fingerprint
    assert load("default", {}) is c  # read once per process


def test_csv_feed_unrestricted_reads_any_path(data_dir: Path) -> None:
    c = load("csv", {"path": str(data_dir / "EURUSD.csv"), "symbol": "EURUSD"})
    assert (len(c), c.symbol, c.timeframe) == (5000, "EURUSD", "1h")
    with pytest.raises(ParamError, match="path is required"):
        load("csv", {})


def test_csv_feed_restricted_reads_a_named_file_in_the_data_dir(data_dir: Path) -> None:
    c = load("csv", {"path": "BTCUSD.csv"}, data_dir, restricted=True)
    assert (len(c), c.timeframe) == (156, "1M")


@pytest.mark.parametrize(
    "path",
    [
        "../GOOG.csv",
        "..",
        "sub/GOOG.csv",
        "/etc/passwd",
        str(Path.cwd() / "x.csv"),
        "..\\GOOG.csv",
        ".hidden.csv",
        "GOOG.csv\0",
        "notes.txt",
        "C:GOOG.csv",
    ],
)
def test_restricted_csv_refuses_paths(tmp_path: Path, path: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "GOOG.csv").write_text("x")
    with pytest.raises(InputError) as err:
        load("csv", {"path": path}, tmp_path, restricted=True)
    assert err.value.field == "feed.args.path"
    assert str(tmp_path) not in err.value.message  # the data directory's own path is never shown


def test_restricted_csv_refuses_symlinks_that_escape(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "escape.csv").symlink_to(data_dir / "GOOG.csv")
    (root / "real.csv").write_bytes((data_dir / "BTCUSD.csv").read_bytes())
    (root / "alias.csv").symlink_to(root / "real.csv")
    with pytest.raises(ParamError, match="outside the data directory"):
        load("csv", {"path": "escape.csv"}, root, restricted=True)
    assert len(load("csv", {"path": "alias.csv"}, root, restricted=True)) == 156
    with pytest.raises(DataError, match="no data file named 'absent.csv'") as err:
        load("csv", {"path": "absent.csv"}, root, restricted=True)
    assert str(root) not in err.value.message


def yahoo_copy(data_dir: Path, folder: Path, name: str = "GOOG_Y.csv") -> Path:
    """GOOG as a Yahoo export whose Adj Close is a quarter of the close."""
    rows = [line.split(",") for line in (data_dir / "GOOG.csv").read_text().splitlines()[1:]]
    path = folder / name
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        + "".join(f"{d},{o},{h},{lo},{c},{float(c) / 4!r},{v}\n" for d, o, h, lo, c, v in rows)
    )
    return path


def test_csv_feed_adjusted_uses_adj_close(tmp_path: Path, data_dir: Path) -> None:
    yahoo_copy(data_dir, tmp_path)
    plain = load("csv", {"path": "GOOG_Y.csv"}, tmp_path, restricted=True)
    adjusted = load("csv", {"path": "GOOG_Y.csv", "adjusted": True}, tmp_path, restricted=True)
    assert plain.fingerprint == load_candles(data_dir / "GOOG.csv").fingerprint
    assert np.array_equal(adjusted.close, plain.close / 4) and np.allclose(adjusted.open, plain.open / 4)
    assert (plain.source["close"], adjusted.source["close"]) == ("close", "adj_close")


def test_csv_feed_adjusted_is_refused_up_front_for_a_file_without_adj_close(data_dir: Path) -> None:
    spec = PLUGINS.feed("csv")
    assert spec.check is not None
    for env in (FeedEnv(data_dir=data_dir, restricted=True), FeedEnv(data_dir=Path("."), restricted=False)):
        path = "GOOG.csv" if env.restricted else str(data_dir / "GOOG.csv")
        with pytest.raises(ParamError, match="GOOG.csv has no Adj Close column") as err:
            spec.check({"path": path, "adjusted": True}, env)
        assert err.value.field == "feed.args.adjusted"
        spec.check({"path": path, "adjusted": False}, env)


def test_synthetic_is_a_valid_seeded_walk() -> None:
    c = load("synthetic", {"symbol": "ETHUSDT", "timeframe": "4h", "bars": 500})
    assert (len(c), c.symbol, c.timeframe) == (500, "ETHUSDT", "4h")
    assert c.timestamp[0] == SYNTHETIC_EPOCH_MS and set(np.diff(c.timestamp).tolist()) == {4 * 3_600_000}
    assert c.open[0] == 100.0 and np.array_equal(c.open[1:], c.close[:-1])
    assert (c.high >= np.maximum(c.open, c.close)).all() and (c.low <= np.minimum(c.open, c.close)).all()
    assert (c.low > 0).all() and (c.volume > 0).all()
    assert load("synthetic", {"symbol": "ETHUSDT", "timeframe": "4h", "bars": 500}).fingerprint == c.fingerprint
    assert load("synthetic", {"symbol": "BTCUSDT", "timeframe": "4h", "bars": 500}).fingerprint != c.fingerprint
    assert (
        load("synthetic", {"symbol": "ETHUSDT", "timeframe": "4h", "bars": 500, "seed": 1}).fingerprint != c.fingerprint
    )
    assert load("synthetic", {"timeframe": "1M", "bars": 3}).timestamp.tolist() == [
        SYNTHETIC_EPOCH_MS + i * 30 * 86_400_000 for i in range(3)
    ]


def test_synthetic_default_seed_is_stable_across_processes() -> None:
    code = (
        "from pathlib import Path; from spark.plugin.manager import build_plugins; "
        "from spark.plugin.feeds import FeedEnv;"
        "print(build_plugins().feed('synthetic').load({'symbol': 'ETHUSDT', 'timeframe': '4h', 'bars': 50}, "
        "FeedEnv(data_dir=Path('.'))).fingerprint)"
    )
    prints = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(prints) == 1
    assert prints.pop().strip() == load("synthetic", {"symbol": "ETHUSDT", "timeframe": "4h", "bars": 50}).fingerprint


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"bars": 0}, "feed.args.bars"),
        ({"bars": 5_000_001}, "feed.args.bars"),
        ({"bars": "many"}, "feed.args.bars"),
        ({"timeframe": "4x"}, "feed.args.timeframe"),
        ({"timeframe": "0h"}, "feed.args.timeframe"),
        ({"seed": -2}, "feed.args.seed"),
        ({"seed": None}, "feed.args.seed"),
        ({"price": 0}, "feed.args.price"),
        ({"colour": "red"}, "feed.args.colour"),
    ],
)
def test_synthetic_refuses_bad_args(args: dict, field: str) -> None:
    with pytest.raises(ParamError) as err:
        load("synthetic", args)
    assert err.value.field == field
