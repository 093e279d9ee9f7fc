"""One frozen Settings object: environment beats ./spark.toml beats defaults.

Built per system (never a module-level singleton) so tests build their own; SIGHUP builds a new one.
Every knob the service has lives here: limits, queue size, heartbeat, mock delay, folders, flags.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from spark.errors import InputError

__all__ = ["Settings", "changed_settings", "load_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4001
    admin_token: str = ""  # ADMIN_TOKEN; empty: mutations answer 500 saying so
    admin_enabled: bool = False  # ADMIN_ENABLED: the dashboard enables mutation buttons
    impl: str = "engine"  # BACKTEST_IMPL: engine | mock
    disabled_plugins: tuple[str, ...] = ()  # SPARK_DISABLED_PLUGINS=write,... or [plugins] disabled = [...]
    evidence_dir: Path = Path("evidence")  # SPARK_EVIDENCE_DIR
    log_dir: Path = Path("logs")  # SPARK_LOG_DIR
    data_dir: Path = Path("data")  # SPARK_DATA_DIR: the only folder an API file feed may read
    state_dir: Path = Path(".spark")  # SPARK_STATE_DIR: the server's pid file (one server per state dir)
    queue_size: int = 100  # runs waiting; over it a start answers 503
    max_concurrent: int = field(default_factory=lambda: os.cpu_count() or 1)
    rate_limit_per_minute: int = 10  # starts per client IP per minute (the "starts" bucket)
    mutation_rate_limit_per_minute: int = 60  # other mutations (uploads, ...) per client IP per minute
    rate_limit_max_ips: int = 10_000  # memory bound on tracked IPs
    trusted_proxies: int = 0  # X-Forwarded-For hops to trust; 0 ignores the header
    heartbeat_s: float = 15.0
    sse_max_clients: int = 1000
    sse_ring_size: int = 1000
    sse_retry_ms: int = 3000
    mock_delay_s: float = 3.5  # BACKTEST_IMPL=mock finishes a run after this long
    max_body_bytes: int = 65536
    # promotion gates of change requests (issue 12) and the four-eyes rule
    gate_min_trades: int = 30
    gate_max_drawdown_pct: float = 25.0
    gate_min_oos_sharpe: float = 0.5
    gate_min_deflated_sharpe: float = 0.95
    gate_max_degradation: float = 0.5
    gate_max_params: int = 10
    change_ttl_days: float = 7.0  # a pending change request expires after this
    approvals_required: int = 1  # approvers (never the requester); a failing gate needs two with override reasons
    users_file: str = ""  # SPARK_USERS_FILE; empty: <state dir>/users.toml (spark users add|list|disable|rotate)
    max_upload_bytes: int = 50 * 1024 * 1024  # the body limit of POST /api/data (a CSV file)
    retention_days: float = 0.0  # ended runs older than this are deleted (audited, user "retention"); 0: off
    retention_check_s: float = 86_400.0  # how often retention looks (the first look a minute after start-up)
    # live sessions (paper trading, issue 11): the replay exchange, the bound on a session's series, sessions at once
    live_exchange: str = "replay"  # the exchange of a live start body that names none
    replay_speed: float = 60.0  # the replay exchange plays its file this many times faster than real time
    replay_lead_bars: int = 200  # its clock starts this many rows into the file: history to warm up on
    live_max_bars: int = 100_000  # a session's series (warm-up + live) at most: each candle re-runs the engine on it
    live_max_sessions: int = 20  # running live sessions at once; over it a start answers 503
    live_warmup_bars: int = 0  # warm-up candles when the start body names none; 0: the largest int parameter
    # risk gates (issue 12) of every run that gives no options.gates: their wire form as JSON text (SPARK_RISK_GATES,
    # or a [spark.risk_gates] table in spark.toml), e.g. '{"maxOrderNotional": 1000, "haltDrawdownPct": 30}'
    risk_gates: str = ""
    # market data (issue 11): BTCTurk base URLs are bare hosts (the client appends /api/v2/... and /v1/klines/...)
    btcturk_rest_url: str = "https://api.btcturk.com"  # SPARK_BTCTURK_REST_URL
    btcturk_graph_url: str = "https://graph-api.btcturk.com"  # SPARK_BTCTURK_GRAPH_URL: klines history
    btcturk_ws_url: str = "wss://ws-feed-pro.btcturk.com"  # SPARK_BTCTURK_WS_URL
    market_data_enabled: bool = False  # the btcturk feed over the API (a backtest may then call the exchange)
    market_rest_timeout_s: float = 10.0  # one REST request, connect to last byte
    market_rest_retries: int = 4  # a 5xx or a transport error is retried this many times, with backoff
    market_rest_backoff_s: float = 1.0  # the first retry's wait; doubles (jittered) up to market_rest_backoff_max_s
    market_rest_backoff_max_s: float = 30.0
    market_retry_after_max_s: float = 600.0  # a 429's Retry-After is honoured up to this (longer: the call fails)
    market_graph_limit: int = (
        600  # requests to the graph host (klines) per market_graph_period_s (published: 600/10 min)
    )
    market_graph_period_s: float = 600.0
    market_api_limit: int = 90  # requests to the REST host (trades) per market_api_period_s (published: 90/min)
    market_api_period_s: float = 60.0
    market_klines_page: int = 500  # candles asked for per klines request when paging history
    feed_stale_s: float = 60.0  # no data frame for this long while subscribed: reconnect (pings are not data)
    feed_first_data_s: float = 20.0  # no 421 snapshot this long after the ack: the pair is unknown, the feed fails
    feed_connect_timeout_s: float = 10.0  # TCP + TLS + WebSocket handshake + welcome
    feed_backoff_s: float = 4.0  # the first reconnect waits at least this (15 connections a minute at most)
    feed_backoff_max_s: float = 30.0  # the jittered exponential backoff's cap
    feed_connects_per_window: int = 15  # connection attempts at most per feed_connect_window_s (the exchange's rule)
    feed_connect_window_s: float = 60.0
    feed_poll_s: float = 5.0  # while the socket is down, poll REST klines this often (state rest_fallback)
    feed_reconcile_grace_s: float = 5.0  # a closed candle is checked against klines one interval + this later
    feed_close_grace_ms: int = 2000  # a forming candle is closed this long after its end (late trades get in)
    # the fake exchange (spark dev fake-exchange, tests): its timings, scaled down by the tests
    fake_ping_interval_s: float = 15.0  # it pings every this many seconds, as the real one does
    fake_no_pong_close_s: float = 45.0  # scenario no_pong: it closes with 1000 this long after connecting
    fake_trade_interval_s: float = 1.0  # one 422 trade every this many seconds
    fake_stall_after_s: float = 3.0  # scenario stall: data stops this long after the snapshot, socket open

    @property
    def audit_dir(self) -> Path:
        return self.log_dir / "audit"

    @property
    def write_enabled(self) -> bool:
        return "write" not in self.disabled_plugins


# env var -> field name; SPARK_<FIELD> works for every field too.
_ENV_ALIASES = {
    "ADMIN_TOKEN": "admin_token",
    "ADMIN_ENABLED": "admin_enabled",
    "BACKTEST_IMPL": "impl",
    "SPARK_DISABLED_PLUGINS": "disabled_plugins",
    "SPARK_EVIDENCE_DIR": "evidence_dir",
    "SPARK_LOG_DIR": "log_dir",
    "SPARK_DATA_DIR": "data_dir",
    "SPARK_STATE_DIR": "state_dir",
}
_IMPLS = ("engine", "mock")


def load_settings(
    env: Mapping[str, str] | None = None, toml_path: Path | None = Path("spark.toml"), **overrides: Any
) -> Settings:
    """Defaults, then ``toml_path`` (if it exists), then ``env``, then keyword ``overrides`` (tests, CLI flags).

    Raises InputError with the offending key on a bad value, so a typo stops start-up instead of being ignored.
    """
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if toml_path is not None and toml_path.is_file():
        try:
            doc = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{toml_path}: {exc}") from None
        section = dict(doc.get("spark", {}))
        if "plugins" in doc and "disabled" in doc["plugins"]:
            section["disabled_plugins"] = doc["plugins"]["disabled"]
        raw.update(section)
    names = {f.name for f in fields(Settings)}
    for key, value in env.items():
        name = _ENV_ALIASES.get(key)
        if name is None and key.startswith("SPARK_") and key[6:].lower() in names:
            name = key[6:].lower()
        if name is not None:
            raw[name] = value
    raw.update(overrides)
    return _build(raw)


def _build(raw: Mapping[str, Any]) -> Settings:
    defaults = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name not in raw:
            continue
        value = raw[f.name]
        if f.name == "risk_gates":
            value = _json_object(f.name, value)
        values[f.name] = _coerce(f.name, value, getattr(defaults, f.name))
    settings = replace(defaults, **values)
    if settings.impl not in _IMPLS:
        raise InputError(f"BACKTEST_IMPL must be one of {', '.join(_IMPLS)}, got {settings.impl!r}", field="impl")
    for name in (
        "port",
        "queue_size",
        "max_concurrent",
        "rate_limit_per_minute",
        "mutation_rate_limit_per_minute",
        "max_upload_bytes",
        "sse_max_clients",
        "sse_ring_size",
        "max_body_bytes",
        "rate_limit_max_ips",
        "live_max_bars",
        "live_max_sessions",
        "market_klines_page",
        "market_graph_limit",
        "market_api_limit",
        "feed_connects_per_window",
    ):
        minimum = 0 if name == "port" else 1
        if getattr(settings, name) < minimum:
            raise InputError(f"setting {name} must be >= {minimum}", field=name)
    for f in fields(Settings):  # market, feed and fake-exchange timings: a zero would spin or never wait
        timing = f.name.startswith(("market_", "feed_", "fake_")) and f.name.endswith("_s")
        if timing and getattr(settings, f.name) <= 0:
            raise InputError(f"setting {f.name} must be > 0", field=f.name)
    return settings


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(sorted({str(x).strip() for x in items if str(x).strip()}))
        if isinstance(default, Path):
            return Path(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"setting {name}: {exc}", field=name) from None


def _json_object(name: str, value: Any) -> str:
    """A setting holding a JSON object (a TOML table or JSON text) as canonical JSON text ("" when empty). What the
    object means is checked where it is used (the gates: `spark.engine.gates.Gates.from_wire`)."""
    if isinstance(value, str):
        if not value.strip():
            return ""
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InputError(f"setting {name} must be a JSON object: {exc}", field=name) from None
    if not isinstance(value, Mapping):
        raise InputError(f"setting {name} must be a JSON object, got {type(value).__name__}", field=name)
    return json.dumps(dict(value), sort_keys=True) if value else ""


def changed_settings(old: Settings, new: Settings) -> list[tuple[str, Any, Any]]:
    """(name, old, new) of each setting that differs (what a reload changed); the admin token is never shown."""
    out = []
    for f in fields(Settings):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            out.append((f.name, "***", "***") if f.name == "admin_token" else (f.name, a, b))
    return out
