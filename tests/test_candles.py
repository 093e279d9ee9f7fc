import numpy as np
import pytest

from spark.engine.candles import Candles
from spark.errors import DataError


def make(**change: list) -> Candles:
    cols = {
        "timestamp": [1, 2, 3],
        "open": [10.0, 11, 12],
        "high": [11.0, 12, 13],
        "low": [9.0, 10, 11],
        "close": [10.5, 11.5, 12.5],
        "volume": [1.0, 1, 1],
    }
    cols.update(change)
    return Candles.from_arrays(**cols)


def test_valid_series_is_read_only_and_hashed_once() -> None:
    c = make()
    assert len(c) == 3
    with pytest.raises(ValueError):
        c.close[0] = 1.0
    assert c.fingerprint == make().fingerprint
    assert c.fingerprint is c.fingerprint  # cached on the object


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timestamp": [1, 3, 3]}, "row 2: timestamp not strictly increasing"),
        ({"close": [10.5, float("nan"), 12.5]}, "row 1: price is NaN"),
        ({"low": [9.0, 10, -1]}, "row 2: negative price"),
        ({"high": [10.2, 12, 13]}, "row 0: high below max"),
        ({"low": [9.0, 11.6, 11]}, "row 1: low above min"),
        ({"volume": [1.0, -1, 1]}, "row 1: volume"),
        ({"open": [1.0, 2.0]}, "equal length"),
        ({"open": ["a", "b", "c"]}, "numeric"),
    ],
)
def test_bad_rows_are_named(change: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        make(**change)


def test_empty_series_is_refused() -> None:
    with pytest.raises(DataError, match="empty"):
        Candles.from_arrays(timestamp=[], open=[], high=[], low=[], close=[], volume=[])


def test_head_is_a_prefix_view() -> None:
    c = make()
    h = c.head(2)
    assert len(h) == 2 and np.shares_memory(h.close, c.close)
    assert h.fingerprint != c.fingerprint


def test_source_says_how_the_columns_were_read_and_stays_out_of_the_fingerprint() -> None:
    cols = {"timestamp": [1, 2], "open": [1.0, 1], "high": [1.0, 1], "low": [1.0, 1], "close": [1.0, 1]}
    c = Candles.from_arrays(**cols, source={"format": "yahoo", "volume": "absent"})
    assert c.source == {"format": "yahoo", "volume": "absent"} and not c.volume.any()
    c.source["format"] = "changed"  # a copy: the object stays as it was read
    assert c.source["format"] == "yahoo"
    assert c.head(1).source == c.source
    assert c.fingerprint == Candles.from_arrays(**cols, volume=[0.0, 0]).fingerprint
    assert Candles.from_arrays(**cols).source == {}
