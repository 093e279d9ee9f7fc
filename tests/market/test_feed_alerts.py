"""ops/prometheus/feed.yml: the rules load, their unit tests pass and can fail, they watch metric names the feed
exports, and each alert's runbook section exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from spark.metrics import Metrics

PROM = Path(__file__).resolve().parents[2] / "ops" / "prometheus"
RUNBOOK = PROM.parent / "RUNBOOK.md"
ALERTS = ("SparkFeedStale", "SparkFeedReconnectStorm")


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


def run(promtool: str, *args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_rules_load_and_their_unit_tests_pass(promtool: str) -> None:
    checked = run(promtool, "check", "rules", "feed.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run(promtool, "test", "rules", "feed.test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


@pytest.mark.parametrize(
    ("threshold", "looser", "alert"),
    [("> 120", "> 600", "SparkFeedStale"), ("[15m])) > 10", "[15m])) > 30", "SparkFeedReconnectStorm")],
)
def test_the_unit_tests_can_fail(promtool: str, tmp_path: Path, threshold: str, looser: str, alert: str) -> None:
    for name in ("feed.yml", "feed.test.yml"):
        shutil.copy(PROM / name, tmp_path / name)
    rules = tmp_path / "feed.yml"
    assert threshold in rules.read_text()
    rules.write_text(rules.read_text().replace(threshold, looser))
    done = run(promtool, "test", "rules", "feed.test.yml", cwd=tmp_path)
    assert done.returncode != 0 and alert in done.stdout + done.stderr


def test_alerts_watch_exported_names_and_have_runbook_sections() -> None:
    doc = yaml.safe_load((PROM / "feed.yml").read_text())
    rules = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    assert set(rules) == set(ALERTS)
    exported = {m.name for m in Metrics().registry.collect()}
    anchors = {re.sub(r"[^a-z0-9 -]", "", line[4:].lower()).replace(" ", "-") for line in
               RUNBOOK.read_text().splitlines() if line.startswith("### ")}  # fmt: skip
    for name, rule in rules.items():
        used = set(re.findall(r"spark_feed_[a-z_]+", rule["expr"]))
        assert used and {u.removesuffix("_total") for u in used} <= exported, (name, used)
        assert rule["labels"]["severity"] == "warning"
        assert rule["annotations"]["runbook_url"] == f"ops/RUNBOOK.md#{name.lower()}"
        assert name.lower() in anchors
    listed = yaml.safe_load((PROM / "prometheus.yml").read_text())["rule_files"]
    assert "feed.yml" in listed
