"""``spark loadtest sse --clients N --duration S --url URL``: SSE clients on one server, judged by the seed's SLO.

Prints first-event p50/p95, delivery lag, errors and lost events; exits 0 when the SLO holds, 1 when it is missed,
2 on bad input or an unreachable server. A progress line on stderr while it runs: refreshed in place on a terminal,
plain lines otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, TextIO

from spark.errors import InputError

if TYPE_CHECKING:
    from spark.ops.loadtest import LoadReport, Progress


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loadtest", help="load tests against a running server")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    sse = kinds.add_parser("sse", help="N Server-Sent-Events clients for S seconds; exit 1 when the SLO is missed")
    sse.add_argument("--clients", default="20", help="concurrent SSE clients (default 20)")
    sse.add_argument("--duration", default="60", help="seconds to run (default 60)")
    sse.add_argument(
        "--url",
        default="http://127.0.0.1:4001",
        help="server URL (its /api/backtest/stream is used) or the stream URL itself",
    )
    sse.add_argument(
        "--starts",
        default="0",
        help="runs to start during the test so that change events flow (needs the admin token; "
        "the server allows 10 starts a minute per client)",
    )
    sse.add_argument("--token", default=None, help="admin token for --starts (default: $ADMIN_TOKEN)")
    sse.add_argument("--slo-p95", default="1.5", help="first-event p95 objective in seconds (default 1.5)")
    sse.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    sse.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every `spark` command builds this parser, only the load test needs an HTTP client
    import trio

    from spark.ops.loadtest import SLO, run_loadtest

    clients = _number(args.clients, "--clients", int, 1, 10_000)
    duration = _number(args.duration, "--duration", float, 0.1, 86_400)
    slo = SLO(first_event_p95_s=_number(args.slo_p95, "--slo-p95", float, 0.001, 3600))
    starts = _number(args.starts, "--starts", int, 0, 1000)
    token = args.token if args.token is not None else os.environ.get("ADMIN_TOKEN")
    shown = _ProgressLine(sys.stderr, every_s=max(1.0, duration / 10))
    report = trio.run(
        lambda: run_loadtest(
            args.url,
            clients=clients,
            duration_s=duration,
            slo=slo,
            on_progress=shown,
            progress_every_s=shown.tick_s,
            starts=starts,
            token=token,
        )
    )
    shown.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(_text(report))
    return 0 if report.passed else 1


def _number(text: str, flag: str, kind: type, low: float, high: float):
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"{flag} {text!r}: not a number", field=flag.lstrip("-")) from None
    if not low <= value <= high:
        raise InputError(f"{flag} must be between {low:g} and {high:g}, got {text}", field=flag.lstrip("-"))
    return value


class _ProgressLine:
    """Progress on ``stream``: one line rewritten in place on a terminal; a plain line every ``every_s`` otherwise."""

    def __init__(self, stream: TextIO, *, every_s: float) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.tick_s = 0.25 if self.tty else every_s
        self.drawn = False

    def __call__(self, p: Progress) -> None:
        line = (
            f"loadtest {p.elapsed_s:5.1f} s  clients {p.clients}  with first event {p.with_event}  "
            f"events {p.events}  errors {p.errors}  lost {p.lost}"
        )
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _text(r: LoadReport) -> str:
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(r.error_kinds.items(), key=lambda kv: -kv[1]))
    lines = [
        f"SSE load test: {r.clients} clients for {r.duration_s:g} s on {r.url}",
        f"  first event   p50 {_ms(r.first_event_p50_s)}  p95 {_ms(r.first_event_p95_s)}  "
        f"max {_ms(r.first_event_max_s)}  (SLO: p95 <= {r.slo_first_event_p95_s * 1000:.0f} ms)",
        f"  delivery lag  p50 {_ms(r.lag_p50_s)}  p95 {_ms(r.lag_p95_s)}  max {_ms(r.lag_max_s)}  "
        f"over {r.lag_events} change events ({r.events} events in all)",
        f"  errors        {r.errors}/{r.clients} ({r.error_rate:.1%}){': ' + kinds if kinds else ''}  "
        f"(SLO: < {r.slo_max_error_rate:.0%})",
        f"  lost events   {r.lost} (gaps in ids)  coalesced {r.coalesced}  out of order {r.out_of_order}",
        *(
            [
                f"  starts        {r.starts_accepted} of {r.starts_requested} accepted"
                + "".join(f", {n} {kind}" for kind, n in r.start_errors.items())
            ]
            if r.starts_requested
            else []
        ),
        "  SLO met" if r.passed else "  SLO MISSED: " + "; ".join(r.failures),
    ]
    return "\n".join(lines)
