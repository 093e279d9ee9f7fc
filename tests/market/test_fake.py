"""The fake exchange speaks BTCTurk's frames and plays its failure modes (a raw trio-websocket client)."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
import trio_websocket

from spark.market.fake import FakeExchange


def subscribe(pair: str) -> str:
    return json.dumps([151, {"type": 151, "channel": "trade", "event": pair, "join": True}])


async def frames(ws: trio_websocket.WebSocketConnection, n: int) -> list:
    return [json.loads(await ws.get_message()) for _ in range(n)]


async def test_welcome_ack_batch_then_trades(fake) -> None:
    async with trio_websocket.open_websocket_url(fake.urls.ws) as ws:
        (welcome,) = await frames(ws, 1)
        assert welcome == [991, {"type": 991, "current": "6.0.0", "min": "2.3.0"}]
        await ws.send_message(subscribe("BTCTRY"))
        ack, batch, trade = await frames(ws, 3)
    assert ack == [100, {"type": 100, "ok": True, "message": "join|trade:BTCTRY"}]
    assert batch[0] == 421 and batch[1]["event"] == "BTCTRY" and batch[1]["items"]
    assert set(batch[1]["items"][0]) == {"D", "I", "A", "P", "S"}
    assert trade[0] == 422 and trade[1]["PS"] == "BTCTRY" and int(trade[1]["D"]) >= int(batch[1]["items"][0]["D"])


async def test_a_second_subscribe_is_refused(fake) -> None:
    async with trio_websocket.open_websocket_url(fake.urls.ws) as ws:
        await frames(ws, 1)
        await ws.send_message(subscribe("BTCTRY"))
        await frames(ws, 2)
        await ws.send_message(subscribe("BTCTRY"))
        with trio.fail_after(2):
            while (frame := json.loads(await ws.get_message()))[0] != 100:
                pass
    assert frame == [100, {"type": 100, "ok": False, "message": "join|trade:BTCTRY"}]


@pytest.mark.parametrize("pair", ["btctry", "NOPETRY"])
async def test_an_unknown_or_lower_case_pair_is_acked_then_silent(fake, pair: str) -> None:
    async with trio_websocket.open_websocket_url(fake.urls.ws) as ws:
        await frames(ws, 1)
        await ws.send_message(subscribe(pair))
        (ack,) = await frames(ws, 1)
        assert ack[1]["ok"] is True
        with trio.move_on_after(0.5) as waited:
            await ws.get_message()
    assert waited.cancelled_caught


async def test_no_pong_closes_with_1000(fake) -> None:
    fake.exchange.script.append("no_pong")
    async with trio_websocket.open_websocket_url(fake.urls.ws) as ws:
        start = trio.current_time()
        with pytest.raises(trio_websocket.ConnectionClosed) as closed, trio.fail_after(3):
            while True:
                await ws.get_message()
    assert closed.value.reason.code == 1000
    assert trio.current_time() - start >= fake.exchange.settings.fake_no_pong_close_s * 0.9


async def test_abrupt_close_sends_no_close_frame(fake) -> None:
    fake.exchange.script.append("abrupt")
    async with trio_websocket.open_websocket_url(fake.urls.ws) as ws:
        await frames(ws, 1)
        await ws.send_message(subscribe("BTCTRY"))
        with pytest.raises(trio_websocket.ConnectionClosed) as closed, trio.fail_after(3):
            while True:
                await ws.get_message()
    assert closed.value.reason.code == 1006  # abnormal closure: the TCP stream ended without a close frame


async def test_stall_keeps_the_socket_open_and_silent(fake) -> None:
    fake.exchange.script.append("stall")
    async with trio_websocket.open_websocket_url(fake.urls.ws) as ws:
        await frames(ws, 1)
        await ws.send_message(subscribe("BTCTRY"))
        with trio.move_on_after(fake.exchange.settings.fake_stall_after_s + 0.3):
            while True:
                await ws.get_message()
        with trio.move_on_after(0.5) as silent:
            await ws.get_message()
        assert silent.cancelled_caught
        assert ws.closed is None
        await ws.ping(b"still-there")  # answered: the connection itself is alive


async def test_rest_orderbook_503_and_unknown_pair(fake) -> None:
    fake.exchange.orderbook_503 = True
    async with httpx.AsyncClient(base_url=fake.urls.rest) as http:
        assert (await http.get("/api/v2/orderbook", params={"pairSymbol": "BTCTRY"})).status_code == 503
        bad = await http.get("/api/v2/trades", params={"pairSymbol": "NOPEUSDT"})
        assert bad.status_code == 400
        assert bad.json() == {"success": False, "message": "Pair NOPEUSDT does not exists.", "code": 1037}


def test_unknown_scenario_is_refused() -> None:
    from spark.config import Settings

    with pytest.raises(ValueError, match="unknown scenario 'flaky'"):
        FakeExchange(Settings(), default="flaky")
