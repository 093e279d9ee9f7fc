"""RunRequest.parse below HTTP (a plugin or a Python caller): text that cannot be stored is refused wherever it sits,
and numbers beyond every range are a 400 naming the field, so nothing unstorable reaches the run store."""

from __future__ import annotations

import pytest

from spark.errors import InputError
from spark.plugin.manager import build_plugins
from spark.plugin.request import RunRequest, unencodable_field

PLUGINS = build_plugins()
S = "\ud800"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notes": S}, "notes"),
        ({"notes": "fine " + "\udc80"}, "notes"),
        ({"pair": S}, "pair"),
        ({"timeframe": "4h" + S}, "timeframe"),
        ({"strategy": S}, "strategy"),
        ({S: 1}, "\\ud800"),
        ({"params": {S: 1}}, "params.\\ud800"),
        ({"params": {"fast": S}}, "params.fast"),
        ({"feed": {"name": S}}, "feed.name"),
        ({"feed": {S: "synthetic"}}, "feed.\\ud800"),
        ({"feed": {"name": "synthetic", "args": {S: 1}}}, "feed.args.\\ud800"),
        ({"feed": {"name": "synthetic", "args": {"symbol": S}}}, "feed.args.symbol"),
        ({"feed": {"name": "csv", "args": {"path": f"{S}.csv"}}}, "feed.args.path"),
        ({"options": {S: 1}}, "options.\\ud800"),
        ({"options": {"fill": S}}, "options.fill"),
        ({"notes": ("a", [{"deep": S}])}, "notes[1][0].deep"),
    ],
)
def test_unencodable_text_anywhere_is_refused_naming_the_field(body: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        RunRequest.parse(body, PLUGINS)
    assert err.value.status == 400
    assert err.value.field == field
    assert "surrogate" in err.value.message
    err.value.message.encode("utf-8")  # the refusal itself can be answered, logged and audited
    err.value.field.encode("utf-8")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"params": {"fast": 10**400}}, "params.fast"),
        ({"params": {"slow": -(10**5000)}}, "params.slow"),
        ({"feed": {"name": "synthetic", "args": {"bars": 10**400}}}, "feed.args.bars"),
        ({"feed": {"name": "synthetic", "args": {"seed": 2**63}}}, "feed.args.seed"),
        ({"feed": {"name": "synthetic", "args": {"price": 10**400}}}, "feed.args.price"),
        ({"feed": {"name": "synthetic", "args": {"volatility": -(10**400)}}}, "feed.args.volatility"),
        ({"options": {"cash": 10**400}}, "options.cash"),
        ({"options": {"fee": 10**400}}, "options.fee"),
        ({"options": {"slippageBps": 10**400}}, "options.slippageBps"),
        ({"options": {"size": 10**400}}, "options.size"),
        ({"options": {"sizePct": 10**400}}, "options.sizePct"),
        ({"options": {"periodsPerYear": 10**400}}, "options.periodsPerYear"),
        ({"options": {"fill": 10**5000}}, "options.fill"),
        ({"options": {"margin": [1]}}, "options.margin"),
        ({"pair": 10**5000}, "pair"),
    ],
)
def test_numbers_beyond_every_range_and_odd_types_are_400(body: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        RunRequest.parse(body, PLUGINS)
    assert err.value.field == field
    assert len(err.value.message) < 300


def test_the_walk_has_no_depth_limit_and_passes_clean_documents() -> None:
    deep: object = S
    for _ in range(100_000):
        deep = [deep]
    found = unencodable_field({"a": deep})
    assert found is not None and found[0].startswith("a[0][0]") and found[1] == "\\ud800"
    assert unencodable_field({"notes": "é \U0001f680", "n": [1, 2.5, None, True]}) is None
