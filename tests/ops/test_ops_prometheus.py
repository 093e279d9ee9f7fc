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


def _promtool(promtool: str, *args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def _alerts() -> dict[str, dict]:
    doc = yaml.safe_load((PROM / "rules.yml").read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def test_config_is_valid_and_scrapes_spark(promtool: str) -> None:
    done = _promtool(promtool, "check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert doc["rule_files"] == ["rules.yml"]
    (job,) = doc["scrape_configs"]
    assert job["job_name"] == "spark"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:4001"]


def test_rules_are_valid(promtool: str) -> None:
    done = _promtool(promtool, "check", "rules", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    done = _promtool(promtool, "test", "rules", "rules.test.yml")
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


def test_each_alert_is_shown_firing_and_quiet_in_the_unit_tests() -> None:
    doc = yaml.safe_load((PROM / "rules.test.yml").read_text())
    firing, quiet = set(), set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == set(ALERTS)
    assert quiet == set(ALERTS)


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_alert_has_severity_summary_description_and_runbook_anchor(name: str) -> None:
    rule = _alerts()[name]
    assert rule["labels"]["severity"] == ALERTS[name]
    notes = rule["annotations"]
    assert notes["summary"].strip() and notes["description"].strip()
    path, _, anchor = notes["runbook_url"].partition("#")
    assert path == "ops/RUNBOOK.md"
    assert anchor in _anchors((OPS.parent / path).read_text())


def test_only_the_three_seed_alerts() -> None:
    assert set(_alerts()) == set(ALERTS)


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    found = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).lower())
            found.add(text.replace(" ", "-"))
    return found
