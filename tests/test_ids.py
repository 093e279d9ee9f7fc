import re

import pytest

from spark.errors import InputError
from spark.ids import RUN_ID, check_run_id, is_run_id, new_run_id


def test_new_ids_match_the_contract_and_differ() -> None:
    ids = {new_run_id(1_763_700_000_000) for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"bt-1763700000000-[0-9a-f]{8}", i) and check_run_id(i) == i for i in ids)
    with pytest.raises(ValueError):
        new_run_id(1_763_700_000)  # seconds, not milliseconds


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "bt-123-abcdef01",
        "bt-1763700000000-ABCDEF01",
        "bt-1763700000000-abcdef0",
        "../bt-1763700000000-abcdef01",
        "bt-1763700000000-abcdef01\n",
        "bt-1763700000000-abcdef01/../x",
        None,
        12,
    ],
)
def test_malformed_ids_are_refused(bad: object) -> None:
    assert not is_run_id(bad)
    with pytest.raises(InputError) as err:
        check_run_id(bad)
    assert err.value.field == "id"
    assert RUN_ID.pattern == r"^bt-[0-9]{13}-[0-9a-f]{8}$"
