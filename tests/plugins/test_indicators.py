import numpy as np
import pytest
from spark_plugins.indicators import crossed_above, crossed_below, rolling_std, sma, smas, wilder_rsi


def test_sma_by_hand() -> None:
    out = sma(np.array([1.0, 2, 3, 4, 5]), 2)
    assert np.isnan(out[0]) and out[1:].tolist() == [1.5, 2.5, 3.5, 4.5]
    assert np.isnan(sma(np.array([1.0, 2]), 3)).all()


def test_sma_matches_a_plain_window_mean_on_real_data(goog_close: np.ndarray) -> None:
    windows = np.lib.stride_tricks.sliding_window_view(goog_close, 30).mean(axis=1)
    np.testing.assert_allclose(sma(goog_close, 30)[29:], windows, rtol=1e-12)


def test_smas_are_the_cumulative_sum_differences_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    for x in (rng.normal(size=2000).cumsum() + 100.0, rng.integers(0, 1000, 777), np.array([4.0]), np.zeros(0)):
        c = np.cumsum(x, dtype=np.float64)
        for windows in ((1,), (2, 5), (10, 30, 500), (1000, 3), (5, 5)):
            for n, got in zip(windows, smas(x, *windows), strict=True):
                want = np.full(len(x), np.nan)
                if n <= len(x):
                    want[n - 1] = c[n - 1] / n
                    want[n:] = (c[n:] - c[:-n]) / n
                assert np.array_equal(got, want, equal_nan=True), (len(x), n)
                assert np.array_equal(got, sma(x, n), equal_nan=True)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="whole numbers of bars"):
            smas(np.ones(10), 5, bad)


def test_crosses_are_strict_a_touch_is_not_a_cross() -> None:
    a = np.array([1.0, 2, 3, 3, 4, 2, 1])
    b = np.array([2.0, 2, 2, 3, 3, 3, 1])
    # t=1: 2 == 2 touch (not below before, not above now); t=2: prev 2 == 2 not strictly below -> no cross
    assert crossed_above(a, b).tolist() == [False, False, False, False, False, False, False]
    assert crossed_below(a, b).tolist() == [False, False, False, False, False, True, False]
    c = np.array([1.0, 3, 1, 3])
    d = np.array([2.0, 2, 2, 2])
    assert crossed_above(c, d).tolist() == [False, True, False, True]
    assert crossed_below(c, d).tolist() == [False, False, True, False]


def test_wilder_rsi_by_hand() -> None:
    # changes +1 +1 -1 -1 +1; period 2: averages (1, 0) -> (0.5, 0.5) -> (0.25, 0.75) -> (0.625, 0.375)
    rsi = wilder_rsi(np.array([10.0, 11, 12, 11, 10, 11]), 2)
    assert np.isnan(rsi[:2]).all()
    np.testing.assert_allclose(rsi[2:], [100.0, 50.0, 25.0, 62.5])
    assert wilder_rsi(np.full(5, 3.0), 2)[2:].tolist() == [50.0, 50.0, 50.0]
    assert np.isnan(wilder_rsi(np.array([1.0, 2.0]), 2)).all()


@pytest.mark.parametrize("n", [2, 5, 20])
def test_rolling_std_matches_numpy(goog_close: np.ndarray, n: int) -> None:
    expected = np.lib.stride_tricks.sliding_window_view(goog_close, n).std(axis=1)
    out = rolling_std(goog_close, n)
    assert np.isnan(out[: n - 1]).all()
    np.testing.assert_allclose(out[n - 1 :], expected, rtol=1e-9, atol=1e-12)
    assert rolling_std(np.array([1.0, 2, 3, 4]), 2)[1:].tolist() == [0.5, 0.5, 0.5]


def test_crosses_equal_the_numpy_comparisons_with_nans_ties_and_integers() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        a, b = rng.normal(size=500), rng.normal(size=500)
        a[rng.integers(0, 500, 25)] = np.nan
        a[::9] = b[::9]  # ties never cross
        for x, y in ((a, b), (rng.integers(0, 4, 500), rng.integers(0, 4, 500))):
            want = np.zeros(len(x), dtype=bool)
            want[1:] = (x[:-1] < y[:-1]) & (x[1:] > y[1:])
            assert np.array_equal(crossed_above(x, y), want)
            assert np.array_equal(crossed_below(y, x), want)
    assert crossed_above(np.array([]), np.array([])).tolist() == []
    with pytest.raises(ValueError, match="one length"):
        crossed_above(np.zeros(3), np.zeros(4))
