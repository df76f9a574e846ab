"""The venue registry: one line per venue, with its status, its hosts and its capability table.

The capability table says, per kind of data (``DataKind``), whether dtrack reads it from the venue,
over which REST endpoint or stream channel, how far back the venue keeps history, whether the feed is
sampled, and a note. ``dtrack venues``, the README venue table, the client's choice of venues and a
contract test (declared = implemented) all read it. Adapters are imported lazily (``adapter_class``)
so that listing venues or ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dtrack.errors import UnsupportedError, UsageError, VenueClosed, clip
from dtrack.records import DataKind

if TYPE_CHECKING:
    from dtrack.venues.base import Adapter


@dataclass(frozen=True, slots=True, kw_only=True)
class Capability:
    """How dtrack reads one kind of data from a venue.

    ``rest``: the endpoint (path, or ``/info type``) dtrack reads, None when it reads none; ``stream``: the
    WebSocket channel, None when dtrack does not stream it (yet); ``history``: how far back the venue keeps
    it (``"30d"``, ``"since listing"``), None for a snapshot; ``sampled``: the venue publishes a sample,
    not every event; ``note``: anything a user must know (why it is missing, what it counts); ``coverage``: for an
    event feed (liquidations), how much of it the venue publishes (``records.Coverage``: ``complete``,
    ``sampled``, ``trade-flag``), None otherwise.
    """

    rest: str | None = None
    stream: str | None = None
    history: str | None = None
    sampled: bool = False
    note: str = ""
    coverage: str | None = None

    @property
    def supported(self) -> bool:
        """dtrack reads this data from the venue (over REST or a stream)."""
        return self.rest is not None or self.stream is not None

    def to_row(self) -> dict[str, object]:
        """A flat dict (the ``capabilities`` entries of ``dtrack venues --format json``)."""
        return {"supported": self.supported, "rest": self.rest, "stream": self.stream, "history": self.history,
                "sampled": self.sampled, "note": self.note}


def _no(note: str) -> Capability:
    return Capability(note=note)


#: what each query needs from a venue
QUERY_NEEDS: Mapping[str, DataKind] = {
    "funding": DataKind.FUNDING,
    "open_interest": DataKind.OPEN_INTEREST,
    "basis": DataKind.QUOTES,
    "options": DataKind.OPTION_CHAIN,
    "book": DataKind.ORDER_BOOK,
}

NOT_YET = "not yet supported by dtrack"


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueInfo:
    """What dtrack knows about a venue."""

    name: str
    title: str
    status: str  # active | planned | degraded | halted | closed
    markets: str
    funding_intervals: str
    bulk: str
    adapter: str | None = None  # "module:Class"
    #: keys of the venue's hosts (settings ``venues.<name>.rest_urls.<host>``)
    hosts: tuple[str, ...] = ()
    #: WebSocket host key -> the real base URL (settings ``venues.<name>.ws_urls.<host>`` override it; the
    #: channel's path follows the base URL)
    ws_hosts: Mapping[str, str] = field(default_factory=dict)
    capabilities: Mapping[DataKind, Capability] = field(default_factory=dict)
    closed_on: str | None = None
    note: str = ""
    taker_fee_pct: float = 0.05  # public base-tier taker fee, percent (settings.yaml may override)

    def capability(self, kind: DataKind) -> Capability:
        """The venue's entry for ``kind`` (an unsupported one when the table has none)."""
        return self.capabilities.get(kind) or _no(self.note or NOT_YET)

    def offers(self, kind: DataKind) -> bool:
        """dtrack reads ``kind`` from this venue."""
        return self.capability(kind).supported

    def supported(self) -> tuple[str, ...]:
        """The data kinds dtrack reads from the venue, in table order."""
        return tuple(k.value for k in DataKind if self.offers(k))


def _table(**entries: Capability) -> dict[DataKind, Capability]:
    """A capability table: every ``DataKind`` gets an entry (``not yet supported`` unless given)."""
    return {k: entries.get(k.value, _no(NOT_YET)) for k in DataKind}


VENUES: dict[str, VenueInfo] = {v.name: v for v in (
    VenueInfo(
        name="binance", title="Binance", status="active",
        markets="USDⓈ-M (USDT, USDC) and COIN-M perpetuals and quarterlies",
        funding_intervals="8 h default; 4 h / 1 h per symbol from fundingInfo",
        bulk="premiumIndex (all symbols); OI per symbol", adapter="dtrack.venues.binance.adapter:BinanceAdapter",
        hosts=("usdm", "coinm", "spot", "options", "web"),
        ws_hosts={"fstream": "wss://fstream.binance.com", "dstream": "wss://dstream.binance.com"},
        capabilities=_table(
            funding=Capability(rest="/fapi/v1/premiumIndex + /fapi/v1/fundingInfo (and /dapi)",
                               stream="!markPrice@arr@1s (fstream /market/stream, dstream /stream)"),
            funding_history=Capability(rest="/fapi/v1/fundingRate (and /dapi)", history="since listing"),
            open_interest=Capability(rest="/fapi/v1/openInterest per contract (and /dapi)",
                                     note="no open-interest stream: REST only"),
            oi_history=Capability(rest="/futures/data/openInterestHist", history="30d"),
            long_short=Capability(rest="/futures/data/globalLongShortAccountRatio, topLongShortAccountRatio, "
                                       "topLongShortPositionRatio", history="30d"),
            klines=Capability(rest="/fapi/v1/klines (and /dapi)", history="since listing"),
            order_book=Capability(rest="/fapi/v1/depth (and /dapi)", note="at most 1000 levels a side"),
            margin_tiers=Capability(rest="/bapi/futures/v1/friendly/future/common/brackets (and delivery), "
                                         "www.binance.com",
                                    note="unofficial public web brackets; the official leverageBracket needs an "
                                         "API key"),
            quotes=Capability(rest="/fapi/v1/premiumIndex + /fapi/v1/ticker/24hr (and /dapi)",
                              stream="!markPrice@arr@1s (mark, index)"),
            spot=Capability(rest="/api/v3/ticker/price"),
            option_chain=Capability(rest="/eapi/v1/exchangeInfo + /eapi/v1/mark + /eapi/v1/ticker + "
                                         "/eapi/v1/openInterest + /eapi/v1/index"),
            vol_index=_no("Binance publishes no volatility index"),
            realized_vol=_no("Binance publishes no realized volatility"),
            option_trades=Capability(rest="/eapi/v1/blockTrades", note="block trades only (no public option tape)"),
            liquidations=Capability(stream="!forceOrder@arr (fstream /market/stream, dstream /stream)", sampled=True,
                                    coverage="sampled",
                                    note="sampled: Binance pushes only the latest liquidation per symbol per second "
                                         "(a total is a lower bound); side = the position liquidated (order side "
                                         "SELL = a long); price = average fill; no history (allForceOrders retired)"),
        )),
    VenueInfo(
        name="bybit", title="Bybit", status="active",
        markets="linear (USDT, USDC) and inverse perpetuals and dated futures",
        funding_intervals="fundingIntervalHour per symbol (1/2/4/8 h)",
        bulk="tickers (all symbols per category)", adapter="dtrack.venues.bybit.adapter:BybitAdapter",
        hosts=("rest",), taker_fee_pct=0.055, ws_hosts={"stream": "wss://stream.bybit.com"},
        capabilities=_table(
            funding=Capability(rest="/v5/market/tickers", stream="tickers.{symbol}"),
            funding_history=Capability(rest="/v5/market/funding/history", history="since listing"),
            open_interest=Capability(rest="/v5/market/tickers", stream="tickers.{symbol}",
                                     note="singleOpenInterest (one side); openInterest is two-sided"),
            oi_history=Capability(rest="/v5/market/open-interest", history="since listing"),
            long_short=Capability(rest="/v5/market/account-ratio"),
            klines=Capability(rest="/v5/market/kline", history="since listing",
                              note="volume: linear in the coin, turnover in the quote; inverse volume in USD"),
            order_book=Capability(rest="/v5/market/orderbook",
                                  note="at most 500 levels a side; inverse sizes in USD (converted to coins at each "
                                       "level's price)"),
            margin_tiers=Capability(rest="/v5/market/risk-limit",
                                    note="riskLimitValue is a tier's cap (USDT/USDC notional; coins for inverse); "
                                         "mmDeduction read, \"\" on the lowest tier = 0; cursor pages followed"),
            quotes=Capability(rest="/v5/market/tickers", stream="tickers.{symbol}"),
            spot=Capability(rest="/v5/market/tickers?category=spot"),
            option_chain=Capability(rest="/v5/market/tickers?category=option"),
            vol_index=_no("Bybit publishes no volatility index"),
            realized_vol=Capability(rest="/v5/market/historical-volatility"),
            option_trades=Capability(rest="/v5/market/recent-trade?category=option",
                                     note="recent trades only (the venue caps the count)"),
            liquidations=Capability(stream="allLiquidation.{symbol}", coverage="complete",
                                    note="complete (every liquidation, per Bybit), pushed every 500 ms; S is the "
                                         "position side (Buy = a long liquidated); price = bankruptcy price; no REST"),
        )),
    VenueInfo(
        name="okx", title="OKX", status="active",
        markets="USDT-, USDC- and USD-margined swaps and dated futures",
        funding_intervals="nextFundingTime - fundingTime (8 h default, can be shorter)",
        bulk="funding-rate?instId=ANY, open-interest, mark-price", adapter="dtrack.venues.okx.adapter:OkxAdapter",
        hosts=("rest",), ws_hosts={"ws": "wss://ws.okx.com:8443"},
        capabilities=_table(
            funding=Capability(rest="/api/v5/public/funding-rate",
                               stream="funding-rate (+ mark-price, open-interest) per instId"),
            funding_history=Capability(rest="/api/v5/public/funding-rate-history", history="92d"),
            open_interest=Capability(rest="/api/v5/public/open-interest",
                                     stream="open-interest (+ mark-price) per instId"),
            oi_history=Capability(rest="/api/v5/rubik/stat/contracts/open-interest-history",
                                  history="1,440 points per period"),
            long_short=Capability(rest="/api/v5/rubik/stat/contracts/long-short-account-ratio(-contract)"),
            klines=Capability(rest="/api/v5/market/candles + history-candles", history="since listing",
                              note="volCcy in the coin, volCcyQuote in the quote; confirm marks the open bar"),
            order_book=Capability(rest="/api/v5/market/books",
                                  note="at most 400 levels a side; sizes in contracts, converted to coins (inverse: "
                                       "at each level's price)"),
            margin_tiers=Capability(rest="/api/v5/public/position-tiers (isolated)",
                                    note="tiers in CONTRACTS (minSz/maxSz), not notional; no deduction: a tier's mmr "
                                         "applies to the whole position"),
            quotes=Capability(rest="/api/v5/public/mark-price + /api/v5/market/index-tickers + tickers",
                              stream="mark-price per instId (mark only)"),
            spot=Capability(rest="/api/v5/market/tickers?instType=SPOT"),
            option_chain=Capability(rest="/api/v5/public/opt-summary + mark-price + open-interest + tickers"),
            vol_index=_no("OKX publishes no volatility index dtrack reads"),
            realized_vol=_no("OKX publishes no realized volatility"),
            option_trades=Capability(rest="/api/v5/public/option-trades", note="the latest 100 trades"),
            liquidations=Capability(stream="liquidation-orders (instType SWAP, FUTURES)", sampled=True,
                                    coverage="sampled",
                                    note="sampled: at most one order per contract per second, 'not the total' (a "
                                         "total is a lower bound); side from posSide, else the order side; price = "
                                         "bankruptcy price; the backlog pushed on subscribing is handed on once"),
        )),
    VenueInfo(
        name="deribit", title="Deribit", status="active",
        markets="BTC/ETH inverse perpetuals and futures, USDC-margined linear perpetuals",
        funding_intervals="continuous accrual, quoted as an 8 h-equivalent (funding_8h)",
        bulk="get_book_summary_by_currency (per currency)", adapter="dtrack.venues.deribit.adapter:DeribitAdapter",
        hosts=("rest",), ws_hosts={"ws": "wss://www.deribit.com"},
        capabilities=_table(
            funding=Capability(rest="/api/v2/public/get_book_summary_by_currency",
                               stream="ticker.{instrument}.100ms"),
            funding_history=Capability(rest="/api/v2/public/get_funding_rate_history", history="since listing"),
            open_interest=Capability(rest="/api/v2/public/get_book_summary_by_currency",
                                     stream="ticker.{instrument}.100ms"),
            oi_history=_no("Deribit publishes no open-interest history"),
            long_short=_no("Deribit publishes no long/short ratio"),
            klines=Capability(rest="/api/v2/public/get_tradingview_chart_data", history="since listing",
                              note="volume in the base coin, cost in the quote currency (USD / USDC); no 4 h bars"),
            quotes=Capability(rest="/api/v2/public/get_book_summary_by_currency + get_index_price",
                              stream="ticker.{instrument}.100ms"),
            spot=_no("Deribit has no spot market in dtrack"),
            option_chain=Capability(rest="/api/v2/public/get_book_summary_by_currency?kind=option"),
            vol_index=Capability(rest="/api/v2/public/get_volatility_index_data", history="since 2021"),
            realized_vol=Capability(rest="/api/v2/public/get_historical_volatility", history="about 16 days, hourly"),
            option_trades=Capability(rest="/api/v2/public/get_last_trades_by_currency",
                                     note="the latest 1,000 trades per currency"),
            liquidations=Capability(stream="trades.{instrument}.100ms (trades flagged liquidation M/T/MT)",
                                    coverage="trade-flag",
                                    note="trade flags: every liquidation that fills in the book; MT (both sides) is "
                                         "two events; price = the trade's"),
            order_book=Capability(rest="/api/v2/public/get_order_book",
                                  note="depth 1 to 10,000 levels a side; amounts in USD for inverse contracts "
                                       "(converted to coins at each level's price), in the base coin for linear ones"),
            margin_tiers=_no("Deribit publishes no margin tier table: its margin is a formula of the position size "
                             "(linear BTC perpetual: maintenance 1 % + 0.005 % per BTC of position, initial 2 % + "
                             "0.005 % per BTC), computed by dtrack's margin analytics, not read from the venue"),
        )),
    VenueInfo(
        name="hyperliquid", title="Hyperliquid", status="active",
        markets="USDC-margined perpetuals (kPEPE = 1000 PEPE)", funding_intervals="1 h",
        bulk="metaAndAssetCtxs (all perps)", adapter="dtrack.venues.hyperliquid.adapter:HyperliquidAdapter",
        hosts=("rest",), taker_fee_pct=0.045, ws_hosts={"ws": "wss://api.hyperliquid.xyz"},
        capabilities=_table(
            funding=Capability(rest="/info metaAndAssetCtxs + predictedFundings", stream="activeAssetCtx {coin}"),
            funding_history=Capability(rest="/info fundingHistory", history="since listing"),
            open_interest=Capability(rest="/info metaAndAssetCtxs", stream="activeAssetCtx {coin}"),
            oi_history=_no("Hyperliquid publishes no open-interest history"),
            long_short=_no("Hyperliquid publishes no long/short ratio"),
            klines=Capability(rest="/info candleSnapshot", history="5,000 candles",
                              note="volume in coins (x 1000 for kPEPE); no USD volume"),
            quotes=Capability(rest="/info metaAndAssetCtxs", stream="activeAssetCtx {coin}"),
            spot=_no("Hyperliquid spot is not read by dtrack"),
            option_chain=_no("Hyperliquid lists no options"),
            vol_index=_no("Hyperliquid lists no options"),
            realized_vol=_no("Hyperliquid publishes no realized volatility"),
            option_trades=_no("Hyperliquid lists no options"),
            liquidations=_no("Hyperliquid publishes no market-wide liquidation feed"),
            order_book=Capability(rest="/info l2Book",
                                  note="at most 20 levels a side whatever the depth asked (the venue's cap)"),
            margin_tiers=Capability(rest="/info meta (marginTables)",
                                    note="mmr = 1 / (2 x the tier's max leverage), deduction for continuity; table "
                                         "ids under 50: one tier at that leverage"),
        )),
    VenueInfo(
        name="dydx", title="dYdX v4", status="active", markets="USDC-margined perpetuals (indexer; v3 is shut down)",
        funding_intervals="1 h (nextFundingRate is a 1-hour rate)",
        bulk="perpetualMarkets (all markets)", adapter="dtrack.venues.dydx.adapter:DydxAdapter",
        hosts=("rest",), taker_fee_pct=0.05, ws_hosts={"ws": "wss://indexer.dydx.trade"},
        capabilities=_table(
            funding=Capability(rest="/v4/perpetualMarkets",
                               note="nextFundingRate: the indexer's 1-hour rate of the next whole-hour settlement"),
            funding_history=Capability(rest="/v4/historicalFunding/{ticker}", history="since listing"),
            open_interest=Capability(rest="/v4/perpetualMarkets",
                                     note="openInterest: coins, one side (the longs) x oraclePrice"),
            oi_history=Capability(rest="/v4/candles/perpetualMarkets/{ticker} (startingOpenInterest)",
                                  history="since listing"),
            long_short=_no("dYdX publishes no long/short ratio"),
            klines=Capability(rest="/v4/candles/perpetualMarkets/{ticker}", history="since listing"),
            quotes=Capability(rest="/v4/perpetualMarkets + /v4/orderbooks/perpetualMarket/{ticker}",
                              note="index = oraclePrice (dYdX marks at it: no separate mark); last = order-book mid"),
            spot=_no("dYdX has no spot market"),
            option_chain=_no("dYdX lists no options"),
            vol_index=_no("dYdX lists no options"),
            realized_vol=_no("dYdX publishes no realized volatility"),
            option_trades=_no("dYdX lists no options"),
            liquidations=Capability(stream="v4_trades {ticker} (trades of type LIQUIDATED)", coverage="trade-flag",
                                    note="trade flags: every liquidation order's fill (the liquidated account is "
                                         "the taker: SELL = a long); DELEVERAGED fills (ADL, final settlement) not "
                                         "counted; price = the trade's; the backlog sent on subscribing is "
                                         "de-duplicated by trade id"),
            order_book=Capability(rest="/v4/orderbooks/perpetualMarket/{ticker}",
                                  note="at most 100 levels a side (the indexer's cap; no depth parameter)"),
            margin_tiers=Capability(rest="/v4/perpetualMarkets",
                                    note="one tier per market: initial and maintenance margin fractions; the initial "
                                         "one scales with open interest between openInterestLowerCap and UpperCap "
                                         "(OIMF)"),
        )),
    VenueInfo(
        name="gmx", title="GMX v2", status="active",
        markets="perpetual pools on Arbitrum and Avalanche (several pools per asset)",
        funding_intervals="continuous per-second accrual (8 h-equivalent = x 28,800) + borrow fees per side",
        bulk="markets/info + markets/tickers (all markets of a chain)", adapter="dtrack.venues.gmx.adapter:GmxAdapter",
        hosts=("arbitrum", "avalanche"), taker_fee_pct=0.06,
        capabilities=_table(
            funding=Capability(rest="/v1/markets/info + /v1/markets/tickers",
                               note="fundingFactorPerSecond (paid by the larger side) and borrow per side, "
                                    "shown apart"),
            funding_history=Capability(rest="/v1/rates?period=&address=",
                                       history="the API's period=total, depth UNCONFIRMED",
                                       sampled=True,
                                       note="snapshots of the paying side's funding (no settlements), 8 h-equivalent; "
                                            "per-second factors x 1e30 as the GMX interface's rate chart reads them "
                                            "(gmx-interface NetRateChart.tsx); borrow kept out"),
            open_interest=Capability(rest="/v1/markets/info + /v1/markets/tickers",
                                     note="longs + shorts in USD, each side shown (both face the pool)"),
            oi_history=_no("GMX publishes no open-interest history dtrack reads"),
            long_short=_no("GMX publishes open interest per side (see open interest), not a long/short ratio"),
            klines=_no(NOT_YET),
            quotes=Capability(rest="/v1/markets/tickers", note="the index token's oracle mark price"),
            spot=_no("GMX spot swaps are not read by dtrack"),
            option_chain=_no("GMX lists no options"),
            vol_index=_no("GMX lists no options"),
            realized_vol=_no("GMX publishes no realized volatility"),
            option_trades=_no("GMX lists no options"),
            liquidations=_no("GMX publishes no liquidation feed over REST"),
        )),
    VenueInfo(name="drift", title="Drift", status="halted", markets="Solana perpetuals (none trading)",
              funding_intervals="1 h", bulk="-",
              note="halted since the 2026-04-01 exploit (Drift's data API answers 403); relaunching as Velocity, a new "
                   "deployment (USDT quote) whose data API host is not final: dtrack reads nothing until it is "
                   "(README: Drift -> Velocity)"),
    VenueInfo(name="bitmex", title="BitMEX", status="closed", markets="(none: closed)", funding_intervals="-",
              bulk="-", closed_on="2026-09-23", note="BitMEX closed on 2026-09-23 04:00 UTC; no live data exists"),
)}

ACTIVE = tuple(v.name for v in VENUES.values() if v.status == "active")


def venue_info(name: str) -> VenueInfo:
    """Registry entry of a venue, or a usage error naming the known ones."""
    key = name.strip().lower()
    info = VENUES.get(key)
    if info is None:
        raise UsageError(f"unknown venue {clip(name)!r}; known venues: {', '.join(VENUES)}")
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
