"""Orders a strategy hands over, one at a time, through ``ctx.emit``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Order", "OrderType", "Side"]

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order decided at the close of one bar (named by ``bar`` index or by its timestamp ``ts``).

    ``qty`` is in units of the asset; None means "use the run's sizing option" (``size`` or ``size_pct``).
    ``price`` is required for limit and stop orders. ``stop_loss`` and ``take_profit`` are prices attached to the
    position the order opens.
    """

    side: Side
    qty: float | None = None
    type: OrderType = "market"
    price: float | None = None
    bar: int | None = None
    ts: int | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
