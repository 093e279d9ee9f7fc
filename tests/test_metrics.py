"""Metric names are a contract with ops/: exposed, pre-initialised, per-system registries."""

from __future__ import annotations

from prometheus_client import generate_latest

from spark.metrics import DURATION_BUCKETS, Metrics


def test_the_contract_names_are_exposed_from_the_start():
    text = generate_latest(Metrics().registry).decode()
    for status in ("queued", "running", "done", "failed"):
        assert f'backtest_runs_total{{status="{status}"}} 0.0' in text
    for kind in ("run", "result", "trades_csv", "equity_csv"):
        assert f'backtest_artifacts_generated_total{{type="{kind}"}} 0.0' in text
    for name in (
        "backtest_active_runs 0.0",
        "backtest_stream_clients 0.0",
        "backtest_duration_seconds_count 0.0",
        "backtest_enqueue_latency_seconds_count 0.0",
    ):
        assert name in text


def test_duration_buckets_span_a_tenth_of_a_second_to_two_hours_with_thirty_minutes():
    assert DURATION_BUCKETS[0] == 0.1 and DURATION_BUCKETS[-1] == 7200.0 and 1800.0 in DURATION_BUCKETS
    assert list(DURATION_BUCKETS) == sorted(DURATION_BUCKETS)


def test_each_system_counts_on_its_own():
    a, b = Metrics(), Metrics()
    a.runs_total.labels(status="queued").inc()
    a.duration.observe(2000.0)
    assert a.value("backtest_runs_total", {"status": "queued"}) == 1
    assert b.value("backtest_runs_total", {"status": "queued"}) == 0
    assert a.value("backtest_duration_seconds_bucket", {"le": "1800.0"}) == 0
    assert a.value("backtest_duration_seconds_bucket", {"le": "3600.0"}) == 1
