"""Candles: an OHLCV series held as numpy columns, validated once, hashed once.

Columns are ``timestamp`` (int64 epoch ms) and ``open high low close volume`` (float64). Construction checks every
row and names the first bad one, so nothing downstream has to guard against NaN, disorder or impossible bars.
A Candles object is immutable (its arrays are read-only), which is what makes caching its hash safe. ``source`` is
a few words on how the columns were read (a file's format, whether its volume was absent, which close was used),
stated in every result's metadata; it is not part of the fingerprint, which covers the columns alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np

from spark.errors import DataError

__all__ = ["COLUMNS", "Candles"]

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class Candles:
    """A validated, read-only OHLCV series; build it with `from_arrays`."""

    __slots__ = ("__dict__", "_source", "close", "high", "low", "open", "symbol", "timeframe", "timestamp", "volume")

    def __init__(
        self,
        *,
        timestamp: np.ndarray,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        symbol: str = "",
        timeframe: str = "",
        source: tuple[tuple[str, str], ...] = (),
    ) -> None:
        # Private path: arrays are assumed validated, typed and read-only. Use from_arrays().
        self.timestamp, self.open, self.high, self.low = timestamp, open, high, low
        self.close, self.volume = close, volume
        self.symbol, self.timeframe = symbol, timeframe
        self._source = source

    @classmethod
    def from_arrays(
        cls,
        *,
        timestamp: Sequence | np.ndarray,
        open: Sequence | np.ndarray,
        high: Sequence | np.ndarray,
        low: Sequence | np.ndarray,
        close: Sequence | np.ndarray,
        volume: Sequence | np.ndarray | None = None,
        symbol: str = "",
        timeframe: str = "",
        source: Mapping[str, str] | None = None,
    ) -> Candles:
        """Validate and wrap columns (copied, so the caller's arrays stay theirs). ``source``: how they were read,
        as short strings (e.g. ``{"format": "yahoo", "close": "adj_close"}``).

        Raises DataError naming the first bad row (0-based) on: unequal lengths, an empty series, timestamps not
        strictly increasing, NaN/inf or negative prices, high below max(open, close) or low above min(open, close),
        negative or non-finite volume.
        """
        try:
            ts = np.array(timestamp, dtype=np.int64)
            cols = {
                name: np.array(col, dtype=np.float64)
                for name, col in (("open", open), ("high", high), ("low", low), ("close", close))
            }
            vol = np.zeros(len(ts)) if volume is None else np.array(volume, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise DataError(f"candle columns must be numeric: {exc}") from None
        cols["volume"] = vol
        n = len(ts)
        if ts.ndim != 1 or any(c.ndim != 1 or len(c) != n for c in cols.values()):
            raise DataError("candle columns must be one-dimensional and of equal length")
        if n == 0:
            raise DataError("no candles: the series is empty")
        _validate(ts, cols["open"], cols["high"], cols["low"], cols["close"], vol)
        for arr in (ts, *cols.values()):
            arr.flags.writeable = False
        notes = tuple((str(key), str(value)) for key, value in (source or {}).items())
        return cls(timestamp=ts, symbol=symbol, timeframe=timeframe, source=notes, **cols)

    def __len__(self) -> int:
        return len(self.timestamp)

    def __repr__(self) -> str:
        label = " ".join(x for x in (self.symbol, self.timeframe) if x)
        return f"<Candles {label + ' ' if label else ''}{len(self)} bars>"

    def head(self, k: int) -> Candles:
        """The first ``k`` bars, as views (no copy): what a strategy would have seen at bar k-1."""
        if not 1 <= k <= len(self):
            raise DataError(f"head({k}) outside 1..{len(self)}")
        return Candles(
            timestamp=self.timestamp[:k],
            open=self.open[:k],
            high=self.high[:k],
            low=self.low[:k],
            close=self.close[:k],
            volume=self.volume[:k],
            symbol=self.symbol,
            timeframe=self.timeframe,
            source=self._source,
        )

    @property
    def source(self) -> dict[str, str]:
        """How the columns were read (a copy: the object stays immutable); empty when nobody said."""
        return dict(self._source)

    @cached_property
    def median_spacing(self) -> float | None:
        """The median time between bars (ms), computed once per object (the annualisation basis of a series
        without a timeframe; repeated runs do not pay for it). None for a single bar."""
        if len(self.timestamp) < 2:
            return None
        return float(np.median(np.diff(self.timestamp)))

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the columns' bytes, computed once per object (repeated runs do not pay for it)."""
        digest = hashlib.sha256()
        for name in COLUMNS:
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return digest.hexdigest()


def _validate(ts: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
    def first(bad: np.ndarray, what: str) -> None:
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"row {row}: {what} (timestamp {int(ts[row])})")

    # column by column: no stacked copy of the prices (a million bars stay cheap to check)
    first(~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)), "price is NaN or infinite")
    first((o < 0) | (h < 0) | (lo < 0) | (c < 0), "negative price")
    first(~np.isfinite(v) | (v < 0), "volume is negative, NaN or infinite")
    if len(ts) > 1:
        bad = np.zeros(len(ts), dtype=bool)
        bad[1:] = ts[1:] <= ts[:-1]
        first(bad, "timestamp not strictly increasing")
    first(h < np.maximum(o, c), "high below max(open, close)")
    first(lo > np.minimum(o, c), "low above min(open, close)")
