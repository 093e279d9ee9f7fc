"""The deflated Sharpe ratio (Bailey & López de Prado 2014): the probability that a strategy's true Sharpe ratio
is above what the best of N unskilled trials would show by luck, given the returns' length, skew and kurtosis.

    SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))        g: Euler-Mascheroni constant
    DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurtosis - 1) / 4 * SR^2))

SR is the chosen set's per-bar (not annualised) Sharpe ratio, V the variance of the per-bar Sharpe ratios of the
trials, N the number of distinct parameter sets tried, T the number of returns, kurtosis the plain (not excess)
one. With N = 1 there is no selection to deflate for: SR0 = 0 and the DSR is the probabilistic Sharpe ratio.
Formula and sources: docs/research.md.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["EULER_GAMMA", "deflated_sharpe", "moments"]

EULER_GAMMA = 0.5772156649015329
_Z = NormalDist()


def moments(returns: np.ndarray) -> tuple[float, float, float]:
    """Per-bar Sharpe ratio (mean / sample std), skewness and plain kurtosis of ``returns``."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return math.nan, math.nan, math.nan
    mean = float(r.mean())
    dev = r - mean
    var = float((dev**2).mean())
    std = float(r.std(ddof=1))
    if var <= 0 or std <= 0:
        return math.nan, math.nan, math.nan
    skew = float((dev**3).mean()) / var**1.5
    kurt = float((dev**4).mean()) / var**2
    return mean / std, skew, kurt


def deflated_sharpe(
    sharpe: float, *, trials: int, variance: float, bars: int, skew: float, kurtosis: float
) -> dict[str, Any]:
    """The DSR and its parts (``value`` is None when it is undefined: too few bars, a flat curve)."""
    out: dict[str, Any] = {
        "value": None,
        "sharpe": sharpe,
        "benchmark": None,
        "trials": int(trials),
        "variance": variance,
        "bars": int(bars),
        "skew": skew,
        "kurtosis": kurtosis,
    }
    if trials < 1 or bars < 2 or not all(math.isfinite(x) for x in (sharpe, skew, kurtosis)):
        return out
    v = variance if math.isfinite(variance) and variance > 0 else 0.0
    if trials == 1 or v == 0.0:
        sr0 = 0.0
    else:
        n = float(trials)
        sr0 = math.sqrt(v) * (
            (1 - EULER_GAMMA) * _Z.inv_cdf(1 - 1 / n) + EULER_GAMMA * _Z.inv_cdf(1 - 1 / (n * math.e))
        )
    denom = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    out["benchmark"] = sr0
    if denom <= 0:
        return out
    out["value"] = _Z.cdf((sharpe - sr0) * math.sqrt(bars - 1) / math.sqrt(denom))
    return out
