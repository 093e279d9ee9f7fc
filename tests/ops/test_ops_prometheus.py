"""ops/prometheus: the config and rules load in promtool, the unit tests pass, every alert is complete."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from opshelp import OPS

PROM = OPS / "prometheus"
ALERTS = {"BacktestHighFailureRate": "warning", "BacktestRunStuck": "critical", "BacktestNoData": "warning"}
SLOS = ("SparkApiAvailability", "SparkReadLatency", "SparkStartLatency", "SparkRunSuccess")
SLO_ALERTS = {f"{slo}{speed}Burn": sev for slo in SLOS for speed, sev in (("Fast", "critical"), ("Slow", "warning"))}


def _promtool(promtool: str, *args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def _alerts(name: str = "rules.yml") -> dict[str, dict]:
    doc = yaml.safe_load((PROM / name).read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def _rule_files() -> set[str]:
    """Every YAML file here that holds rule groups (not the config, not the unit tests)."""
    found = set()
    for path in PROM.glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and "groups" in doc:
            found.add(path.name)
    return found


def test_config_is_valid_and_scrapes_spark(promtool: str) -> None:
    done = _promtool(promtool, "check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert set(doc["rule_files"]) == _rule_files() >= {"rules.yml", "slo.yml"}, "list every rule file here"
    (job,) = doc["scrape_configs"]
    assert job["job_name"] == "spark"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:4001"]


@pytest.mark.parametrize("name", ["rules.yml", "slo.yml"])
def test_rules_are_valid(promtool: str, name: str) -> None:
    done = _promtool(promtool, "check", "rules", name)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["rules.test.yml", "slo.test.yml"])
def test_rule_unit_tests_pass(promtool: str, name: str) -> None:
    done = _promtool(promtool, "test", "rules", name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_rule_unit_tests_can_fail(promtool: str, tmp_path: Path) -> None:
    """The unit tests are not vacuous: a rule file with a looser threshold makes them fail."""
    for name in ("rules.yml", "rules.test.yml"):
        shutil.copy(PROM / name, tmp_path / name)
    rules = tmp_path / "rules.yml"
    rules.write_text(rules.read_text().replace("> 0.20", "> 0.60"))
    done = _promtool(promtool, "test", "rules", "rules.test.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "BacktestHighFailureRate" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("rules", "threshold", "looser", "alert"),
    [
        ("slo.yml", "> (14.4 * 0.001)", "> (30 * 0.001)", "SparkApiAvailabilityFastBurn"),
        ("slo.yml", "> (6 * 0.05)", "> (6 * 0.15)", "SparkStartLatencySlowBurn"),
    ],
)
def test_slo_unit_tests_can_fail(
    promtool: str, tmp_path: Path, rules: str, threshold: str, looser: str, alert: str
) -> None:
    """A looser burn-rate threshold makes the unit tests fail, naming the alert."""
    for name in (rules, "slo.test.yml"):
        shutil.copy(PROM / name, tmp_path / name)
    text = (tmp_path / rules).read_text()
    assert threshold in text
    (tmp_path / rules).write_text(text.replace(threshold, looser))
    done = _promtool(promtool, "test", "rules", "slo.test.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert alert in done.stdout + done.stderr


@pytest.mark.parametrize(("tests", "alerts"), [("rules.test.yml", ALERTS), ("slo.test.yml", SLO_ALERTS)])
def test_each_alert_is_shown_firing_and_quiet_in_the_unit_tests(tests: str, alerts: dict[str, str]) -> None:
    doc = yaml.safe_load((PROM / tests).read_text())
    firing, quiet = set(), set()
    cleared = set()  # quiet at a later time of the same case in which it fired
    for case in doc["tests"]:
        fired_at: dict[str, int] = {}
        for check in case.get("alert_rule_test", []):
            minutes = int(check["eval_time"].rstrip("m"))
            if check["exp_alerts"]:
                firing.add(check["alertname"])
                fired_at[check["alertname"]] = minutes
            else:
                quiet.add(check["alertname"])
                if check["alertname"] in fired_at and minutes > fired_at[check["alertname"]]:
                    cleared.add(check["alertname"])
    assert firing == set(alerts)
    assert quiet == set(alerts)
    if tests == "slo.test.yml":
        assert cleared == set(alerts), "each burn-rate alert is shown clearing once the errors stop"


@pytest.mark.parametrize("name", sorted(ALERTS | SLO_ALERTS))
def test_alert_has_severity_summary_description_and_runbook_anchor(name: str) -> None:
    rule = (_alerts() | _alerts("slo.yml"))[name]
    assert rule["labels"]["severity"] == (ALERTS | SLO_ALERTS)[name]
    notes = rule["annotations"]
    assert notes["summary"].strip() and notes["description"].strip()
    path, _, anchor = notes["runbook_url"].partition("#")
    assert path == "ops/RUNBOOK.md"
    assert anchor in _anchors((OPS.parent / path).read_text())


def test_only_the_three_seed_alerts_and_two_burn_rate_alerts_per_slo() -> None:
    assert set(_alerts()) == set(ALERTS)
    assert set(_alerts("slo.yml")) == set(SLO_ALERTS)


def test_slo_objectives_are_those_of_the_slo_document() -> None:
    """ops/SLO.md and slo.yml state the same budgets."""
    doc = yaml.safe_load((PROM / "slo.yml").read_text())
    budgets = {
        r["record"]: r["expr"] for g in doc["groups"] for r in g["rules"] if r.get("record", "").endswith("budget")
    }
    assert budgets == {
        "spark:slo_availability:error_budget": "vector(0.001)",
        "spark:slo_read_latency:error_budget": "vector(0.05)",
        "spark:slo_start_latency:error_budget": "vector(0.05)",
        "spark:slo_run_success:error_budget": "vector(0.01)",
    }
    slo_doc = (OPS / "SLO.md").read_text()
    for objective in ("99.9 %", "95 %", "99 %", "100 ms", "30 days"):
        assert objective in slo_doc


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    found = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).lower())
            found.add(text.replace(" ", "-"))
    return found
