"""``spark dev fake-exchange [--port P] [--ws-port W] [--scenario S] [--speed X]``: the scripted fake BTCTurk
(`spark.market.fake`) on 127.0.0.1, to try live data offline. Prints the environment variables that point Spark at
it, then serves until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    from spark.market.fake import SCENARIOS

    p = sub.add_parser("dev", help="developer tools: a fake exchange to try live data offline")
    dev = p.add_subparsers(dest="dev_command", required=True, metavar="TOOL")
    fake = dev.add_parser("fake-exchange", help="serve a scripted fake BTCTurk (REST + WebSocket) on 127.0.0.1")
    fake.add_argument("--port", type=int, default=8765, help="REST port (0: a free one; default 8765)")
    fake.add_argument("--ws-port", type=int, default=None, help="WebSocket port (default: REST port + 1; 0: free)")
    fake.add_argument("--scenario", choices=SCENARIOS, default="normal", help="what every connection plays")
    fake.add_argument("--speed", type=float, default=1.0, help="market clock speed (60: a 1m candle a second)")
    fake.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import trio

    from spark.config import load_settings
    from spark.errors import InputError
    from spark.market.clock import MarketClock
    from spark.market.fake import FakeExchange, FakeUrls, run_fake_exchange

    if args.speed <= 0:
        raise InputError("--speed must be > 0", field="--speed")
    ws_port = args.ws_port if args.ws_port is not None else (args.port + 1 if args.port else 0)
    exchange = FakeExchange(load_settings(), clock=MarketClock(speed=args.speed), default=args.scenario)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            urls: FakeUrls = await nursery.start(
                lambda task_status: run_fake_exchange(
                    exchange, port=args.port, ws_port=ws_port, task_status=task_status
                )
            )
            print(f"fake BTCTurk ({args.scenario}, speed {args.speed:g}x): REST {urls.rest}, WebSocket {urls.ws}")
            for name, value in urls.env().items():
                print(f"export {name}={value}")
            sys.stdout.flush()

    try:
        trio.run(main)
    except OSError as exc:
        raise InputError(f"cannot serve on port {args.port}/{ws_port}: {exc.strerror or exc}") from None
    return 0
