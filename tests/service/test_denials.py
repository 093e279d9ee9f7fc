"""A gated run's gate evidence (<id>.gates.npz): written only for gated runs, read back into the same records as
report.denied, refused when planted or damaged; counts per gate for the metric; the Python API's gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import spark
from spark.errors import ParamError
from spark.service.denials import denial_counts, denied_page, load_gates_file
from spark.service.evidence import gates_path, remove_result_files, summary_path, write_result

DATA = Path(__file__).parents[1] / "data"
RUN_ID = "bt-1700000000000-0000abcd"
GATES = {"maxPositionNotional": 4000, "maxDrawdownPct": {"value": 3, "onViolation": "log"}}


@pytest.fixture(scope="module")
def goog() -> spark.Candles:
    return spark.load_candles(DATA / "GOOG.csv")


def gated(candles: spark.Candles) -> spark.BacktestResult:
    return spark.run_backtest(candles, "sma_cross", {"fast": 10, "slow": 30}, size=10, gates=GATES, run_id=RUN_ID)


def test_the_gate_evidence_reads_back_as_report_denied(goog: spark.Candles, tmp_path: Path) -> None:
    result = gated(goog)
    write_result(tmp_path, result)
    summary = json.loads(summary_path(tmp_path, RUN_ID).read_text())
    page = denied_page(gates_path(tmp_path, RUN_ID), summary, limit=1000, offset=0)
    assert page is not None
    assert page["denied"] == [d.to_json() for d in result.report.denied] and page["total"] == 26
    assert page["gateStates"] == [g.to_json() for g in result.report.gate_states]
    assert page["gates"] == result.to_dict()["metadata"]["options"]["gates"]
    logged = denied_page(gates_path(tmp_path, RUN_ID), summary, limit=2, offset=1, gate="maxDrawdownPct")
    assert logged is not None and logged["total"] == 4 and len(logged["denied"]) == 2
    assert {d["action"] for d in logged["denied"]} == {"log"}
    assert denial_counts(result) == (("maxPositionNotional", 22),)  # logged ones are not denials
    assert f"{RUN_ID}.gates.npz" in remove_result_files(tmp_path, RUN_ID)  # a result file: taken back with the rest


def test_an_ungated_run_writes_no_gate_evidence(goog: spark.Candles, tmp_path: Path) -> None:
    result = spark.run_backtest(goog, "sma_cross", run_id=RUN_ID)
    write_result(tmp_path, result)
    assert not gates_path(tmp_path, RUN_ID).exists() and denial_counts(result) == ()
    assert denied_page(gates_path(tmp_path, RUN_ID), result.to_dict(arrays=False), 10, 0) == {
        "gates": None,
        "total": 0,
        "denied": [],
        "gateStates": [],
    }
    assert denied_page(gates_path(tmp_path, RUN_ID), None, 10, 0) is None  # no result (yet)


def test_planted_or_damaged_gate_files_are_not_evidence(goog: spark.Candles, tmp_path: Path) -> None:
    write_result(tmp_path, gated(goog))
    path = gates_path(tmp_path, RUN_ID)
    real = tmp_path / "real.npz"
    path.rename(real)
    path.symlink_to(real)
    assert load_gates_file(path) is None
    path.unlink()
    path.write_bytes(real.read_bytes()[:100])
    assert load_gates_file(path) is None
    path.write_bytes(b"not a zip")
    assert load_gates_file(path) is None


def test_the_python_api_takes_gates(goog: spark.Candles) -> None:
    typed = spark.run_backtest(goog, "sma_cross", size=10, gates=spark.Gates(max_position_notional=4000))
    assert typed.report.stats["denied_orders"] == 22
    with pytest.raises(ParamError) as info:
        spark.run_backtest(goog, "sma_cross", gates={"maxPositionNotional": 0})
    assert info.value.field == "gates.maxPositionNotional"
