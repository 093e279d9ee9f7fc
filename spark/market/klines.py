"""BTCTurk klines: timeframes and their resolutions, one candle as exact decimals, parsing the graph host's
TradingView-style answer (times in seconds there, milliseconds in Spark) and validating a series.

Prices and volumes stay `Decimal` from the JSON text to the CSV file: a value is never formatted through a float.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from spark.errors import DataError, ParamError

__all__ = [
    "RESOLUTIONS",
    "Kline",
    "check_timeframe",
    "find_gaps",
    "interval_ms",
    "loads_exact",
    "parse_decimal",
    "parse_klines",
    "validate_klines",
]

# Spark timeframe -> (klines `resolution`, interval ms). ccxt's map of the same endpoint (ts/src/btcturk.ts).
RESOLUTIONS: dict[str, tuple[str, int]] = {
    "1m": ("1", 60_000),
    "5m": ("5", 300_000),
    "15m": ("15", 900_000),
    "30m": ("30", 1_800_000),
    "1h": ("60", 3_600_000),
    "4h": ("240", 14_400_000),
    "1d": ("1 day", 86_400_000),
    "1w": ("1 week", 7 * 86_400_000),
}


def check_timeframe(timeframe: str, *, field: str = "timeframe") -> str:
    """The timeframe if BTCTurk serves it; ParamError naming the ones it does otherwise."""
    if timeframe not in RESOLUTIONS:
        raise ParamError(
            f"{field}: BTCTurk has no {str(timeframe)[:20]!r} candles (supported: {', '.join(RESOLUTIONS)})",
            field=field,
        )
    return timeframe


def interval_ms(timeframe: str) -> int:
    return RESOLUTIONS[check_timeframe(timeframe)][1]


@dataclass(frozen=True, slots=True)
class Kline:
    """One candle; ``ts`` its open time in epoch ms; prices and volume exactly as the exchange wrote them."""

    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def csv_row(self) -> str:
        return f"{self.ts},{self.open},{self.high},{self.low},{self.close},{self.volume}"


def parse_decimal(value: Any, what: str) -> Decimal:
    """A JSON number or decimal string as an exact Decimal (finite); DataError naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise DataError(f"{what}: not a decimal number: {str(value)[:40]!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise DataError(f"{what}: not a decimal number: {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise DataError(f"{what}: not a finite number: {value!r}")
    return number


def loads_exact(text: str | bytes) -> Any:
    """JSON with every non-integer number as a Decimal (never a float)."""
    return json.loads(text, parse_float=Decimal)


def parse_klines(doc: Any) -> list[Kline]:
    """The klines answer ``{"s":"ok","t":[s...],"o":[...],...}`` as Klines; ``"s":"no_data"`` is an empty range.

    Raises DataError on any other status, ragged columns or a value that is not a number."""
    if not isinstance(doc, dict):
        raise DataError(f"klines: expected a JSON object, got {type(doc).__name__}")
    status = doc.get("s")
    if status == "no_data":
        return []
    if status != "ok":
        raise DataError(f"klines: status {str(status)[:40]!r}: {str(doc.get('errmsg', ''))[:120]}")
    columns = [doc.get(key) for key in ("t", "o", "h", "l", "c", "v")]
    if not all(isinstance(col, list) for col in columns):
        raise DataError("klines: columns t, o, h, l, c, v must all be lists")
    if len({len(col) for col in columns}) != 1:
        raise DataError("klines: columns t, o, h, l, c, v differ in length")
    out = []
    for t, o, h, lo, c, v in zip(*columns, strict=True):
        if isinstance(t, bool) or not isinstance(t, (int, Decimal)) or int(t) != t:
            raise DataError(f"klines: time {str(t)[:40]!r} is not whole seconds")
        ts = int(t) * 1000
        out.append(
            Kline(
                ts,
                parse_decimal(o, f"klines open at {ts}"),
                parse_decimal(h, f"klines high at {ts}"),
                parse_decimal(lo, f"klines low at {ts}"),
                parse_decimal(c, f"klines close at {ts}"),
                parse_decimal(v, f"klines volume at {ts}"),
            )
        )
    return out


def validate_klines(klines: Sequence[Kline], step_ms: int) -> None:
    """Sorted (strictly increasing), on the interval's grid, OHLC consistent, volume not negative.

    Missing bars (a gap) are allowed: `find_gaps` names them. DataError naming the first bad candle otherwise."""
    previous: int | None = None
    for k in klines:
        when = f"candle at {k.ts}"
        if k.ts % step_ms:
            raise DataError(f"{when}: not on the {step_ms} ms grid (evenly spaced candles expected)")
        if previous is not None and k.ts <= previous:
            raise DataError(f"{when}: not after the candle before it ({previous}): the series is not sorted")
        if k.high < max(k.open, k.close) or k.low > min(k.open, k.close) or k.low > k.high:
            raise DataError(f"{when}: OHLC inconsistent (o={k.open} h={k.high} l={k.low} c={k.close})")
        if min(k.open, k.high, k.low, k.close) < 0 or k.volume < 0:
            raise DataError(f"{when}: negative price or volume")
        previous = k.ts


def find_gaps(timestamps: Iterable[int], step_ms: int) -> list[tuple[int, int]]:
    """(first missing ts, bars missing) for each hole in a sorted, on-grid series."""
    gaps = []
    previous: int | None = None
    for ts in timestamps:
        if previous is not None and ts - previous > step_ms:
            gaps.append((previous + step_ms, (ts - previous) // step_ms - 1))
        previous = ts
    return gaps
