"""Hostile start bodies over a real Hypercorn server: text that cannot be stored, numbers beyond every range, odd
types and names, values a feed would only refuse at run time. Each is a JSON 400 naming the field, audited as a
refusal on one valid line, and nothing is queued; the service keeps answering."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from apikit import admin, audit_lines, served

from spark.api import create_app
from spark.api.wire import json_response
from spark.config import Settings
from spark.system import open_system

START = "/api/backtest/start"
HUGE = "9" * 400  # a 400-digit integer literal: far outside the float range
OPTION_NUMBERS = ("cash", "fee", "slippageBps", "size", "sizePct", "periodsPerYear")


@pytest.fixture
def hostile_settings(make_settings: Any) -> Settings:
    return make_settings(rate_limit_per_minute=100_000)


@pytest.fixture
async def http(hostile_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        open_system(hostile_settings) as system,
        served(create_app(system)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client


async def post_raw(client: httpx.AsyncClient, raw: str) -> httpx.Response:
    return await client.post(START, content=raw.encode("ascii"), headers=admin(**{"Content-Type": "application/json"}))


async def assert_refused(client: httpx.AsyncClient, settings: Settings, raw: str, field: str | None) -> dict:
    response = await post_raw(client, raw)
    assert response.status_code == 400, (raw[:120], response.text)
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["error"] in ("invalid", "bad_param") and doc["message"]
    assert doc["field"] == field, (raw[:120], doc)
    line = audit_lines(settings)[-1]
    assert line["action"] == "start" and line["success"] is False and line["error"].startswith(doc["error"])
    return doc


async def assert_nothing_queued(client: httpx.AsyncClient, settings: Settings) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/api/backtest")).json()["runs"] == []
    assert not list((settings.evidence_dir / "backtest").glob("run_*.json"))
    for path in settings.audit_dir.glob("backtest_*.log"):
        for line in path.read_bytes().decode("utf-8").splitlines():  # valid UTF-8, one JSON document a line
            json.loads(line)


async def numeric_fields(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    """(body with a {} hole for the number, field) for every numeric field the server declares, and the options."""
    bodies: list[tuple[str, str]] = []
    for strategy in (await client.get("/api/strategies")).json()["strategies"]:
        for param in strategy["params"]:
            if param["type"] in ("int", "float"):
                body = f'{{"strategy": "{strategy["name"]}", "params": {{"{param["name"]}": {{}}}}}}'
                bodies.append((body, f"params.{param['name']}"))
    for feed in (await client.get("/api/feeds")).json()["feeds"]:
        for param in feed["params"]:
            if param["type"] in ("int", "float"):
                body = f'{{"feed": {{"name": "{feed["name"]}", "args": {{"{param["name"]}": {{}}}}}}}}'
                bodies.append((body, f"feed.args.{param['name']}"))
    bodies += [(f'{{"options": {{"{name}": {{}}}}}}', f"options.{name}") for name in OPTION_NUMBERS]
    return bodies


async def test_every_numeric_field_refuses_a_400_digit_integer(http: httpx.AsyncClient, hostile_settings) -> None:
    fields = await numeric_fields(http)
    assert {"params.fast", "feed.args.bars", "feed.args.seed", "feed.args.price", "options.cash"} <= {
        field for _, field in fields
    }
    for body, field in fields:
        for number in (HUGE, "-" + HUGE, str(2**63), str(-(2**63)), "1e400"):
            hole = body.replace("{}", number)
            doc = await assert_refused(http, hostile_settings, hole, None)  # refused while decoding: no field yet
            assert "number" in doc["message"] or "integer" in doc["message"], doc
        nullable = field in ("options.size", "options.sizePct", "options.periodsPerYear")  # null: not set
        for odd in ('"ten"', "[1]", '{"a": 1}', "true", *(() if nullable else ("null",))):
            await assert_refused(http, hostile_settings, body.replace("{}", odd), field)
    await assert_nothing_queued(http, hostile_settings)


async def test_the_largest_64_bit_seed_is_still_a_seed(http: httpx.AsyncClient) -> None:
    body = f'{{"feed": {{"name": "synthetic", "args": {{"seed": {2**63 - 1}, "bars": 50}}}}}}'
    response = await post_raw(http, body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"notes": "\\ud800"}', "notes"),
        ('{"notes": "ok \\udfff then more"}', "notes"),
        ('{"pair": "ETH\\ud800"}', "pair"),
        ('{"strategy": "sma\\ud800"}', "strategy"),
        ('{"\\ud800": 1}', "\\ud800"),
        ('{"params": {"\\ud800fast": 10}}', "params.\\ud800fast"),
        ('{"params": {"fast": "\\ud800"}}', "params.fast"),
        ('{"feed": {"name": "csv\\ud800"}}', "feed.name"),
        ('{"feed": {"name": "synthetic", "args": {"\\udbff": 1}}}', "feed.args.\\udbff"),
        ('{"feed": {"name": "synthetic", "args": {"symbol": "X\\ud800"}}}', "feed.args.symbol"),
        ('{"options": {"fill": "close\\ud800"}}', "options.fill"),
        ('{"notes": ["a", {"b": "\\ud800"}]}', "notes[1].b"),
    ],
)
async def test_unencodable_text_anywhere_is_a_400_audited_escaped(
    http: httpx.AsyncClient, hostile_settings: Settings, raw: str, field: str
) -> None:
    doc = await assert_refused(http, hostile_settings, raw, field)
    assert "surrogate" in doc["message"]
    line = audit_lines(hostile_settings)[-1]
    assert line["payload"] == {"unparsed": raw}  # what was sent, as the escaped text it arrived as
    await assert_nothing_queued(http, hostile_settings)


async def test_a_valid_surrogate_pair_is_just_a_character(http: httpx.AsyncClient, hostile_settings) -> None:
    response = await post_raw(http, '{"notes": "rocket \\ud83d\\ude80", "feed": {"name": "default"}}')
    assert response.status_code == 201, response.text
    run = (await http.get(f"/api/backtest/{response.json()['id']}")).json()
    assert run["notes"] == "rocket \U0001f680"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"timeframe": "4x"}, "feed.args.timeframe"),
        ({"timeframe": "0h"}, "feed.args.timeframe"),
        ({"timeframe": ""}, "feed.args.timeframe"),
        ({"timeframe": "1d", "bars": 5_000_000}, "feed.args.bars"),  # past the year 9999
        ({"timeframe": "9999y", "bars": 100_000}, "feed.args.bars"),  # past int64 milliseconds
        ({"symbol": "x" * 65}, "feed.args.symbol"),
        ({"symbol": "line\nbreak"}, "feed.args.symbol"),
        ({"nope": 1}, "feed.args.nope"),
    ],
)
async def test_feed_args_a_run_would_refuse_are_refused_at_the_door(
    http: httpx.AsyncClient, hostile_settings: Settings, args: dict, field: str
) -> None:
    raw = json.dumps({"feed": {"name": "synthetic", "args": args}})
    await assert_refused(http, hostile_settings, raw, field)
    await assert_nothing_queued(http, hostile_settings)


async def test_csv_feed_symbol_and_timeframe_are_checked_at_the_door(
    http: httpx.AsyncClient, hostile_settings: Settings
) -> None:
    for args, field in (
        ({"path": "GOOG.csv", "timeframe": "daily"}, "feed.args.timeframe"),
        ({"path": "GOOG.csv", "symbol": "\t"}, "feed.args.symbol"),
    ):
        await assert_refused(http, hostile_settings, json.dumps({"feed": {"name": "csv", "args": args}}), field)


async def test_an_answer_holding_unencodable_text_is_escaped_not_a_crash() -> None:
    response = json_response({"notes": "a\ud800", "ok": "é"})
    body = await response.get_data()
    assert json.loads(body) == {"notes": "a\ud800", "ok": "é"}
