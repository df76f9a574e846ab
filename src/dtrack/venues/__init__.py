"""The venue registry: one line per venue, with status and capabilities.

Adapters are imported lazily (``adapter_class``) so that listing venues or ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dtrack.errors import UnsupportedError, UsageError, VenueClosed

if TYPE_CHECKING:
    from dtrack.venues.base import Adapter


@dataclass(frozen=True, slots=True)
class VenueInfo:
    """What dtrack knows about a venue."""

    name: str
    title: str
    status: str  # active | planned | degraded | closed
    capabilities: tuple[str, ...]
    markets: str
    funding_intervals: str
    bulk: str
    adapter: str | None = None  # "module:Class"
    closed_on: str | None = None
    note: str = ""
    taker_fee_pct: float = 0.05  # public base-tier taker fee, percent (settings.yaml may override)


VENUES: dict[str, VenueInfo] = {v.name: v for v in (
    VenueInfo("binance", "Binance", "active", ("funding", "funding_history", "open_interest", "basis", "options"),
              "USDⓈ-M (USDT, USDC) and COIN-M perpetuals and quarterlies",
              "8 h default; 4 h / 1 h per symbol from fundingInfo",
              "premiumIndex (all symbols); OI per symbol", "dtrack.venues.binance.adapter:BinanceAdapter"),
    VenueInfo("bybit", "Bybit", "active", ("funding", "funding_history", "open_interest", "basis", "options"),
              "linear (USDT, USDC) and inverse perpetuals and dated futures",
              "fundingIntervalHour per symbol (1/2/4/8 h)",
              "tickers (all symbols per category)", "dtrack.venues.bybit.adapter:BybitAdapter", taker_fee_pct=0.055),
    VenueInfo("okx", "OKX", "active", ("funding", "funding_history", "open_interest", "basis", "options"),
              "USDT-, USDC- and USD-margined swaps and dated futures",
              "nextFundingTime - fundingTime (8 h default, can be shorter)",
              "funding-rate?instId=ANY, open-interest, mark-price", "dtrack.venues.okx.adapter:OkxAdapter"),
    VenueInfo("deribit", "Deribit", "active", ("funding", "funding_history", "open_interest", "basis", "options"),
              "BTC/ETH inverse perpetuals and futures, USDC-margined linear perpetuals",
              "continuous accrual, quoted as an 8 h-equivalent (funding_8h)",
              "get_book_summary_by_currency (per currency)", "dtrack.venues.deribit.adapter:DeribitAdapter"),
    VenueInfo("hyperliquid", "Hyperliquid", "active", ("funding", "funding_history", "open_interest", "basis"),
              "USDC-margined perpetuals (kPEPE = 1000 PEPE)", "1 h", "metaAndAssetCtxs (all perps)",
              "dtrack.venues.hyperliquid.adapter:HyperliquidAdapter", taker_fee_pct=0.045),
    VenueInfo("dydx", "dYdX v4", "planned", (), "USDC-margined perpetuals (indexer)", "1 h",
              "perpetualMarkets", note="listed, not implemented yet; v3 is shut down"),
    VenueInfo("gmx", "GMX v2", "planned", (), "perpetual pools on Arbitrum/Avalanche",
              "continuous per-second accrual + borrow fees", "markets/info", note="listed, not implemented yet"),
    VenueInfo("drift", "Drift", "degraded", (), "Solana perpetuals", "1 h", "stats/markets",
              note="relaunching as Velocity DEX after the 2026-04-01 exploit; data API partly returns 403; "
                   "not implemented"),
    VenueInfo("bitmex", "BitMEX", "closed", (), "(none: closed)", "-", "-", closed_on="2026-09-23",
              note="BitMEX closed on 2026-09-23 04:00 UTC; no live data exists"),
)}

ACTIVE = tuple(v.name for v in VENUES.values() if v.status == "active")


def venue_info(name: str) -> VenueInfo:
    """Registry entry of a venue, or a usage error naming the known ones."""
    key = name.strip().lower()
    info = VENUES.get(key)
    if info is None:
        raise UsageError(f"unknown venue {name!r}; known venues: {', '.join(VENUES)}")
    return info


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class of an implemented venue (imported on first use)."""
    info = venue_info(name)
    if info.status == "closed":
        raise VenueClosed(f"{info.title} closed on {info.closed_on}: {info.note}")
    if info.adapter is None:
        raise UnsupportedError(f"{info.title} is {info.status}: {info.note}")
    module, _, cls = info.adapter.partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
