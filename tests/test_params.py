import math

import pytest

from spark.engine.params import Param, validate_params
from spark.errors import ParamError

FAST = Param(name="fast", type="int", default=10, min=1, max=500, help="fast SMA period")
MODE = Param(name="mode", type="str", default="a", choices=("a", "b"))


def test_defaults_fill_what_is_missing() -> None:
    assert validate_params((FAST, MODE), {}) == {"fast": 10, "mode": "a"}


def test_strings_from_the_cli_are_parsed() -> None:
    assert validate_params((FAST,), {"fast": "12"}) == {"fast": 12}


@pytest.mark.parametrize("value", [0, 501, 1.5, True, "x", None, math.nan, [1]])
def test_bad_values_name_the_field(value: object) -> None:
    with pytest.raises(ParamError) as err:
        validate_params((FAST,), {"fast": value})
    assert err.value.field == "params.fast"


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ParamError, match=r"params\.slwo") as err:
        validate_params((FAST,), {"slwo": 3})
    assert err.value.field == "params.slwo"


def test_choices() -> None:
    with pytest.raises(ParamError, match="one of a, b"):
        validate_params((MODE,), {"mode": "c"})


def test_cross_check_runs_after_each_value_is_valid() -> None:
    def check(p: dict) -> None:
        if p["fast"] > 5:
            raise ParamError("fast too big", field="params.fast")

    with pytest.raises(ParamError, match="too big"):
        validate_params((FAST,), {"fast": 6}, check=check)
