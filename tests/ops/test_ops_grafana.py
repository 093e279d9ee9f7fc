"""ops/grafana: the dashboard JSON Grafana imports, its provisioning, and every PromQL query parsed by promtool.

Grafana itself is not installable here, so the checks are structural; what the queries name is checked against a
real server's /metrics in test_ops_server.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from opshelp import OPS, metric_names, substitute_macros

GRAFANA = OPS / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "spark-backtest.json"
OPS_DASHBOARD = GRAFANA / "dashboards" / "spark-ops.json"
DASHBOARDS = [DASHBOARD, OPS_DASHBOARD]
TITLES = ["Active Runs", "Runs by Status", "P95 Duration", "Artifacts Generated", "Recent Runs", "Live Stream Clients"]
OPS_TITLES = [
    "Request Rate",
    "Error Ratio",
    "Latency p50 / p95 / p99 by Route",
    "SLO Budget Remaining (30 days)",
    "Burn Rate (1h)",
    "Stream Clients",
    "Queue Depth",
    "Worker Utilisation",
]
SLIS = ("availability", "read_latency", "start_latency", "run_success")
PANEL_TYPES = {"gauge", "barchart", "timeseries", "table", "stat"}
RUN_FIELDS = {
    "id",
    "status",
    "pair",
    "timeframe",
    "notes",
    "strategy",
    "params",
    "feed",
    "impl",
    "startedAt",
    "finishedAt",
    "progress",
    "error",
    "stats",
}
INFINITY = "yesoreyeram-infinity-datasource"


def _dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    return json.loads(path.read_text())


def _recorded() -> set[str]:
    """Recording rules of every rule file Prometheus loads."""
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    names = set()
    for name in config["rule_files"]:
        rules = yaml.safe_load((OPS / "prometheus" / name).read_text())
        names |= {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    return names


def _datasources() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "spark.yml").read_text())
    assert doc["apiVersion"] == 1
    uids = [ds["uid"] for ds in doc["datasources"]]
    assert len(uids) == len(set(uids)), "data-source uids must be unique"
    return {ds["uid"]: ds for ds in doc["datasources"]}


def prometheus_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every Prometheus target of the dashboard."""
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if target.get("datasource", panel["datasource"])["type"] == "prometheus":
                out.append((panel["title"], target["expr"]))
    return out


def test_dashboard_has_the_six_seed_panels_with_unique_ids() -> None:
    dash = _dashboard()
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    panels = dash["panels"]
    assert [p["title"] for p in panels] == TITLES
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
    assert {p["type"] for p in panels} <= PANEL_TYPES


def test_ops_overview_has_its_panels_with_unique_ids() -> None:
    dash = _dashboard(OPS_DASHBOARD)
    assert dash["title"] == "Spark Ops Overview" and dash["uid"] != _dashboard()["uid"]
    assert isinstance(dash["schemaVersion"], int)
    panels = dash["panels"]
    assert [p["title"] for p in panels] == OPS_TITLES
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
    assert {p["type"] for p in panels} <= PANEL_TYPES


def test_ops_overview_covers_every_slo_and_the_route_latencies() -> None:
    by_title = {title: [] for title in OPS_TITLES}
    for title, expr in prometheus_queries(_dashboard(OPS_DASHBOARD)):
        by_title[title].append(expr)
    for title in ("SLO Budget Remaining (30 days)", "Burn Rate (1h)"):
        for sli in SLIS:
            assert any(f"spark:slo_{sli}:error_budget" in e for e in by_title[title]), (title, sli)
    assert all(
        f"spark:slo_{s}:error_ratio_rate30d" in " ".join(by_title["SLO Budget Remaining (30 days)"]) for s in SLIS
    )
    latency = by_title["Latency p50 / p95 / p99 by Route"]
    assert [e.split(",")[0] for e in latency] == [f"histogram_quantile({q}" for q in ("0.5", "0.95", "0.99")]
    assert all("by (route, le)" in e and "spark_http_request_duration_seconds_bucket" in e for e in latency)
    assert "backtest_queue_depth" in " ".join(by_title["Queue Depth"])
    assert "backtest_worker_slots" in " ".join(by_title["Worker Utilisation"])
    assert "backtest_stream_clients" in " ".join(by_title["Stream Clients"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _dashboard(path)["panels"]:
        g = panel["gridPos"]
        assert all(isinstance(g[k], int) and g[k] >= 0 for k in ("x", "y", "w", "h")), panel["title"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells.get((x, y))}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_datasource_reference_is_provisioned(path: Path) -> None:
    sources = _datasources()
    for panel in _dashboard(path)["panels"]:
        refs = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
        assert panel["targets"], panel["title"]
        for ref in refs:
            assert ref["uid"] in sources, f"{panel['title']}: unknown data-source uid {ref['uid']}"
            assert sources[ref["uid"]]["type"] == ref["type"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_recent_runs_read_the_json_api_not_metric_labels() -> None:
    sources = _datasources()
    (panel,) = [p for p in _dashboard()["panels"] if p["title"] == "Recent Runs"]
    assert panel["type"] == "table"
    (target,) = panel["targets"]
    assert target["datasource"]["type"] == INFINITY
    assert target["url"] == "/api/backtest?limit=20" and target["root_selector"] == "runs"
    assert {c["selector"] for c in target["columns"]} <= RUN_FIELDS
    infinity = sources[target["datasource"]["uid"]]
    assert infinity["url"] in infinity["jsonData"]["allowedHosts"]
    for title, expr in prometheus_queries(_dashboard()):
        assert '"bt-' not in expr and not any(w in expr for w in ("id=", "id=~", "(id)", " id,", ", id)")), title


def test_dashboard_provider_is_a_file_provider_that_loads_both_dashboards() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "spark.yml").read_text())
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    # the provider loads every JSON file of the folder: both dashboards sit in it, with distinct uids
    uids = [_dashboard(path)["uid"] for path in sorted((GRAFANA / "dashboards").glob("*.json"))]
    assert len(uids) == len(set(uids)) and set(DASHBOARDS) <= set((GRAFANA / "dashboards").glob("*.json"))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_recording_rules_used_by_the_dashboard_exist(path: Path) -> None:
    recorded = _recorded()
    for title, expr in prometheus_queries(_dashboard(path)):
        for name in metric_names(substitute_macros(expr)):
            assert not name.startswith("spark:") or name in recorded, f"{title}: {name} is not recorded"


def _parse_with_promtool(promtool: str, tmp_path: Path, exprs: list[str]) -> subprocess.CompletedProcess[str]:
    rules = {
        "groups": [
            {"name": "dashboard", "rules": [{"record": f"dashboard:query:{i}", "expr": e} for i, e in enumerate(exprs)]}
        ]
    }
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules))
    return subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(("path", "count"), [(DASHBOARD, 5), (OPS_DASHBOARD, 19)], ids=["backtest", "ops"])
def test_every_query_parses_as_promql(promtool: str, tmp_path: Path, path: Path, count: int) -> None:
    queries = prometheus_queries(_dashboard(path))
    assert len(queries) == count  # backtest: every panel but Recent Runs
    done = _parse_with_promtool(promtool, tmp_path, [substitute_macros(e) for _, e in queries])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("bad", ["sum by (status (x)", "rate(x[5q])", "x{job=spark}", "rate(x[$__rate_interval])"])
def test_the_parse_check_rejects_broken_promql(promtool: str, tmp_path: Path, bad: str) -> None:
    """The check above really parses: a broken query (or an unsubstituted macro) fails it."""
    assert _parse_with_promtool(promtool, tmp_path, [bad]).returncode != 0


def test_macros_are_substituted() -> None:
    assert substitute_macros("rate(x[$__rate_interval]) + rate(y[${__interval}])") == "rate(x[1m]) + rate(y[15s])"
