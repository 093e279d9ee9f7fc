"""The README's plugin example, taken from the README itself, installed as pip would lay it out, and run."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_strategy_plugin_installs_and_runs(tmp_path: Path) -> None:
    (toml,) = [b for b in blocks("toml") if "entry-points.spark" in b]
    (code,) = [b for b in blocks("python") if b.startswith("# my_strategies.py")]
    project = tomllib.loads(toml)["project"]
    ((name, module),) = project["entry-points"]["spark"].items()
    site = tmp_path / "site"
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(code)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text(f"[spark]\n{name} = {module}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run(
        [sys.executable, "-m", "spark.cli", "backtest", "--strategy", "momentum", "--param", "lookback=50", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["metadata"]["strategy"]["name"] == "momentum" and doc["metadata"]["params"] == {"lookback": 50}
    assert doc["report"]["stats"]["totalTrades"] > 10
