"""The OpenAPI paths of a run's report: equity and price windows, trades, monthly returns and the artifact files."""

from __future__ import annotations

from typing import Any

from spark.api.openapi_parts import RUN_ID as _RUN_ID
from spark.api.openapi_parts import errors as _errors
from spark.api.openapi_parts import get as _get
from spark.api.openapi_parts import ok as _ok
from spark.api.openapi_parts import query
from spark.service.curves import DEFAULT_POINTS, MAX_POINTS, MIN_POINTS
from spark.service.report import MAX_TRADES_PAGE, TRADE_SORTS

__all__ = ["report_paths"]


def report_paths() -> dict[str, Any]:
    """``/api/backtest/{run_id}/...`` read routes of the report view."""
    points = {
        "name": "points",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": MIN_POINTS, "maximum": MAX_POINTS, "default": DEFAULT_POINTS},
    }
    series = {"type": "array", "items": {"type": "number"}}
    nullable_series = {"type": "array", "items": {"type": "number", "nullable": True}}
    window = [
        query("from", {"type": "integer", "minimum": -(10**15), "maximum": 10**15}, "window start, epoch ms"),
        query("to", {"type": "integer", "minimum": -(10**15), "maximum": 10**15}, "window end, epoch ms (inclusive)"),
    ]
    return {
        "/api/backtest/{run_id}/equity": _get(
            "Equity and drawdown, cut down on the server to at most `points` points, extremes kept",
            _ok(
                "the curve",
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "points": {"type": "integer"},
                        "total": {"type": "integer"},
                        "timestamp": series,
                        "equity": series,
                        "drawdownPct": series,
                        "benchmark": series,
                    },
                },
            ),
            [_RUN_ID, points, *window],
        ),
        "/api/backtest/{run_id}/ohlc": _get(
            "Candles of the run's data (read again) in a window, OHLC buckets keeping the extremes, with the "
            "strategy's indicator lines and the trade markers; 409 when the data changed since the run",
            {
                **_ok(
                    "the price pane",
                    {
                        "type": "object",
                        "properties": {
                            "total": {"type": "integer"},
                            **{name: series for name in ("timestamp", "open", "high", "low", "close", "volume")},
                            "indicators": {"type": "object", "additionalProperties": nullable_series},
                            "plots": {"type": "array", "items": {"type": "object"}},
                            "markers": {"type": "array", "items": {"type": "object"}},
                            "markersTotal": {"type": "integer"},
                            "precision": {"type": "integer"},
                        },
                    },
                ),
                **_errors(409),
            },
            [_RUN_ID, points, *window],
        ),
        "/api/backtest/{run_id}/trades": _get(
            "One sorted page of the run's trades, with return % and duration",
            _ok(
                "trades",
                {
                    "type": "object",
                    "properties": {
                        "total": {"type": "integer"},
                        "trades": {"type": "array", "items": {"type": "object"}},
                    },
                },
            ),
            [
                _RUN_ID,
                query("sort", {"type": "string", "enum": [*TRADE_SORTS, *(f"-{f}" for f in TRADE_SORTS)]}, "order"),
                query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_TRADES_PAGE, "default": 100}, "page"),
                query("offset", {"type": "integer", "minimum": 0, "maximum": 100_000_000, "default": 0}, "skip"),
            ],
        ),
        "/api/backtest/{run_id}/monthly": _get(
            "Returns per calendar month and year (UTC), in percent",
            _ok(
                "returns",
                {
                    "type": "object",
                    "properties": {
                        "months": {"type": "array", "items": {"type": "object"}},
                        "years": {"type": "array", "items": {"type": "object"}},
                    },
                },
            ),
            [_RUN_ID],
        ),
        "/api/backtest/{run_id}/artifacts": _get(
            "The run's files",
            _ok(
                "artifacts",
                {
                    "type": "object",
                    "properties": {
                        "artifacts": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "type": {"type": "string", "enum": ["run", "result", "trades_csv", "equity_csv"]},
                                    "name": {"type": "string"},
                                    "url": {"type": "string"},
                                    "bytes": {"type": "integer"},
                                },
                            },
                        }
                    },
                },
            ),
            [_RUN_ID],
        ),
        "/api/backtest/{run_id}/artifacts/{name}": _get(
            "One artifact file",
            {
                "200": {
                    "description": "the file",
                    "content": {"application/json": {"schema": {}}, "text/csv": {"schema": {"type": "string"}}},
                }
            },
            [_RUN_ID, {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
        ),
    }
