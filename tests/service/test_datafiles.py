import io
from pathlib import Path

import numpy as np
import pytest

from spark.errors import DataError
from spark.service.datafiles import infer_timeframe, load_candles, read_layout

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


def goog_rows(data_dir: Path) -> list[list[str]]:
    return [line.split(",") for line in (data_dir / "GOOG.csv").read_text().splitlines()[1:]]


def as_yahoo(rows: list[list[str]], factor: float = 0.5) -> str:
    """GOOG written the way Yahoo exports it, with an Adj Close of ``factor`` times the close."""
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    lines += [f"{d},{o},{h},{lo},{c},{float(c) * factor!r},{v}" for d, o, h, lo, c, v in rows]
    return "\n".join(lines) + "\n"


def test_yahoo_export_reads_the_close_unless_adjusted(tmp_path: Path, data_dir: Path) -> None:
    goog = load_candles(data_dir / "GOOG.csv")
    path = tmp_path / "GOOG.csv"
    path.write_text(as_yahoo(goog_rows(data_dir)))
    plain = load_candles(path)
    assert plain.fingerprint == goog.fingerprint  # Adj Close ignored: the same candles as the pandas file
    assert plain.source == {
        "file": "GOOG.csv",
        "format": "yahoo",
        "delimiter": ",",
        "volume": "present",
        "close": "close",
    }
    adjusted = load_candles(path, adjusted=True)
    assert adjusted.source["close"] == "adj_close" and adjusted.fingerprint != goog.fingerprint
    assert np.array_equal(adjusted.close, goog.close * 0.5)
    for column in ("open", "high", "low"):  # scaled by the same factor, bar by bar
        assert np.allclose(getattr(adjusted, column), getattr(goog, column) * 0.5, rtol=1e-15, atol=0)
    assert np.array_equal(adjusted.volume, goog.volume) and np.array_equal(adjusted.timestamp, goog.timestamp)


def test_adjusting_keeps_every_bar_possible_whatever_the_rounding(tmp_path: Path) -> None:
    # Adj Close rounded by the exporter: close * (adj / close) need not equal adj, so high may fall below it.
    path = tmp_path / "round.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-01,3,3.3,2.9,3.3,0.1,5\n"
        "2020-01-02,3.3,3.3,0.7,0.7,0.7,1\n2020-01-03,0,0,0,0,0,0\n"
    )
    c = load_candles(path, adjusted=True)
    assert c.close.tolist() == [0.1, 0.7, 0.0]
    assert np.all(c.high >= np.maximum(c.open, c.close)) and np.all(c.low <= np.minimum(c.open, c.close))
    assert c.open[2] == 0.0  # a zero close scales nothing


def test_adjusted_needs_an_adj_close_column(data_dir: Path) -> None:
    with pytest.raises(DataError, match="GOOG.csv: adjusted needs an 'Adj Close' column"):
        load_candles(data_dir / "GOOG.csv", adjusted=True)


def test_lower_case_dated_header_reads_like_the_capitalised_one(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "goog.csv"
    rows = goog_rows(data_dir)
    path.write_text("date,open,high,low,close,volume\n" + "".join(",".join(r) + "\n" for r in rows))
    c = load_candles(path)
    assert c.fingerprint == load_candles(data_dir / "GOOG.csv").fingerprint
    assert (c.symbol, c.timeframe, c.source["format"]) == ("goog", "1d", "date")


def test_a_file_without_volume_reads_volume_zero_and_says_so(tmp_path: Path, data_dir: Path) -> None:
    rows = goog_rows(data_dir)
    path = tmp_path / "novol.csv"
    path.write_text("Date,Open,High,Low,Close\n" + "".join(",".join(r[:5]) + "\n" for r in rows))
    c = load_candles(path)
    goog = load_candles(data_dir / "GOOG.csv")
    assert len(c) == len(goog) and not c.volume.any() and np.array_equal(c.close, goog.close)
    assert c.source["volume"] == "absent"
    epoch = tmp_path / "epoch.csv"
    epoch.write_text("timestamp,open,high,low,close\n1509836520000,1,2,0.5,1.5\n1509836580000,1.5,2,1,1\n")
    assert load_candles(epoch).source == {
        "file": "epoch.csv",
        "format": "epoch_ms",
        "delimiter": ",",
        "volume": "absent",
        "close": "close",
    }
    assert goog.source["volume"] == "present"


def test_semicolon_separated_with_decimal_commas(tmp_path: Path, data_dir: Path) -> None:
    rows = goog_rows(data_dir)
    path = tmp_path / "excel.csv"
    path.write_text(
        "Date;Open;High;Low;Close;Volume\r\n" + "".join(";".join(r).replace(".", ",") + "\r\n" for r in rows)
    )
    c = load_candles(path)
    assert c.fingerprint == load_candles(data_dir / "GOOG.csv").fingerprint
    assert c.source["delimiter"] == ";"
    dots = tmp_path / "dots.csv"
    dots.write_text("timestamp;open;high;low;close;volume\n1509836520000;1.5;2;0.5;1.5;10\n")
    assert load_candles(dots).close.tolist() == [1.5]


def test_columns_in_any_order_and_any_case(tmp_path: Path) -> None:
    path = tmp_path / "order.csv"
    path.write_text(
        "DATETIME,volume,CLOSE,Low,high,Open\n2020-01-01 00:00,7,1.5,0.5,2,1\n2020-01-01 00:15,8,1,1,2,1.5\n"
    )
    c = load_candles(path)
    assert [c.open[0], c.high[0], c.low[0], c.close[0], c.volume[0]] == [1, 2, 0.5, 1.5, 7]
    assert c.timeframe == "15m" and c.source["format"] == "date"


def test_read_layout_reads_the_header_alone(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "y.csv"
    path.write_text(as_yahoo(goog_rows(data_dir)[:3]))
    layout = read_layout(path)
    assert (layout.format, layout.has_adj_close, layout.has_volume) == ("yahoo", True, True)
    assert read_layout(data_dir / "GOOG.csv").has_adj_close is False
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: empty file"):
        read_layout(tmp_path / "empty.csv")
    (tmp_path / "junk.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="junk.csv line 1: unsupported header"):
        read_layout(tmp_path / "junk.csv")


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
        ("a;b;c\n", "line 1: unsupported header"),
        ("Open,High,Low,Close,Volume\n1,1,1,1,1\n", "the first column 'Open' is not a time column"),
        ("time,open,high,low,close\n1,1,1,1,1\n", "the first column 'time' is not a time column"),
        ("Date,Open,High,Low,Close,Price\n", "unknown column 'Price'"),
        ("Date,Open,High,Low,Volume\n", "no close column"),
        ("Date,Open,High,Low\n", "no close column"),
        ("Date,Open,High,Low,Close,Close\n", "column 'Close' appears twice"),
        ("Date,Open,High,Low,Close,Adj Close,adj_close\n", "column 'adj_close' appears twice"),
        ("Date\tOpen\tHigh\tLow\tClose\n", "line 1: unsupported header"),
        ("Date;Open,High;Low;Close\n", "unknown column 'Open,High'"),
        ("Timestamp,Open,High,Low,Close,Volume\n1,1,1,1,1,1\n", "line 2: timestamp '1' is not whole epoch"),
        ("Date;Open;High;Low;Close\n2020-01-01;1;1;1\n", "line 2: 4 fields, expected 5"),
        ("Date;Open;High;Low;Close\n2020-01-01;1;1;1;x\n", "line 2: 'x' is not a number (column Close)"),
        ("Date;Open;High;Low;Close\n2020-01-01;1.000,5;1;1;1\n", "line 2: '1.000.5' is not a number"),
        (",Open,High,Low,Close\n2020-01-01,1,1,1,1,1\n", "line 2: 6 fields, expected 5"),
        ("Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-01,1,1,1,1,-1,1\n", "line 2: negative price"),
        ("Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-01,1,1,1,1,null,1\n", "'null' is not a number"),
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


def test_the_readme_csv_examples_read_as_described(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("So these all read:\n\n```\n", 1)[1].split("```", 1)[0]
    examples = [chunk for chunk in block.split("\n\n") if chunk.strip()]
    formats = []
    for i, chunk in enumerate(examples):
        path = tmp_path / f"readme{i}.csv"
        path.write_text("".join(line.split("  #", 1)[0].rstrip() + "\n" for line in chunk.splitlines()))
        c = load_candles(path)
        formats.append((c.source["format"], c.source["delimiter"], c.source["volume"]))
    assert formats == [
        ("date", ",", "present"),
        ("yahoo", ",", "present"),
        ("date", ",", "present"),
        ("epoch_ms", ",", "absent"),
        ("date", ";", "present"),
    ]
