"""Operations against a real `spark serve` process (BACKTEST_IMPL=mock, temporary folders, ADMIN_TOKEN set):

- /metrics passes `promtool check metrics` and exports every metric the rules and the dashboard name, with the
  histogram buckets the alert tests rely on;
- `spark loadtest sse` with 20 clients meets the seed's SLO;
- the runbook's ```sh blocks, extracted from ops/RUNBOOK.md, run end to end (rollback by SIGHUP, backup, restore,
  audit review, switch back on).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import yaml
from opshelp import ADMIN_TOKEN, OPS, SparkServer, clean_env, metric_names, substitute_macros
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow
CONTRACT = {
    "backtest_active_runs",
    "backtest_runs_total",
    "backtest_duration_seconds_bucket",
    "backtest_artifacts_generated_total",
    "backtest_stream_clients",
    "backtest_enqueue_latency_seconds_bucket",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkServer]:
    running = SparkServer(tmp_path_factory.mktemp("spark"))
    try:
        yield running
    finally:
        running.stop()


def _exported(text: str) -> tuple[set[str], dict[str, set[str]]]:
    """Sample names, and each histogram's ``le`` values. A labelled family with no series yet (a feed's metrics
    before any live session opens one: their labels are the exchange and pair) counts by its declared name."""
    names: set[str] = set()
    buckets: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        if not family.samples and family.type in ("counter", "gauge"):
            names.add(family.name + ("_total" if family.type == "counter" else ""))
        for sample in family.samples:
            names.add(sample.name)
            if sample.name.endswith("_bucket"):
                buckets.setdefault(sample.name, set()).add(sample.labels["le"])
    return names, buckets


def _rules() -> dict:
    """The groups of every rule file Prometheus loads."""
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    groups = []
    for name in config["rule_files"]:
        groups += yaml.safe_load((OPS / "prometheus" / name).read_text())["groups"]
    return {"groups": groups}


def _resolve(names: set[str], recorded: dict[str, str]) -> set[str]:
    """Recording-rule names replaced, recursively, by the metrics their expressions select."""
    out: set[str] = set()
    for name in names:
        out |= _resolve(metric_names(recorded[name]), recorded) if name in recorded else {name}
    return out


def test_metrics_pass_promtool_and_cover_rules_and_dashboard(server: SparkServer, promtool: str) -> None:
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200  # the HTTP series exist from now on
    text = httpx.get(server.url + "/metrics", timeout=10).text
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    exported, buckets = _exported(text)
    assert exported >= CONTRACT
    assert not any(name.startswith("bt_") for name in exported), "the seed's old bt_* names are not used"

    rules = _rules()
    recorded = {r["record"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    named = {n for g in rules["groups"] for r in g["rules"] for n in metric_names(r["expr"])}
    for path in sorted((OPS / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    named |= metric_names(substitute_macros(target["expr"]))
    missing = _resolve(named, recorded) - exported
    assert not missing, f"named by rules or dashboard but not exported: {sorted(missing)}"

    les = buckets["backtest_duration_seconds_bucket"]
    assert "1800.0" in les, "p95 > 30 min must fall on a bucket edge"
    assert any(le != "+Inf" and float(le) > 1800 for le in les), "a bucket above 30 min lets p95 exceed it"
    for name in ("rules.test.yml", "slo.test.yml"):
        tests = yaml.safe_load((OPS / "prometheus" / name).read_text())
        for case in tests["tests"]:
            for series in case["input_series"]:
                m = re.search(r'^(\w+)\{.*le="([^"]+)"', series["series"])
                if m:
                    exported_les = {_le(x) for x in buckets[m.group(1)]}
                    assert _le(m.group(2)) in exported_les, f"{name} uses a bucket {m.group(1)} does not export"


def _le(text: str) -> float:
    return float("inf") if text == "+Inf" else float(text)


def test_loadtest_with_20_clients_meets_the_slo(server: SparkServer) -> None:
    """Two runs started during the test make change events flow to every client: none lost, lag measured."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "spark.cli",
            "loadtest",
            "sse",
            "--clients",
            "20",
            "--duration",
            "4",
            "--url",
            server.url,
            "--starts",
            "2",
            "--json",
        ],
        cwd=server.home,
        env=clean_env(server.home, ADMIN_TOKEN=ADMIN_TOKEN),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] and report["connected"] == 20 and report["errors"] == 0
    assert report["starts_accepted"] == 2 and report["start_errors"] == {}
    assert report["lag_events"] >= 20 * 2  # at least "queued" and "running" of each run, for every client
    assert report["lost"] == 0 and report["out_of_order"] == 0
    assert report["first_event_p95_s"] <= 1.5 and report["lag_p95_s"] is not None
