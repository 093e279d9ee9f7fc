import io
from pathlib import Path

import numpy as np
import pytest

from spark.errors import DataError
from spark.service.datafiles import infer_timeframe, load_candles

DATED = ",Open,High,Low,Close,Volume\n"
EPOCH = "timestamp,open,high,low,close,volume\n"


@pytest.mark.parametrize(
    ("name", "bars", "timeframe", "first_ts", "first_close"),
    [
        ("GOOG.csv", 2148, "1d", 1092873600000, 100.34),  # 2004-08-19, capitalised style
        ("EURUSD.csv", 5000, "1h", 1492592400000, 1.07219),  # 2017-04-19 09:00 naive UTC
        ("BTCUSD.csv", 156, "1M", 1327968000000, 5.55),  # 2012-01-31, monthly
        ("UNITTEST_BTC-1m.csv", 13681, "1m", 1509836520000, 0.00162008),  # lower-case style, epoch ms
    ],
)
def test_both_header_styles_load(
    data_dir: Path, name: str, bars: int, timeframe: str, first_ts: int, first_close: float
) -> None:
    c = load_candles(data_dir / name)
    assert (len(c), c.timeframe, c.symbol) == (bars, timeframe, Path(name).stem)
    assert int(c.timestamp[0]) == first_ts and c.close[0] == first_close
    assert np.all(np.diff(c.timestamp) > 0)


def test_goog_last_row_is_read_exactly(data_dir: Path) -> None:
    last = (data_dir / "GOOG.csv").read_text().splitlines()[-1].split(",")
    c = load_candles(str(data_dir / "GOOG.csv"))
    assert [c.open[-1], c.high[-1], c.low[-1], c.close[-1], c.volume[-1]] == [float(x) for x in last[1:]]
    assert np.datetime64(int(c.timestamp[-1]), "ms") == np.datetime64(last[0])


def test_symbol_and_timeframe_can_be_given(data_dir: Path) -> None:
    c = load_candles(data_dir / "GOOG.csv", symbol="GOOGL", timeframe="1d")
    assert (c.symbol, c.timeframe) == ("GOOGL", "1d")


def test_open_files_text_and_binary_with_bom(tmp_path: Path) -> None:
    text = EPOCH + "1509836520000,1,2,0.5,1.5,10\n1509836580000,1.5,2,1,1,0\n"
    a = load_candles(io.StringIO(text))
    b = load_candles(io.BytesIO(("\ufeff" + text).encode()))
    assert a.fingerprint == b.fingerprint and a.timeframe == "1m" and a.symbol == ""
    p = tmp_path / "crlf.csv"
    p.write_bytes(text.replace("\n", "\r\n").encode())
    assert load_candles(p).fingerprint == a.fingerprint


def test_dated_index_header_names_and_datetimes(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("Date,Open,High,Low,Close,Volume\n2020-01-01 00:00:00,1,2,0.5,1.5,1\n2020-01-01 04:00:00,1,2,1,1,1\n")
    c = load_candles(p)
    assert c.timestamp.tolist() == [1577836800000, 1577836800000 + 4 * 3_600_000] and c.timeframe == "4h"


def bad(tmp_path: Path, text: str | bytes) -> str:
    p = tmp_path / "bad.csv"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(DataError) as err:
        load_candles(p)
    return err.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "bad.csv: empty file"),
        ("\n\n", "bad.csv: empty file"),
        (DATED, "no data lines after the header"),
        ("date,open,high,low,close,volume\n2020-01-01,1,1,1,1,1\n", "line 1: unsupported header"),
        ("Timestamp,Open,High,Low,Close,Volume\n1,1,1,1,1,1\n", "line 1: unsupported header"),
        (",Open,High,Low,Close\n2020-01-01,1,1,1,1\n", "line 1: unsupported header"),
        ("a;b;c\n", "line 1: unsupported header"),
        (DATED + "2020-01-01,1,1,1,1,1\n2020-01-02,1,x,1,1,1\n", "line 3: 'x' is not a number (column High)"),
        (DATED + "2020-01-01,1,1,1,1,1\n2020-01-02,1,1,1,,1\n", "line 3: '' is not a number (column Close)"),
        (
            EPOCH + "1509836520000,1,1,1,1,1\n1509836580000,1,1,1,1,abc\n",
            "line 3: 'abc' is not a number (column volume)",
        ),
        (DATED + "2020-01-01,1,1,1,1,1\n2020-01-02,1,1,1,1\n", "line 3: 5 fields, expected 6"),
        (EPOCH + "1509836520000,1,1,1,1,1,7\n", "line 2: 7 fields, expected 6"),
        (DATED + "2020-01-01,1,1,1,1,1\n\n2020-01-03,1,1,1,1,1\n", "line 3: blank line inside the data"),
        (EPOCH + "1509836520000,1,1,1,1,1\n\n1509836640000,1,1,1,1,1\n", "line 3: blank line inside the data"),
        (DATED + "2020-01-01,1,1,1,1,1\n2020-01-01,1,1,1,1,1\n", "line 3: time not strictly increasing"),
        (
            DATED + "2020-01-02,1,1,1,1,1\n2020-01-03,1,1,1,1,1\n2020-01-01,1,1,1,1,1\n",
            "line 4: time not strictly increasing",
        ),
        (EPOCH + "1509836580000,1,1,1,1,1\n1509836520000,1,1,1,1,1\n", "line 3: time not strictly increasing"),
        (DATED + "2020-01-01,1,1,1,1,1\n2020-01-02,nan,1,1,1,1\n", "line 3: NaN or infinite value"),
        (EPOCH + "1509836520000,1,1,1,1,1\n1509836580000,1,inf,1,1,1\n", "line 3: NaN or infinite value"),
        (DATED + "2020-01-01,1,1,1,1,NaN\n", "line 2: NaN or infinite value"),
        (DATED + "2020-01-01,1,1,1,1,1\nyesterday,1,1,1,1,1\n", "line 3: 'yesterday' is not a date"),
        (DATED + "NaT,1,1,1,1,1\n", "line 2: 'NaT' is not a date"),
        (DATED + "2020-01-01 00:00:00+01:00,1,1,1,1,1\n", "line 2: time zone offsets are not supported"),
        (EPOCH + "1509836520,1,1,1,1,1\n", "line 2: timestamp '1509836520' is not whole epoch milliseconds"),
        (EPOCH + "1509836520000.5,1,1,1,1,1\n", "line 2: timestamp '1509836520000.5' is not whole epoch"),
        (DATED + "2020-01-01,1,1,1,1,1\n2020-01-02,2,1.5,1,1,1\n", "line 3: high 1.5 below max(open, close)"),
        (DATED + "2020-01-01,1,2,1.5,1,1\n", "line 2: low 1.5 above min(open, close)"),
        (DATED + "2020-01-01,-1,1,-1,1,1\n", "line 2: negative price"),
        (DATED + "2020-01-01,1,1,1,1,-5\n", "line 2: negative volume"),
        (b",Open,High,Low,Close,Volume\n2020-01-01,1,1,1,1,1\n\xff\xfe,1\n", "line 3: not UTF-8"),
    ],
)
def test_bad_files_are_refused_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    assert message in bad(tmp_path, text)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_candles(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="is a folder"):
        load_candles(tmp_path)


@pytest.mark.parametrize(
    ("step_ms", "expected"),
    [
        (60_000, "1m"),
        (15 * 60_000, "15m"),
        (3_600_000, "1h"),
        (4 * 3_600_000, "4h"),
        (86_400_000, "1d"),
        (7 * 86_400_000, "1w"),
        (31 * 86_400_000, "1M"),
        (28 * 86_400_000, "1M"),
        (91 * 86_400_000, "3M"),
        (365 * 86_400_000, "1y"),
        (30_000, "30s"),
        (90 * 60_000, "90m"),
        (1500, ""),
    ],
)
def test_timeframe_is_inferred_from_the_median_spacing(step_ms: int, expected: str) -> None:
    ts = np.arange(10, dtype=np.int64) * step_ms
    assert infer_timeframe(ts) == expected


def test_median_spacing_ignores_weekend_gaps() -> None:
    days = np.array([0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 14], dtype=np.int64) * 86_400_000
    assert infer_timeframe(days) == "1d"
    assert infer_timeframe(days[:1]) == ""
