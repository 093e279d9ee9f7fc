"""Prometheus metrics of one system, in their own CollectorRegistry (never the global one), so that every system
(and every test) counts on its own. The names are a contract with ops/ (DESIGN.md)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ARTIFACT_TYPES", "DURATION_BUCKETS", "ENQUEUE_BUCKETS", "HTTP_BUCKETS", "RISK_GATES", "STATUSES", "Metrics"]

STATUSES = ("queued", "running", "done", "failed")
ARTIFACT_TYPES = ("run", "result", "trades_csv", "equity_csv")
# the risk gates' names (spark.engine.gates.GATE_ORDER; metrics sits below the engine, so they are listed here)
RISK_GATES = (
    "haltDrawdownPct",
    "maxDrawdownPct",
    "cooldownBars",
    "longOnly",
    "maxOrdersPerBar",
    "maxOrderNotional",
    "maxPositionNotional",
)
# 0.1 s .. 2 h; 1800 s is a bucket edge so the "p95 > 30 min" alert (ops/) can fire on a real boundary.
DURATION_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
    3600.0,
    7200.0,
)
# From a start being accepted to its run queued (audited and on disk): the SLO is < 100 ms, the target < 20 ms.
ENQUEUE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# HTTP request latency (ops/SLO.md: p95 of reads and of starts under 100 ms): 0.1 s is a bucket edge, so the
# latency SLO counts requests "under 100 ms" exactly from the _bucket{le="0.1"} series.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric the service exports, registered in ``registry`` (a fresh one unless given).

    Label values are pre-initialised to 0 so dashboards and alerts see the series before the first event.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.active_runs = Gauge("backtest_active_runs", "Runs executing now.", registry=r)
        self.runs_total = Counter("backtest_runs", "Runs that entered each status.", ["status"], registry=r)
        for status in STATUSES:
            self.runs_total.labels(status=status)
        self.duration = Histogram(
            "backtest_duration_seconds", "Time from a run starting to its end.", buckets=DURATION_BUCKETS, registry=r
        )
        self.artifacts = Counter(
            "backtest_artifacts_generated", "Evidence files created, by type.", ["type"], registry=r
        )
        for kind in ARTIFACT_TYPES:
            self.artifacts.labels(type=kind)
        self.stream_clients = Gauge("backtest_stream_clients", "Connected SSE clients.", registry=r)
        self.stream_dropped = Counter(
            "backtest_stream_dropped", "SSE clients dropped after repeated overflow.", registry=r
        )
        self.change_requests = Gauge("spark_change_requests", "Change requests by state.", ["state"], registry=r)
        self.change_decisions = Counter(
            "spark_change_decisions", "Change-request decisions, by verdict.", ["verdict"], registry=r
        )
        for verdict in ("submit", "edit", "approve", "reject", "withdraw", "expire", "refused"):
            self.change_decisions.labels(verdict=verdict)
        self.guardrail_overrides = Counter(
            "spark_guardrail_overrides",
            "Approvals over a failing gate, and live sessions from unapproved params.",
            registry=r,
        )
        self.guardrail_denials = Counter(
            "spark_guardrail_denials",
            "Orders denied by a risk gate in runs that ended done, by gate (counted when the run finishes).",
            ["gate"],
            registry=r,
        )
        for gate in RISK_GATES:
            self.guardrail_denials.labels(gate=gate)
        self.sweeps_total = Counter("backtest_sweeps", "Sweeps that entered each status.", ["status"], registry=r)
        for status in STATUSES:
            self.sweeps_total.labels(status=status)
        self.sweep_sets = Counter("backtest_sweep_sets", "Parameter sets evaluated by sweeps.", registry=r)
        self.live_sessions = Gauge("spark_live_sessions", "Live (paper trading) sessions running.", registry=r)
        self.live_corrections = Counter(
            "spark_live_corrections",
            "Exchange corrections of a live session's candles: applied (the series took the exchange's candle) or "
            "kept (a fill already made on ours could not be undone).",
            ["outcome"],
            registry=r,
        )
        for outcome in ("applied", "kept"):
            self.live_corrections.labels(outcome=outcome)
        self.enqueue_latency = Histogram(
            "backtest_enqueue_latency_seconds",
            "Time from a start request accepted to its run queued.",
            buckets=ENQUEUE_BUCKETS,
            registry=r,
        )

        self.runs_cancelled = Counter(
            "backtest_runs_cancelled",
            'Runs a user cancelled (also counted in backtest_runs_total{status="failed"}).',
            registry=r,
        )
        self.queue_depth = Gauge("backtest_queue_depth", "Runs queued, waiting for a worker slot.", registry=r)
        self.worker_slots = Gauge(
            "backtest_worker_slots", "Runs that may execute at once (Settings.max_concurrent).", registry=r
        )
        self.http_requests = Counter(
            "spark_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "spark_http_request_duration_seconds",
            "Time from a request arriving to its answer's headers (SSE streams excluded).",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        # the exchange feeds (issue 11); label values exchange/pair/type are set by the feed that uses them
        self.feed_connected = Gauge(
            "spark_feed_connected",
            "1 while a feed's socket is subscribed and streaming.",
            ["exchange", "pair"],
            registry=r,
        )
        self.feed_last_data_age = Gauge(
            "spark_feed_last_data_age_seconds",
            "Seconds since a feed's last data frame (pings are not data).",
            ["exchange", "pair"],
            registry=r,
        )
        self.feed_reconnects = Counter(
            "spark_feed_reconnects", "Connections a feed lost and made again.", ["exchange", "pair"], registry=r
        )
        self.feed_frames = Counter(
            "spark_feed_frames", "WebSocket frames received, by model type.", ["exchange", "type"], registry=r
        )
        self.feed_bad_frames = Counter(
            "spark_feed_bad_frames",
            "Frames that were not JSON or not [type, {...}], skipped.",
            ["exchange"],
            registry=r,
        )
        self.feed_reconcile_mismatches = Counter(
            "spark_feed_reconcile_mismatches",
            "Candles built from trades that differed from the exchange's klines one interval later.",
            ["exchange", "pair"],
            registry=r,
        )
        self.feed_bad_frames.labels(exchange="btcturk")

    def count_changes(self, store: Any) -> None:
        """Change requests by state, after every transition (the registry calls it)."""
        states = {}
        for request in store.requests.values():
            states[request.state] = states.get(request.state, 0) + 1
        for state in ("pending", "active", "rejected", "withdrawn", "expired", "superseded"):
            self.change_requests.labels(state=state).set(states.get(state, 0))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The current value of one sample (0.0 if absent): for tests and the CLI, not for hot paths."""
        found = self.registry.get_sample_value(name, labels or {})
        return 0.0 if found is None else found
