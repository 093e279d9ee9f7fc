"""``spark backtest`` with risk gates: --gate pairs, --gates JSON, the risk_gates setting as the default, the
denials in the report and the evidence, bad gates as one line and exit 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from spark.cli import main

DATA = Path(__file__).parents[1] / "data"
RUN = ["backtest", "--data", str(DATA / "GOOG.csv"), "--param", "fast=10", "--param", "slow=30", "--size", "10"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("SPARK_")]:
        monkeypatch.delenv(key)
    return tmp_path


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_gate_pairs_deny_and_the_report_says_so(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_main([*RUN, "--gate", "maxPositionNotional=4000", "--gate", "maxDrawdownPct=3:log"], capsys)
    assert code == 0, err
    assert "gates       maxDrawdownPct 3.0 (log), maxPositionNotional 4000.0 (deny)" in out
    assert "Denied: 22 orders denied, 4 logged by the gates" in out
    assert "position notional after the fill" in out and "account: REDUCING at bar 358" in out
    (result,) = (workdir / "evidence" / "backtest").glob("bt-*[0-9a-f].json")
    doc = json.loads(result.read_text())
    assert doc["report"]["stats"]["deniedOrders"] == 22 and len(doc["report"]["denied"]) == 26
    assert doc["metadata"]["options"]["gates"]["maxPositionNotional"] == {"value": 4000.0, "onViolation": "deny"}
    assert list((workdir / "evidence" / "backtest").glob("*.gates.npz"))
    (record,) = (workdir / "evidence" / "backtest").glob("run_*.json")
    assert json.loads(record.read_text())["runs"][0]["options"]["gates"] == doc["metadata"]["options"]["gates"]


def test_gates_json_and_the_setting_give_the_same_run(
    workdir: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    gates = '{"maxPositionNotional": 4000, "maxDrawdownPct": {"value": 3, "onViolation": "log"}}'
    code, out, _ = run_main([*RUN, "--gates", gates, "--json", "--no-evidence"], capsys)
    by_flag = json.loads(out)
    code2, out2, _ = run_main(
        [*RUN, "--gate", "maxPositionNotional=4000", "--gate", "maxDrawdownPct=3:log", "--json", "--no-evidence"],
        capsys,
    )
    monkeypatch.setenv("SPARK_RISK_GATES", gates)
    code3, out3, _ = run_main([*RUN, "--json", "--no-evidence"], capsys)
    assert code == code2 == code3 == 0
    fingerprints = {json.loads(o)["metadata"]["fingerprint"] for o in (out, out2, out3)}
    assert fingerprints == {by_flag["metadata"]["fingerprint"]}
    # a flag beats the setting
    code4, out4, _ = run_main([*RUN, "--gate", "longOnly=true", "--json", "--no-evidence"], capsys)
    assert code4 == 0 and set(json.loads(out4)["metadata"]["options"]["gates"]) == {"longOnly"}


def test_without_gates_the_report_has_no_denials(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_main([*RUN, "--no-evidence"], capsys)
    assert code == 0 and "Denied:" not in out and "gates " not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gate", "maxOrderNotional=-1"], "options.gates.maxOrderNotional must be > 0"),
        (["--gate", "maxOrderNotional"], "--gate expects NAME=VALUE"),
        (["--gate", "maxLeverage=2"], "unknown field options.gates.maxLeverage"),
        (["--gate", "maxDrawdownPct=5:warn"], "options.gates.maxDrawdownPct must be a number"),
        (["--gate", "onViolation=ignore", "--gate", "longOnly=true"], "options.gates.onViolation must be deny or log"),
        (["--gates", "{nope"], "--gates must be a JSON object"),
        (["--gates", "[1]"], "options.gates must be an object"),
        (["--gates", "{}", "--gate", "longOnly=true"], "not allowed with argument --gates"),
    ],
)
def test_bad_gates_are_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    code, out, err = run_main([*RUN, *args], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
    assert not (workdir / "evidence").exists()


def test_a_bad_risk_gates_setting_is_one_line(
    workdir: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARK_RISK_GATES", '{"cooldownBars": 0}')
    code, out, err = run_main([*RUN], capsys)
    assert code == 2 and out == "" and "setting risk_gates: risk_gates.cooldownBars must be >= 1" in err
