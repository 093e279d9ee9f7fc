"""CSV loading speed: `spark.load_candles` on 1,000,000 rows of each layout (epoch ms, a pandas date index, a Yahoo
export read adjusted, a ';' file with decimal commas and no volume), beside a reference that only parses the same
file's numbers with `np.loadtxt` (no header check, no dates, no validation): the floor for a numpy-based reader.
Prints times, rows/s and the ratio; asserts nothing (a benchmark, not a test)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import spark

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000


def write_files(folder: Path, n: int) -> tuple[Path, Path, Path, Path]:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.r_[close[0], close[:-1]]
    high, low = np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999
    volume = rng.integers(1, 1000, n).astype(float)
    ts = 1_509_836_520_000 + 60_000 * np.arange(n)
    table = np.column_stack([open_, high, low, close, volume])
    epoch, dated = folder / "epoch.csv", folder / "dated.csv"
    np.savetxt(
        epoch,
        np.column_stack([ts, table]),
        fmt=["%d"] + ["%.8g"] * 5,
        delimiter=",",
        header="timestamp,open,high,low,close,volume",
        comments="",
    )
    dates = np.datetime_as_string(ts.astype("datetime64[ms]").astype("datetime64[s]"))
    with dated.open("w") as fh:
        fh.write(",Open,High,Low,Close,Volume\n")
        fh.writelines(
            f"{d.replace('T', ' ')},{o:.8g},{h:.8g},{lo:.8g},{c:.8g},{v:.8g}\n"
            for d, (o, h, lo, c, v) in zip(dates, table, strict=True)
        )
    yahoo, semicolon = folder / "yahoo.csv", folder / "semicolon.csv"
    with yahoo.open("w") as fh:
        fh.write("Date,Open,High,Low,Close,Adj Close,Volume\n")
        fh.writelines(
            f"{d.replace('T', ' ')},{o:.8g},{h:.8g},{lo:.8g},{c:.8g},{c * 0.97:.8g},{v:.8g}\n"
            for d, (o, h, lo, c, v) in zip(dates, table, strict=True)
        )
    with semicolon.open("w") as fh:
        fh.write("Date;Open;High;Low;Close\n")
        fh.writelines(
            f"{d.replace('T', ' ')};{o:.8g};{h:.8g};{lo:.8g};{c:.8g}\n".replace(".", ",")
            for d, (o, h, lo, c, v) in zip(dates, table, strict=True)
        )
    return epoch, dated, yahoo, semicolon


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        epoch, dated, yahoo, semicolon = write_files(Path(tmp), ROWS)
        print(f"{ROWS:,} rows; best of 3")
        cases = (
            ("epoch ms        ", epoch, ",", (0, 1, 2, 3, 4, 5), False),
            ("date index      ", dated, ",", (1, 2, 3, 4, 5), False),
            ("yahoo, adjusted ", yahoo, ",", (1, 2, 3, 4, 5, 6), True),
            ("';', no volume  ", semicolon, ";", (1, 2, 3, 4), False),
        )
        for label, path, sep, cols, adjusted in cases:
            assert len(spark.load_candles(path, adjusted=adjusted)) == ROWS
            ours = best_of(lambda p=path, a=adjusted: spark.load_candles(p, adjusted=a))
            # the reference reads the ';' file's numbers with decimal points (loadtxt knows no decimal comma)
            ref_path = dated if sep == ";" else path
            ref = best_of(lambda p=ref_path, c=cols: np.loadtxt(p, delimiter=",", skiprows=1, usecols=c))
            print(
                f"{label}: spark.load_candles {ours:6.3f} s ({ROWS / ours / 1e6:5.2f} M rows/s)   "
                f"np.loadtxt numbers only {ref:6.3f} s   ratio {ours / ref:4.2f}x"
            )


if __name__ == "__main__":
    main()
