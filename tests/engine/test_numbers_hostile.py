"""Param.coerce and Options never raise anything but ParamError naming the field: numbers far outside the float
range, integers too long for Python to print, odd types, names that cannot be encoded."""

from __future__ import annotations

import math

import pytest

from spark.engine.options import Options
from spark.engine.params import Param, shown, validate_params
from spark.errors import ParamError

INT = Param(name="n", type="int", default=1)
FLOAT = Param(name="x", type="float", default=1.0)
BOUNDED = Param(name="b", type="int", default=1, min=1, max=10)
ODD = [10**400, -(10**400), 10**5000, 2**63, -(2**63), "9" * 5000, "1e999", [1], {"a": 1}, None, object(), b"1"]


@pytest.mark.parametrize("param", [INT, FLOAT, BOUNDED], ids=lambda p: p.name)
@pytest.mark.parametrize("value", ODD, ids=lambda v: type(v).__name__)
def test_coerce_refuses_with_a_param_error_naming_the_field(param: Param, value: object) -> None:
    with pytest.raises(ParamError) as err:
        param.coerce(value, prefix="feed.args")
    assert err.value.field == f"feed.args.{param.name}"
    assert len(err.value.message) < 200  # the value is shown short, never printed whole


def test_the_64_bit_range_is_the_limit_and_floats_stay_floats() -> None:
    assert INT.coerce(2**63 - 1) == 2**63 - 1 and INT.coerce(-(2**63) + 1) == -(2**63) + 1
    assert INT.coerce(str(2**63 - 1)) == 2**63 - 1
    assert FLOAT.coerce(10**18) == 1e18
    with pytest.raises(ParamError, match="out of range"):
        INT.coerce(float(2**63))


OPTION_VALUES = [*ODD, math.inf, math.nan, "1", True]
OPTION_CASES = [
    (name, value)
    for name in ("cash", "fee", "slippage_bps", "size", "size_pct", "periods_per_year", "fill", "margin")
    for value in OPTION_VALUES
    if not (value is None and name in ("size", "size_pct", "periods_per_year"))  # None: not set
    and not (value is True and name == "margin")
]


@pytest.mark.parametrize(("name", "value"), OPTION_CASES, ids=[f"{n}-{type(v).__name__}" for n, v in OPTION_CASES])
def test_options_refuse_with_a_param_error_naming_the_field(name: str, value: object) -> None:
    with pytest.raises(ParamError) as err:
        Options(**{name: value})
    assert err.value.field == name
    assert len(err.value.message) < 200


def test_validate_params_refuses_a_given_that_is_not_a_mapping_and_escapes_names() -> None:
    for given in ([("n", 1)], "n=1", 5):
        with pytest.raises(ParamError) as err:
            validate_params((INT,), given)  # type: ignore[arg-type]
        assert err.value.field == "params"
    with pytest.raises(ParamError) as err:
        validate_params((INT,), {"n\ud800": 1})
    assert err.value.field == "params.n\\ud800"
    err.value.message.encode("utf-8")  # the message can be sent and logged


def test_shown_is_short_and_never_raises() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert shown(10**5000) == "an integer of 16610 bits"
    assert shown([10**5000]) == "a list"
    assert "Hostile" in shown(Hostile())
    assert len(shown("x" * 10_000)) < 80
    assert shown("a\ud800") == "'a\\ud800'"
