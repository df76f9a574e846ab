"""Simulated Binance USDⓈ-M (``/binance/usdm`` = fapi), COIN-M (``/binance/coinm`` = dapi) and spot
(``/binance/spot`` = api.binance.com, spot prices only).

Serves, in Binance's wire format (numbers as strings where Binance sends strings, ms integers
for times, ``{"code": -1121, "msg": "Invalid symbol."}`` with HTTP 400 for unknown symbols), from
the market model:

- futures hosts: ``exchangeInfo``, ``premiumIndex``, ``fundingInfo``, ``openInterest``,
  ``fundingRate``, ``klines``, ``depth``, ``ticker/price`` (``/fapi/v2`` on USDⓈ-M), ``ticker/24hr`` (the
  sums of the last 24 hourly klines) and ``/futures/data/openInterestHist``; USDⓈ-M also the three long/short statistics
  (``globalLongShortAccountRatio``, ``topLongShortAccountRatio``, ``topLongShortPositionRatio``);
- spot: ``/api/v3/ticker/price`` (every symbol, ``symbol=`` or ``symbols=["..."]``);
- options (``/binance/options`` = eapi): ``/eapi/v1/exchangeInfo``, ``mark``, ``ticker``,
  ``openInterest`` (per underlying asset and expiry), ``index`` and ``blockTrades``.

Paging like Binance: ``fundingRate`` gives the FIRST ``limit`` settlements from ``startTime``
(default 100, at most 1000) or the last ``limit`` when no ``startTime``; USDⓈ-M ``klines`` the
first ``limit`` candles from ``startTime`` (default 500, at most 1500), COIN-M ``klines`` the most
recent ``limit`` up to ``endTime`` within at most 200 days; the ``/futures/data`` statistics
(default 30, at most 500 rows, ascending) keep the latest 30 days only and refuse an older
``startTime`` with -1130. Every answer carries ``X-MBX-USED-WEIGHT-1M``: the weight this host
received in the current wall-clock minute, so the client's header reading is exercised.

Prices and base-coin amounts are sent at full float precision (Binance rounds to the symbol's
tick), except the last traded price (``ticker/price``), which lies on the symbol's tick; COIN-M
open interest is whole contracts, as on Binance. Long/short shares have 4 decimals, as Binance's.

The instrument lists hold the model's perpetuals and its quarterlies (``BTCUSDT_YYMMDD`` /
``BTCUSD_YYMMDD``, ``CURRENT_QUARTER`` / ``NEXT_QUARTER``, delivering on the last Friday of the
quarter at 08:00 UTC), and one symbol per host not in trading status, which dtrack must ignore
(USDⓈ-M ``SOLUSDC`` perpetual and COIN-M ``SUIUSD_PERP``, both ``PENDING_TRADING``). premiumIndex
shows quarterlies as the docs show delivery contracts (``"lastFundingRate": ""``,
``"interestRate": ""``, ``"nextFundingTime": 0``): in COIN-M's bulk answer, and on USDⓈ-M only
by ``?symbol=`` (whether USDⓈ-M's bulk answer lists them is UNCONFIRMED: the sim takes the
stricter reading). COIN-M ``openInterestHist`` is per ``pair`` and ``contractType``: a quarterly
series is whichever contract had that type at each time (it moves at every quarterly roll).

Options: ``OptionsModel`` has no Binance market, so the chain is built from its public pieces: the
Bybit market's listing (expiries on its daily/Friday/month-end/quarterly calendar, strikes, smile IVs,
open interest and 24 h volume, 1-coin contracts) renamed to Binance's ``BTC-260925-100000-C`` and
re-priced on Binance's terms: USDT per contract of ``unit`` 1 coin, Black-76 on the spot INDEX with
``riskFreeInterest`` 0 (what dtrack reads as the underlying price), greeks in the conventions Binance
shares with Deribit (delta, gamma per USD, vega USD per vol point, theta USD per day); a side without a
bid sends bidIV ``-0.00000001`` as in the real capture. Best bid/ask lie on the tick (bid down, ask up).
blockTrades serves the model's block trades of the last ``BLOCK_LOOKBACK_MS`` (at the trade's IV on
the index at that time), the latest ``limit`` ascending, ``side`` 1 / -1 with the sign of ``qty`` and
``quoteQty`` following it as in the docs example.

Web brackets (host ``web`` = www.binance.com, GET or POST): ``/bapi/futures/v1/friendly/future/common/brackets``
(USDⓈ-M, floors/caps/cum in USD(T) notional) and ``.../delivery/common/brackets`` (COIN-M, in coins), in the web
envelope ``{"code": "000000", "data": {"brackets": [...]}, "success": true}`` with bare JSON numbers, one row per
trading contract of BTC, ETH, SOL and PEPE (``BRACKETS``), ``cum`` following Binance's continuity rule.

Order book (``depth``, USDⓈ-M and COIN-M): ``limit`` levels a side (5, 10, 20, 50, 100, 500 or 1000; default
500) of the model's book around the contract's mark (``MarketModel.book``), prices on the symbol's tick,
quantities in the base coin (USDⓈ-M, on the lot) or whole contracts (COIN-M), as the real captures.

Faults and quirks come from the server's ``Faults`` (``dtrack.sim.faults``), read on every request: its
``interval_switches`` (a symbol Binance moved to another interval at runtime: every endpoint follows it),
``stale_intervals`` (fundingInfo reporting an interval the schedule no longer has) and ``page_caps`` of
``fundingRate`` (fewer rows than ``limit`` asked). The server answers faults in Binance's format
(``fault_answer``): ``{"code": -1003, "msg": ...}`` with HTTP 429 and ``Retry-After``, or HTTP 418 (an IP ban,
``Retry-After`` the ban's length); HTTP 451 with Binance's restricted-location message; 5xx with -1000; other
4xx with -1130.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from dtrack.sim import calendar as cal
from dtrack.sim.faults import Faults
from dtrack.sim.model import ASSETS, DAY_MS, HOUR_MS, MarketModel, SimFuture, SimPerp
from dtrack.sim.options import OptionsModel, SimOption, SimOptionQuote
from dtrack.sim.options import OptionTrade as SimOptionTrade
from dtrack.sim.server import RETRY_AFTER_418, RETRY_AFTER_429, SimHttpError, SimReply, SimRequest, SimRoutes

VENUE = "binance"
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
PREFIX = {"usdm": "/fapi/v1", "coinm": "/dapi/v1"}
FAR_DELIVERY_MS = 4133404800000  # deliveryDate Binance gives perpetuals (2100-12-25)
ONBOARD_MS = 1569398400000
#: fundingRate page size: default 100, at most ``LIMIT_MAX`` (``Faults.page_caps`` may cap it lower, to show a
#: client does not take a short page for the end of the data).
LIMIT_DEFAULT, LIMIT_MAX = 100, 1000
KLINES_DEFAULT, KLINES_MAX = 500, 1500
STATS_DEFAULT, STATS_MAX, STATS_DAYS = 30, 500, 30
COINM_KLINES_SPAN_MS = 200 * DAY_MS
#: order book ``limit`` values Binance accepts (default 500)
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
DEPTH_DEFAULT = 500
#: 8 h symbols listed in fundingInfo anyway (a cap/floor adjustment), like BTCUSD_PERP in the
#: COIN-M docs example and GTCUSDT in the real USDⓈ-M fragment.
CAP_ADJUSTED_8H = frozenset({"BTCUSD_PERP", "ETHUSDC"})
#: ``period`` of the statistics and ``interval`` of klines, in ms (those dtrack and tests use).
PERIOD_MS = {"5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": HOUR_MS, "2h": 2 * HOUR_MS,
             "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS, "12h": 12 * HOUR_MS, "1d": DAY_MS}
KLINE_MS = {"1m": 60_000, **PERIOD_MS}
#: The long/short statistics: path -> the model's name of what is counted.
LONG_SHORT = {"/futures/data/globalLongShortAccountRatio": "global accounts",
              "/futures/data/topLongShortAccountRatio": "top accounts",
              "/futures/data/topLongShortPositionRatio": "top positions"}
#: CoinMarketCap circulating supply USDⓈ-M openInterestHist rows carry (about right; not used by dtrack).
SUPPLY = {"BTC": 19_950_000.0, "ETH": 120_700_000.0, "SOL": 540_000_000.0, "PEPE": 420_690_000_000_000.0}

Contract = SimPerp | SimFuture
Handler = Callable[[SimRequest], Any]


@dataclass(slots=True)
class WeightMeter:
    """Request weight received per wall-clock minute (Binance's ``X-MBX-USED-WEIGHT-1M``)."""

    clock: Callable[[], float] = time.time
    minute: int = -1
    used: int = 0

    def add(self, weight: int) -> int:
        """Count ``weight`` in the current minute; the minute's total so far."""
        now = int(self.clock() // 60)
        if now != self.minute:
            self.minute, self.used = now, 0
        self.used += weight
        return self.used


@dataclass(slots=True)
class Host:
    """One simulated futures host: its contracts and weight meter."""

    model: MarketModel
    host: str
    meter: WeightMeter = field(default_factory=WeightMeter)
    faults: Faults = field(default_factory=Faults)

    @property
    def perps(self) -> list[SimPerp]:
        """The host's perpetuals, with the funding interval each has now (``Faults.interval_switches``)."""
        return [replace(p, interval_h=self.faults.interval(VENUE, p.symbol, p.interval_h))
                for p in self.model.perps(VENUE, self.host)]

    def futures(self, now_ms: int) -> list[SimFuture]:
        """The quarterlies listed at ``now_ms``, by asset and expiry."""
        return self.model.futures(VENUE, now_ms, self.host)

    def perp(self, symbol: str | None, used: int) -> SimPerp:
        perp = next((p for p in self.perps if p.symbol == symbol), None)
        if perp is None:
            raise _error(400, -1121, "Invalid symbol.", used)
        return perp

    def contract(self, symbol: str | None, now_ms: int, used: int) -> Contract:
        """A perpetual or a listed quarterly by symbol."""
        future = next((f for f in self.futures(now_ms) if f.symbol == symbol), None)
        return future if future is not None else self.perp(symbol, used)

    def contract_type(self, c: Contract, now_ms: int) -> str:
        """PERPETUAL, or CURRENT_QUARTER / NEXT_QUARTER by the quarterly's rank among its pair's."""
        if isinstance(c, SimPerp):
            return "PERPETUAL"
        same = [f.symbol for f in self.futures(now_ms) if _pair(f) == _pair(c)]
        return "CURRENT_QUARTER" if same.index(c.symbol) == 0 else "NEXT_QUARTER"

    def of_type(self, pair: str, contract_type: str, t_ms: int) -> Contract | None:
        """The contract of ``pair`` that had ``contract_type`` at ``t_ms`` (a quarterly series rolls)."""
        if contract_type == "PERPETUAL":
            return next((p for p in self.perps if _pair(p) == pair), None)
        dated = [f for f in self.futures(t_ms) if _pair(f) == pair]
        rank = {"CURRENT_QUARTER": 0, "NEXT_QUARTER": 1}.get(contract_type)
        return dated[rank] if rank is not None and rank < len(dated) else None


def _error(status: int, code: int, msg: str, used: int) -> SimHttpError:
    return SimHttpError(status, {"code": code, "msg": msg}, {USED_WEIGHT_HEADER: str(used)})


def _dec(x: float) -> str:
    """A float as a plain decimal string (never exponent notation, as Binance sends)."""
    return format(Decimal(repr(x)), "f")


def _rate(x: float) -> str:
    return f"{x:.8f}"


def _int_param(req: SimRequest, key: str, used: int) -> int | None:
    raw = req.query.get(key)
    if raw is None:
        return None
    if not raw.isdigit():
        raise _error(400, -1130, f"Data sent for parameter '{key}' is not valid.", used)
    return int(raw)


def _required(req: SimRequest, key: str, used: int) -> str:
    value = req.query.get(key)
    if not value:
        raise _error(400, -1102, f"Mandatory parameter '{key}' was not sent, was empty/null, or malformed.", used)
    return value


def _step(req: SimRequest, key: str, table: dict[str, int], used: int) -> int:
    step = table.get(_required(req, key, used))
    if step is None:
        raise _error(400, -1120 if key == "interval" else -1130,
                     "Invalid interval." if key == "interval" else f"Data sent for parameter '{key}' is not valid.",
                     used)
    return step


def _pair(c: Contract) -> str:
    """``BTCUSDT`` for BTCUSDT and BTCUSDT_260925, ``BTCUSD`` for BTCUSD_PERP and BTCUSD_260925."""
    return c.symbol.split("_")[0]


def _base_asset(c: Contract) -> str:
    return f"{c.multiplier:.0f}{c.asset}" if c.multiplier != 1 else c.asset


def _tick(h: Host, c: Contract) -> str:
    """Price tick of a contract: 0.1 on COIN-M, 0.0000001 for multiplier symbols, else 0.01."""
    if h.host == "coinm":
        return "0.1"
    return "0.0000001" if c.multiplier != 1 else "0.01"


def _on_tick(x: float, tick: str) -> str:
    """``x`` rounded to a tick, as a plain decimal string (a traded price)."""
    step = Decimal(tick)
    return format(Decimal(round(x / float(step))) * step, "f")


# --- pending listings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pending:
    """A listed perpetual not yet trading: its symbol and asset, and the perpetual whose terms it copies."""

    symbol: str
    asset: str
    quote: str
    like: str


PENDING = {"usdm": _Pending("SOLUSDC", "SOL", "USDC", "SOLUSDT"), "coinm": _Pending("SUIUSD_PERP", "SUI", "USD",
                                                                                      "SOLUSD_PERP")}


def _pending_row(h: Host) -> dict[str, Any]:
    d = PENDING[h.host]
    like = next(p for p in h.model.perps(VENUE, h.host) if p.symbol == d.like)
    pending = replace(like, symbol=d.symbol, asset=d.asset, quote=d.quote)
    row = _symbol_row(h, pending, 0)
    row["status" if h.host == "usdm" else "contractStatus"] = "PENDING_TRADING"
    return row


# --- wire objects -------------------------------------------------------------------------------


def _filters(tick: str, step: str) -> list[dict[str, Any]]:
    return [
        {"minPrice": tick, "maxPrice": "1000000", "filterType": "PRICE_FILTER", "tickSize": tick},
        {"stepSize": step, "filterType": "LOT_SIZE", "maxQty": "1000000", "minQty": step},
        {"stepSize": step, "filterType": "MARKET_LOT_SIZE", "maxQty": "100000", "minQty": step},
        {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
        {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
        {"multiplierDown": "0.8500", "multiplierUp": "1.1500", "multiplierDecimal": "4",
         "filterType": "PERCENT_PRICE"},
    ]


_ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET"]
_TIME_IN_FORCE = ["GTC", "IOC", "FOK", "GTX"]


def _usdm_symbol(c: Contract) -> dict[str, Any]:
    filters = _filters("0.0000001", "1") if c.multiplier != 1 else _filters("0.01", "0.001")
    filters.append({"notional": "5", "filterType": "MIN_NOTIONAL"})
    return {
        "symbol": c.symbol, "pair": _pair(c), "contractType": "PERPETUAL", "deliveryDate": FAR_DELIVERY_MS,
        "onboardDate": ONBOARD_MS, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": _base_asset(c), "quoteAsset": c.quote,
        "marginAsset": c.quote, "pricePrecision": 7 if c.multiplier != 1 else 2,
        "quantityPrecision": 0 if c.multiplier != 1 else 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "filters": filters,
        "orderTypes": _ORDER_TYPES, "timeInForce": _TIME_IN_FORCE,
    }


def _coinm_symbol(c: Contract) -> dict[str, Any]:
    return {
        "symbol": c.symbol, "pair": _pair(c), "contractType": "PERPETUAL", "deliveryDate": FAR_DELIVERY_MS,
        "onboardDate": ONBOARD_MS, "contractStatus": "TRADING", "contractSize": int(c.contract_size),
        "marginAsset": c.asset, "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": _base_asset(c), "quoteAsset": "USD", "pricePrecision": 1, "quantityPrecision": 0,
        "baseAssetPrecision": 8, "quotePrecision": 8, "equalQtyPrecision": 4, "maxMoveOrderLimit": 10000,
        "triggerProtect": "0.0500", "underlyingType": "COIN", "underlyingSubType": [],
        "filters": _filters("0.1", "1"), "orderTypes": _ORDER_TYPES, "timeInForce": _TIME_IN_FORCE,
        "liquidationFee": "0.010000", "marketTakeBound": "0.05",
    }


def _symbol_row(h: Host, c: Contract, now_ms: int) -> dict[str, Any]:
    """One exchangeInfo symbol: a trading perpetual, or a quarterly with its type and delivery."""
    row = _coinm_symbol(c) if h.host == "coinm" else _usdm_symbol(c)
    if isinstance(c, SimFuture):
        # listed at the roll two quarters before delivery, as the real capture's NEXT_QUARTER rows
        row.update({"contractType": h.contract_type(c, now_ms), "deliveryDate": c.expiry_ms,
                    "onboardDate": c.expiry_ms - 182 * DAY_MS})
    return row


def _rate_limits(host: str) -> list[dict[str, Any]]:
    limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
              {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}]
    if host == "usdm":
        limits.append({"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300})
    return limits


def _exchange_info(h: Host, now_ms: int) -> dict[str, Any]:
    contracts: list[Contract] = [*h.perps, *h.futures(now_ms)]
    symbols = [_symbol_row(h, c, now_ms) for c in contracts] + [_pending_row(h)]
    if h.host == "coinm":
        return {"timezone": "UTC", "serverTime": now_ms, "rateLimits": _rate_limits(h.host), "exchangeFilters": [],
                "symbols": symbols}
    assets = sorted({p.quote for p in h.perps})
    return {"timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
            "rateLimits": _rate_limits(h.host), "exchangeFilters": [],
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets],
            "symbols": symbols}


def premium_row(h: Host, c: Contract, now_ms: int) -> dict[str, Any]:
    """A premiumIndex row: a perpetual's funding, or a quarterly's prices with empty funding fields."""
    model = h.model
    index = model.index_price(c.asset, now_ms) * c.multiplier
    row: dict[str, Any] = {"symbol": c.symbol}
    if h.host == "coinm":
        row["pair"] = _pair(c)
    if isinstance(c, SimFuture):
        funding: dict[str, Any] = {"lastFundingRate": "", "interestRate": "", "nextFundingTime": 0}
    else:
        rate, next_ms = model.current_funding(c, now_ms)
        funding = {"lastFundingRate": _rate(rate), "interestRate": "0.00010000", "nextFundingTime": next_ms}
    row.update({"markPrice": _dec(model.contract_mark(c, now_ms)), "indexPrice": _dec(index),
                "estimatedSettlePrice": _dec(index), **funding, "time": now_ms})
    return row


def _contracts_held(h: Host, c: Contract, t_ms: int) -> int:
    """COIN-M open interest: whole contracts of contractSize USD."""
    return round(h.model.open_interest_base(c, t_ms) * h.model.contract_mark(c, t_ms) / c.contract_size)


def _open_interest(h: Host, c: Contract, now_ms: int) -> dict[str, Any]:
    if h.host == "coinm":
        return {"symbol": c.symbol, "pair": _pair(c), "openInterest": str(_contracts_held(h, c, now_ms)),
                "contractType": h.contract_type(c, now_ms), "time": now_ms}
    return {"symbol": c.symbol, "openInterest": _dec(h.model.open_interest_base(c, now_ms)), "time": now_ms}


def _oi_hist_row(h: Host, c: Contract, contract_type: str, t_ms: int) -> dict[str, Any]:
    """USDⓈ-M: base coin and USD value; COIN-M: contracts and base-coin value."""
    mark = h.model.contract_mark(c, t_ms)
    if h.host == "coinm":
        held = _contracts_held(h, c, t_ms)
        return {"pair": _pair(c), "contractType": contract_type, "sumOpenInterest": str(held),
                "sumOpenInterestValue": _dec(held * c.contract_size / mark), "timestamp": t_ms}
    base = h.model.open_interest_base(c, t_ms)
    return {"symbol": c.symbol, "sumOpenInterest": _dec(base), "sumOpenInterestValue": _dec(base * mark),
            "CMCCirculatingSupply": _dec(SUPPLY.get(c.asset, 0.0)), "timestamp": t_ms}


def _kline(h: Host, c: Contract, open_ms: int, step: int) -> list[Any]:
    """``[openTime, o, h, l, c, volume, closeTime, quote volume, trades, taker base, taker quote, ignore]``;
    COIN-M volumes are contracts and base coin."""
    o, hi, lo, close = h.model.candle(c, open_ms, step)
    base = h.model.open_interest_base(c, open_ms) * 0.03 * step / HOUR_MS  # traded in the candle
    if h.host == "coinm":
        held = round(base * close / c.contract_size)
        volume, quote = str(held), _dec(held * c.contract_size / close)
        taker, taker_quote = str(held // 2), _dec(held // 2 * c.contract_size / close)
    else:
        volume, quote = _dec(round(base, 3)), _dec(round(base * close, 5))
        taker, taker_quote = _dec(round(base / 2, 3)), _dec(round(base * close / 2, 5))
    return [open_ms, _dec(o), _dec(hi), _dec(lo), _dec(close), volume, open_ms + step - 1, quote,
            max(1, int(base * 10) % 100_000), taker, taker_quote, "0"]


def _day_ticker(h: Host, c: Contract, now_ms: int) -> dict[str, Any]:
    """A ``ticker/24hr`` row: the rolling 24 h statistics of the contract's hourly klines (the 24 candles up to
    the current one), so ``volume`` (USDⓈ-M base coins, COIN-M contracts) and ``quoteVolume`` (USDⓈ-M) or
    ``baseVolume`` (COIN-M coins) are the sums of the klines' columns; the last price is ``ticker/price``'s."""
    first = now_ms - now_ms % HOUR_MS - 23 * HOUR_MS
    rows = [_kline(h, c, first + k * HOUR_MS, HOUR_MS) for k in range(24)]
    volume, second = sum(float(r[5]) for r in rows), sum(float(r[7]) for r in rows)
    last = _on_tick(h.model.contract_mark(c, now_ms), _tick(h, c))
    open_ = float(rows[0][1])
    if h.host == "coinm":
        avg = volume * c.contract_size / second if second > 0 else float(last)
        volumes: dict[str, Any] = {"volume": str(round(volume)), "baseVolume": _dec(round(second, 8))}
    else:
        avg = second / volume if volume > 0 else float(last)
        volumes = {"volume": _dec(round(volume, 3)), "quoteVolume": _dec(round(second, 5))}
    return {"symbol": c.symbol, **({"pair": _pair(c)} if h.host == "coinm" else {}),
            "priceChange": _dec(float(last) - open_), "priceChangePercent": f"{(float(last) / open_ - 1) * 100:.3f}",
            "weightedAvgPrice": _dec(avg), "lastPrice": last, "lastQty": "1", "openPrice": _dec(open_),
            "highPrice": _dec(max(float(r[2]) for r in rows)), "lowPrice": _dec(min(float(r[3]) for r in rows)),
            **volumes, "openTime": first, "closeTime": now_ms, "firstId": 1,
            "lastId": sum(int(r[8]) for r in rows), "count": sum(int(r[8]) for r in rows)}


def _funding_row(model: MarketModel, p: SimPerp, t: int, rate: float) -> dict[str, Any]:
    if p.host == "coinm":  # the COIN-M endpoint has no markPrice
        return {"symbol": p.symbol, "fundingTime": t, "fundingRate": _rate(rate)}
    return {"symbol": p.symbol, "fundingRate": _rate(rate), "fundingTime": t,
            "markPrice": _dec(model.mark_price(p, t))}


def _settlements(model: MarketModel, p: SimPerp, start: int | None, end: int, limit: int) -> list[tuple[int, float]]:
    """Binance's window: first ``limit`` from ``start``, or the last ``limit`` up to ``end``."""
    if start is not None:
        step = p.interval_h * HOUR_MS
        return model.settlements(p, start, min(end, start + limit * step))[:limit]
    lookback = (limit + 1) * p.interval_h * HOUR_MS
    return model.settlements(p, end - lookback, end)[-limit:]


def _grid(lo: int, hi: int, step: int) -> range:
    """The multiples of ``step`` in ``[lo, hi]``."""
    return range(-(-lo // step) * step, hi // step * step + 1, step)


def _stat_times(req: SimRequest, step: int, used: int) -> Sequence[int]:
    """Times of a /futures/data statistic: period boundaries in the window, the latest 30 days only
    (an older ``startTime`` is refused), the first ``limit`` from ``startTime`` or the last ``limit``."""
    start, end = _int_param(req, "startTime", used), _int_param(req, "endTime", used)
    limit = min(_int_param(req, "limit", used) or STATS_DEFAULT, STATS_MAX)
    kept_from = req.now_ms - STATS_DAYS * DAY_MS
    if start is not None and start < kept_from:
        raise _error(400, -1130, "parameter 'startTime' is invalid.", used)
    times = _grid(kept_from if start is None else start, min(req.now_ms, end if end is not None else req.now_ms),
                  step)
    return times[:limit] if start is not None else times[-limit:]


def _kline_opens(h: Host, req: SimRequest, step: int, limit: int, used: int) -> Sequence[int]:
    """Open times Binance answers: USDⓈ-M the first ``limit`` from ``startTime`` (else the last up to
    ``endTime``); COIN-M the most recent ``limit`` up to ``endTime``, the window at most 200 days."""
    start, end = _int_param(req, "startTime", used), _int_param(req, "endTime", used)
    if h.host == "coinm":
        if end is None:
            end = min(start + COINM_KLINES_SPAN_MS, req.now_ms) if start is not None else req.now_ms
        start = end - COINM_KLINES_SPAN_MS if start is None else start
        if end - start > COINM_KLINES_SPAN_MS:
            raise _error(400, -1130, "Data sent for parameter 'endTime' is not valid.", used)
        return _grid(start, min(end, req.now_ms), step)[-limit:]
    hi = min(req.now_ms, end if end is not None else req.now_ms)
    if start is not None:
        return _grid(start, hi, step)[:limit]
    return _grid(hi // step * step - (limit - 1) * step, hi, step)  # the last ``limit``, the open one included


def _kline_weight(limit: int) -> int:
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _depth_weight(limit: int) -> int:
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def _depth(h: Host, c: Contract, limit: int, now_ms: int) -> dict[str, Any]:
    """A ``depth`` answer: the model's book on the symbol's tick; USDⓈ-M sizes in the base coin on the lot
    (0.001, or 1 for the 1000x symbols), COIN-M sizes in whole contracts (at least 1)."""
    tick = _tick(h, c)
    bids, asks = h.model.book(c, now_ms, limit, float(tick))

    def level(price: float, size: float) -> list[str]:
        if h.host == "coinm":
            qty = str(max(1, round(size * price / c.contract_size)))
        else:
            qty = _dec(max(1.0, round(size))) if c.multiplier != 1 else f"{max(0.001, round(size, 3)):.3f}"
        return [_on_tick(price, tick), qty]

    body: dict[str, Any] = {"lastUpdateId": now_ms * 10 + 7, "E": now_ms, "T": now_ms}
    if h.host == "coinm":
        body |= {"symbol": c.symbol, "pair": _pair(c)}
    return body | {"bids": [level(*b) for b in bids], "asks": [level(*a) for a in asks]}


# --- public web brackets (host ``web`` = www.binance.com) ------------------------------------------------------

#: the web brackets paths by futures host (USDⓈ-M ``future``, COIN-M ``delivery``)
BRACKETS_PATHS = {"usdm": "/bapi/futures/v1/friendly/future/common/brackets",
                  "coinm": "/bapi/futures/v1/friendly/delivery/common/brackets"}
#: each asset's brackets per host as (cap, maintenance rate, max leverage), lowest first; floors are the previous
#: caps and ``cumFastMaintenanceAmount`` follows from the continuity rule (``bracket_table``). USDⓈ-M in USD(T)
#: notional, COIN-M in coins. BTC's first four USDⓈ-M brackets are those of the real BTCUSDT answer of 2026-08-02
#: (``tests/payloads/binance-web__rest_brackets__capture.json``); the rest are made up in the same pattern.
BRACKETS: dict[tuple[str, str], tuple[tuple[int, str, int], ...]] = {
    ("usdm", "BTC"): ((300_000, "0.004", 150), (800_000, "0.005", 100), (3_000_000, "0.0065", 75),
                      (12_000_000, "0.01", 50), (50_000_000, "0.02", 25), (100_000_000, "0.025", 20),
                      (200_000_000, "0.05", 10), (400_000_000, "0.1", 5), (500_000_000, "0.125", 4),
                      (800_000_000, "0.15", 3), (1_200_000_000, "0.25", 2), (1_800_000_000, "0.5", 1)),
    ("usdm", "ETH"): ((300_000, "0.005", 125), (800_000, "0.0065", 100), (3_000_000, "0.01", 75),
                      (12_000_000, "0.015", 50), (50_000_000, "0.02", 25), (100_000_000, "0.05", 10),
                      (200_000_000, "0.1", 5), (300_000_000, "0.125", 4), (400_000_000, "0.15", 3),
                      (600_000_000, "0.25", 2), (800_000_000, "0.5", 1)),
    ("usdm", "SOL"): ((50_000, "0.01", 75), (250_000, "0.015", 50), (1_000_000, "0.02", 25), (5_000_000, "0.05", 10),
                      (10_000_000, "0.1", 5), (15_000_000, "0.125", 4), (25_000_000, "0.15", 3),
                      (50_000_000, "0.25", 2), (100_000_000, "0.5", 1)),
    ("usdm", "PEPE"): ((10_000, "0.01", 75), (50_000, "0.015", 50), (250_000, "0.02", 25), (1_000_000, "0.05", 10),
                       (3_000_000, "0.1", 5), (5_000_000, "0.125", 4), (10_000_000, "0.15", 3),
                       (20_000_000, "0.25", 2), (50_000_000, "0.5", 1)),
    ("coinm", "BTC"): ((5, "0.004", 125), (10, "0.005", 100), (20, "0.01", 50), (40, "0.025", 20), (80, "0.05", 10),
                       (150, "0.1", 5), (300, "0.125", 4), (500, "0.15", 3), (800, "0.25", 2), (1000, "0.5", 1)),
    ("coinm", "ETH"): ((100, "0.005", 100), (250, "0.01", 50), (500, "0.02", 25), (1000, "0.05", 10),
                       (2000, "0.1", 5), (3000, "0.125", 4), (5000, "0.15", 3), (10_000, "0.25", 2),
                       (20_000, "0.5", 1)),
    ("coinm", "SOL"): ((2000, "0.01", 50), (5000, "0.025", 20), (10_000, "0.05", 10), (20_000, "0.1", 5),
                       (50_000, "0.125", 4), (100_000, "0.15", 3), (200_000, "0.25", 2), (500_000, "0.5", 1)),
}
#: the brackets' ``updateTime``: the start of the 30-day block of the market clock (never ahead of it)
BRACKETS_EPOCH_MS = 30 * DAY_MS


def _bare(x: Decimal) -> int | float:
    """A decimal as the bare JSON number the web brackets send (``300000``, ``0.0065``)."""
    return int(x) if x == x.to_integral_value() else float(x)


def bracket_table(host: str, asset: str) -> list[dict[str, Any]]:
    """The ``riskBrackets`` of an asset's contracts on a host: floors from the previous caps, ``minOpenPosLeverage``
    one above the next bracket's maximum, and ``cumFastMaintenanceAmount`` by Binance's continuity rule
    ``cum_n = cum_(n-1) + floor_n x (MMR_n - MMR_(n-1))`` (computed in decimals, so it holds exactly)."""
    spec = BRACKETS[(host, asset)]
    rows: list[dict[str, Any]] = []
    floor, cum, mmr_before = Decimal(0), Decimal(0), Decimal(0)
    for seq, (cap, rate, leverage) in enumerate(spec, 1):
        mmr = Decimal(rate)
        cum += floor * (mmr - mmr_before)
        least = spec[seq][2] + 1 if seq < len(spec) else 1
        rows.append({"bracketSeq": seq, "bracketNotionalFloor": _bare(floor), "bracketNotionalCap": cap,
                     "bracketMaintenanceMarginRate": _bare(mmr), "cumFastMaintenanceAmount": _bare(cum),
                     "minOpenPosLeverage": least, "maxOpenPosLeverage": leverage})
        floor, mmr_before = Decimal(cap), mmr
    return rows


def _brackets(h: Host, now_ms: int) -> dict[str, Any]:
    """The web brackets answer of a host: one row per trading contract (perpetuals and quarterlies) whose asset has
    a table, in Binance's web envelope."""
    contracts: list[Contract] = [*h.perps, *h.futures(now_ms)]
    update = now_ms - now_ms % BRACKETS_EPOCH_MS
    rows = [{"symbol": c.symbol, "updateTime": update, "notionalLimit": 100,
             "riskBrackets": bracket_table(h.host, c.asset)} for c in contracts if (h.host, c.asset) in BRACKETS]
    return {"code": "000000", "message": None, "messageDetail": None, "data": {"brackets": rows}, "success": True}


def _brackets_handler(h: Host) -> Handler:
    return lambda req: _brackets(h, req.now_ms)


# --- handlers -----------------------------------------------------------------------------------


def _reply(body: Any, used: int) -> SimReply:
    return SimReply(body, {USED_WEIGHT_HEADER: str(used)})


def _handlers(h: Host) -> dict[str, Handler]:
    """The endpoints of one futures host by path; each counts its weight first, as Binance does."""
    model, prefix = h.model, PREFIX[h.host]

    def exchange_info(req: SimRequest) -> SimReply:
        used = h.meter.add(1)
        return _reply(_exchange_info(h, req.now_ms), used)

    def premium_index(req: SimRequest) -> SimReply:
        symbol, pair = req.query.get("symbol"), req.query.get("pair")
        used = h.meter.add(1 if symbol is not None else 10)
        if symbol is not None:  # one symbol: an object, not an array
            return _reply(premium_row(h, h.contract(symbol, req.now_ms, used), req.now_ms), used)
        listed: list[Contract] = [*h.perps, *(h.futures(req.now_ms) if h.host == "coinm" else [])]
        return _reply([premium_row(h, c, req.now_ms) for c in listed if pair is None or _pair(c) == pair], used)

    def funding_info(req: SimRequest) -> SimReply:
        used = h.meter.add(1)
        # Binance lists only symbols with an adjusted cap/floor/interval; the rest pay every 8 h.
        stale = {symbol for venue, symbol in h.faults.stale_intervals if venue == VENUE}
        listed = [p for p in h.perps if p.interval_h != 8 or p.symbol in CAP_ADJUSTED_8H | stale]
        rows = [{"symbol": p.symbol, "adjustedFundingRateCap": "0.02000000",
                 "adjustedFundingRateFloor": "-0.02000000",
                 "fundingIntervalHours": h.faults.listed_interval(VENUE, p.symbol, p.interval_h), "disclaimer": False}
                for p in listed]
        return _reply(rows, used)

    def open_interest(req: SimRequest) -> SimReply:
        used = h.meter.add(1)
        return _reply(_open_interest(h, h.contract(req.query.get("symbol"), req.now_ms, used), req.now_ms), used)

    def funding_rate(req: SimRequest) -> SimReply:
        used = h.meter.add(1)
        start, end = _int_param(req, "startTime", used), _int_param(req, "endTime", used)
        limit = min(_int_param(req, "limit", used) or LIMIT_DEFAULT,
                    req.faults.page_cap(VENUE, f"{prefix}/fundingRate", LIMIT_MAX))
        end = req.now_ms if end is None else end
        symbol = req.query.get("symbol")
        if symbol is None and h.host == "coinm":
            _required(req, "symbol", used)
        perps = h.perps if symbol is None else [h.perp(symbol, used)]
        rows = sorted(((t, p, rate) for p in perps for t, rate in _settlements(model, p, start, end, limit)),
                      key=lambda row: (row[0], row[1].symbol))
        rows = rows[:limit] if start is not None else rows[-limit:]
        return _reply([_funding_row(model, p, t, rate) for t, p, rate in rows], used)

    def klines(req: SimRequest) -> SimReply:
        limit = min(_int_param(req, "limit", 0) or KLINES_DEFAULT, KLINES_MAX)
        used = h.meter.add(_kline_weight(limit))
        c = h.contract(_required(req, "symbol", used), req.now_ms, used)
        step = _step(req, "interval", KLINE_MS, used)
        return _reply([_kline(h, c, t, step) for t in _kline_opens(h, req, step, limit, used)], used)

    def depth(req: SimRequest) -> SimReply:
        limit = _int_param(req, "limit", 0) or DEPTH_DEFAULT
        used = h.meter.add(_depth_weight(limit))
        c = h.contract(_required(req, "symbol", used), req.now_ms, used)
        if limit not in DEPTH_LIMITS:
            raise _error(400, -1130, "Data sent for parameter 'limit' is not valid.", used)
        return _reply(_depth(h, c, limit, req.now_ms), used)

    def ticker_price(req: SimRequest) -> SimReply:
        symbol = req.query.get("symbol")
        used = h.meter.add(1 if symbol is not None else 2)
        listed: list[Contract] = [*h.perps, *h.futures(req.now_ms)]
        if symbol is not None:
            listed = [h.contract(symbol, req.now_ms, used)]
        rows = [{"symbol": c.symbol, **({"ps": _pair(c)} if h.host == "coinm" else {}),
                 "price": _on_tick(model.contract_mark(c, req.now_ms), _tick(h, c)), "time": req.now_ms}
                for c in listed]
        return _reply(rows[0] if symbol is not None and h.host == "usdm" else rows, used)

    def ticker_24hr(req: SimRequest) -> SimReply:
        symbol = req.query.get("symbol")
        used = h.meter.add(1 if symbol is not None else 40)
        listed: list[Contract] = [*h.perps, *h.futures(req.now_ms)]
        if symbol is not None:
            listed = [h.contract(symbol, req.now_ms, used)]
        rows = [_day_ticker(h, c, req.now_ms) for c in listed]
        return _reply(rows[0] if symbol is not None and h.host == "usdm" else rows, used)

    def open_interest_hist(req: SimRequest) -> SimReply:
        used = h.meter.add(1 if h.host == "coinm" else 0)  # USDⓈ-M: weight 0, its own request cap
        if h.host == "usdm":
            fixed = h.contract(_required(req, "symbol", used), req.now_ms, used)
            step = _step(req, "period", PERIOD_MS, used)
            times = _stat_times(req, step, used)
            return _reply([_oi_hist_row(h, fixed, "", t) for t in times], used)
        pair, contract_type = _required(req, "pair", used), req.query.get("contractType", "PERPETUAL")
        if h.of_type(pair, contract_type, req.now_ms) is None:
            raise _error(400, -1121, "Invalid symbol.", used)
        step = _step(req, "period", PERIOD_MS, used)
        rows = []
        for t in _stat_times(req, step, used):
            c = h.of_type(pair, contract_type, t)  # a quarterly series is another contract before a roll
            if c is not None:
                rows.append(_oi_hist_row(h, c, contract_type, t))
        return _reply(rows, used)

    def long_short(kind: str) -> Handler:
        def handler(req: SimRequest) -> SimReply:
            used = h.meter.add(0)
            perp = h.perp(_required(req, "symbol", used), used)
            step = _step(req, "period", PERIOD_MS, used)
            rows = []
            for t in _stat_times(req, step, used):
                share = model.long_share(VENUE, perp.symbol, kind, t)
                rows.append({"symbol": perp.symbol, "longShortRatio": f"{share / (1 - share):.4f}",
                             "longAccount": f"{share:.4f}", "shortAccount": f"{1 - share:.4f}", "timestamp": t})
            return _reply(rows, used)
        return handler

    routes: dict[str, Handler] = {
        f"{prefix}/exchangeInfo": exchange_info, f"{prefix}/premiumIndex": premium_index,
        f"{prefix}/fundingInfo": funding_info, f"{prefix}/openInterest": open_interest,
        f"{prefix}/fundingRate": funding_rate, f"{prefix}/klines": klines, f"{prefix}/depth": depth,
        "/fapi/v2/ticker/price" if h.host == "usdm" else "/dapi/v1/ticker/price": ticker_price,
        f"{prefix}/ticker/24hr": ticker_24hr,
        "/futures/data/openInterestHist": open_interest_hist,
    }
    if h.host == "usdm":
        routes |= {path: long_short(kind) for path, kind in LONG_SHORT.items()}
    return routes


def _spot_symbols(model: MarketModel, now_ms: int) -> dict[str, float]:
    """Spot pairs: every model asset against USDT and USDC, and ETHBTC."""
    prices = {a: model.spot_price(VENUE, a, now_ms) for a in ASSETS}
    out = {f"{a}{q}": p for a, p in prices.items() for q in ("USDT", "USDC")}
    out["ETHBTC"] = prices["ETH"] / prices["BTC"]
    return out


def _spot_ticker_price(model: MarketModel, meter: WeightMeter) -> Handler:
    """``/api/v3/ticker/price``: weight 2 for ``symbol``, 4 for ``symbols`` or every symbol; one unknown
    name (even in a list) is -1121 for the whole request."""

    def handler(req: SimRequest) -> SimReply:
        symbol, symbols = req.query.get("symbol"), req.query.get("symbols")
        used = meter.add(2 if symbol is not None else 4)
        prices = _spot_symbols(model, req.now_ms)
        asked: list[str] | None = None
        if symbols is not None:
            try:
                asked = json.loads(symbols)
            except ValueError:
                raise _error(400, -1100, "Illegal characters found in parameter 'symbols'.", used) from None
            if not isinstance(asked, list) or not all(isinstance(s, str) for s in asked):
                raise _error(400, -1100, "Illegal characters found in parameter 'symbols'.", used)
        names = [symbol] if symbol is not None else asked if asked is not None else list(prices)
        if any(n not in prices for n in names):
            raise _error(400, -1121, "Invalid symbol.", used)
        rows = [{"symbol": n, "price": _dec(prices[n])} for n in names]
        return _reply(rows[0] if symbol is not None else rows, used)

    return handler


def fault_answer(status: int, now_ms: int) -> SimHttpError:
    """Binance's answer to a fault meaning HTTP ``status`` (the messages Binance sends; the sim's IP is loopback)."""
    if status == 429:
        return SimHttpError(429, {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 2400 "
                                  "requests per minute. Please use the websocket for live updates to avoid polling "
                                  "the API."}, {"Retry-After": str(RETRY_AFTER_429)})
    if status == 418:
        until = now_ms + RETRY_AFTER_418 * 1000
        return SimHttpError(418, {"code": -1003, "msg": f"Way too many requests; IP(127.0.0.1) banned until {until}. "
                                  "Please use the websocket for live updates to avoid bans."},
                            {"Retry-After": str(RETRY_AFTER_418)})
    if status == 451:
        return SimHttpError(451, {"code": 0, "msg": "Service unavailable from a restricted location according to "
                                  "'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer "
                                  "service if you believe you received this message in error."})
    if status >= 500:
        return SimHttpError(status, {"code": -1000, "msg": "An unknown error occurred while processing the request."})
    return SimHttpError(status, {"code": -1130, "msg": "Data sent for parameter 'symbol' is not valid."})


# --- European options (eapi) ---------------------------------------------------------------------

OPTIONS_HOST = "options"
#: The OptionsModel market whose listing the Binance chain reuses (see the module docstring).
OPTION_SOURCE = "bybit"
OPTION_QUOTE = "USDT"
YEAR_MS = 365 * DAY_MS
#: bidIV / askIV of a side without a quote, as in the real ``/eapi/v1/mark`` capture.
NO_IV = "-0.00000001"
#: blockTrades: default and largest ``limit``, and how far back the latest block trades are looked for.
BLOCK_DEFAULT, BLOCK_MAX = 100, 500
BLOCK_LOOKBACK_MS = 3 * DAY_MS
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class _Greeks:
    """A Black-76 price per coin (USD) and its greeks in Binance's (= Deribit's) conventions."""

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float


def _black76(forward: float, strike: float, years: float, vol: float, is_call: bool) -> _Greeks:
    """Black-76 with r = 0: price, delta, gamma per USD, vega USD per vol point, theta USD per day."""
    sqrt_t = math.sqrt(years)
    sd = vol * sqrt_t
    d1 = math.log(forward / strike) / sd + 0.5 * sd
    pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    n1 = 0.5 * math.erfc(-d1 / _SQRT2)
    if is_call:
        price, delta = forward * n1 - strike * 0.5 * math.erfc((sd - d1) / _SQRT2), n1
    else:  # erfc of the positive tail keeps deep out-of-the-money puts accurate
        price, delta = strike * 0.5 * math.erfc((d1 - sd) / _SQRT2) - forward * 0.5 * math.erfc(d1 / _SQRT2), n1 - 1
    # minutes before expiry far out of the money the difference rounds below zero: an option is worth >= 0
    return _Greeks(max(price, 0.0), delta, pdf / (forward * sd), forward * pdf * sqrt_t / 100.0,
                   -forward * pdf * vol / (2.0 * sqrt_t) / 365.0)


def _scale(step: float) -> int:
    """Decimals of a tick or lot size (``priceScale`` / ``quantityScale``)."""
    return len(f"{step:g}".partition(".")[2])


def _tick_text(x: float, step: float) -> str:
    """A price already on the tick, with the tick's decimals."""
    return f"{x:.{_scale(step)}f}"


def option_symbol(option: SimOption) -> str:
    """Binance's name of a model option: ``BTC-260925-100000-C``."""
    strike = str(int(option.strike)) if option.strike == int(option.strike) else f"{option.strike:g}"
    return f"{option.asset}-{cal.yymmdd(option.expiry_ms)}-{strike}-{'C' if option.is_call else 'P'}"


@dataclass(frozen=True, slots=True)
class BinanceQuote:
    """One simulated Binance option at a time: its source quote (expiry, strike, IVs, OI and volume), the
    index and Binance's prices per contract (unit 1 coin: per coin), marked at the model IV on the index."""

    symbol: str
    source: SimOptionQuote
    index: float
    mark: _Greeks
    bid: float | None
    ask: float


def _to_tick(price: float, tick: float, rounding: Callable[[float], int] = round) -> float:
    """``price`` on the tick grid (``rounding``: round, math.floor or math.ceil), at least one tick, without
    float dust."""
    return max(tick, round(rounding(round(price / tick, 9)) * tick, 10))


def binance_quote(q: SimOptionQuote) -> BinanceQuote:
    """A source quote re-priced on the index (Binance's terms): mark and greeks at the mark IV, best bid/ask at
    the bid/ask IVs on the tick (no bid when it rounds to nothing)."""
    o, index, years = q.option, q.index_price, q.years
    ask = _to_tick(_black76(index, o.strike, years, q.ask_iv, o.is_call).price, o.tick_size, math.ceil)
    bid = None
    if q.bid_iv is not None:
        raw = _black76(index, o.strike, years, q.bid_iv, o.is_call).price
        bid = _to_tick(raw, o.tick_size, math.floor) if raw >= o.tick_size else None
    return BinanceQuote(option_symbol(o), q, index, _black76(index, o.strike, years, q.mark_iv, o.is_call), bid, ask)


@dataclass(slots=True)
class _OptionsMarket:
    """The simulated options host: the model's option markets re-dressed as Binance's, and a weight meter."""

    model: MarketModel
    options: OptionsModel
    meter: WeightMeter = field(default_factory=WeightMeter)

    def assets(self) -> list[str]:
        """The assets with options: those of the source market."""
        return [m.asset for m in self.options.markets(OPTION_SOURCE)]

    def chain(self, now_ms: int, asset: str | None = None) -> list[BinanceQuote]:
        """Every listed option (of one asset), by asset, expiry, strike, call before put."""
        return [binance_quote(q) for a in self.assets() if asset in (None, a)
                for q in self.options.chain(OPTION_SOURCE, a, now_ms)]

    def asked(self, req: SimRequest, used: int) -> list[BinanceQuote]:
        """The chain, or the one ``symbol`` asked (-1121 when it is not listed)."""
        quotes = self.chain(req.now_ms)
        symbol = req.query.get("symbol")
        if symbol is None:
            return quotes
        quotes = [q for q in quotes if q.symbol == symbol]
        if not quotes:
            raise _error(400, -1121, "Invalid symbol.", used)
        return quotes

    def block_trades(self, now_ms: int) -> list[SimOptionTrade]:
        """The model's block trades of the last ``BLOCK_LOOKBACK_MS``, ascending."""
        trades = [t for a in self.assets() for t in self.options.trades(OPTION_SOURCE, a, now_ms - BLOCK_LOOKBACK_MS,
                                                                          now_ms) if t.block_trade_id is not None]
        return sorted(trades, key=lambda t: (t.ts_ms, t.trade_id))


def _option_row(q: BinanceQuote) -> dict[str, Any]:
    """An exchangeInfo ``optionSymbols`` row (the current docs' fields)."""
    o = q.source.option
    tick, lot = _dec(o.tick_size), _dec(o.min_amount)
    return {
        "expiryDate": o.expiry_ms,
        "filters": [{"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000", "tickSize": tick},
                    {"filterType": "LOT_SIZE", "minQty": lot, "maxQty": "10000", "stepSize": lot}],
        "symbol": q.symbol, "side": "CALL" if o.is_call else "PUT", "strikePrice": q.symbol.split("-")[2],
        "underlying": f"{o.asset}{OPTION_QUOTE}", "unit": 1, "liquidationFeeRate": "0.0019000", "minQty": lot,
        "maxQty": "10000", "initialMargin": "0.15", "maintenanceMargin": "0.075", "minInitialMargin": "0.1",
        "minMaintenanceMargin": "0.05", "priceScale": _scale(o.tick_size), "quantityScale": _scale(o.min_amount),
        "quoteAsset": OPTION_QUOTE, "status": "TRADING",
    }


def _option_exchange_info(market: _OptionsMarket, now_ms: int) -> dict[str, Any]:
    quotes = market.chain(now_ms)
    contracts = [{"baseAsset": a, "quoteAsset": OPTION_QUOTE, "underlying": f"{a}{OPTION_QUOTE}",
                  "settleAsset": OPTION_QUOTE} for a in market.assets()]
    return {"timezone": "UTC", "serverTime": now_ms, "optionContracts": contracts,
            "optionAssets": [{"name": OPTION_QUOTE}], "optionSymbols": [_option_row(q) for q in quotes],
            "rateLimits": _rate_limits("usdm")}  # the options docs list USDⓈ-M's three limits


def _mark_row(q: BinanceQuote) -> dict[str, Any]:
    """A ``/eapi/v1/mark`` row: USDT per contract, IVs as fractions, greeks, price band, risk-free rate 0."""
    g, s = q.mark, q.source
    return {"symbol": q.symbol, "markPrice": _dec(g.price), "bidIV": NO_IV if s.bid_iv is None else _dec(s.bid_iv),
            "askIV": _dec(s.ask_iv), "markIV": _dec(s.mark_iv), "delta": _dec(g.delta), "theta": _dec(g.theta),
            "gamma": _dec(g.gamma), "vega": _dec(g.vega), "highPriceLimit": _dec(g.price * 1.1 + s.option.tick_size),
            "lowPriceLimit": _dec(max(0.0, g.price * 0.9 - s.option.tick_size)), "riskFreeInterest": "0"}


def _ticker_row(q: BinanceQuote, now_ms: int) -> dict[str, Any]:
    """A ``/eapi/v1/ticker`` row: 24 h volume in contracts, last trade at the mark on the tick."""
    o, tick = q.source.option, q.source.option.tick_size
    last = _to_tick(q.mark.price, tick)
    volume = q.source.volume_24h
    return {"symbol": q.symbol, "priceChange": "0", "priceChangePercent": "0", "lastPrice": _tick_text(last, tick),
            "lastQty": _dec(o.min_amount), "open": _tick_text(last, tick), "high": _tick_text(last, tick),
            "low": _tick_text(last, tick), "volume": _dec(volume), "amount": _dec(round(volume * last, 4)),
            "bidPrice": "0" if q.bid is None else _tick_text(q.bid, tick), "askPrice": _tick_text(q.ask, tick),
            "openTime": now_ms - DAY_MS, "closeTime": now_ms, "firstTradeId": 1,
            "tradeCount": max(1, round(volume / o.min_amount)) if volume else 0,
            "strikePrice": q.symbol.split("-")[2], "exercisePrice": _dec(q.index)}


def _block_row(model: MarketModel, t: SimOptionTrade) -> dict[str, Any]:
    """A blockTrades row: price USDT per contract at the trade's IV on the index at its time."""
    o = t.option
    years = max(o.expiry_ms - t.ts_ms, 60_000) / YEAR_MS
    priced = _black76(model.index_price(o.asset, t.ts_ms), o.strike, years, t.iv / 100.0, o.is_call).price
    price = _to_tick(priced, o.tick_size)
    qty = t.amount if t.direction == "buy" else -t.amount
    return {"id": int(t.trade_id), "tradeId": int(t.trade_id) // 100, "symbol": option_symbol(o),
            "price": _tick_text(price, o.tick_size), "qty": _dec(qty), "quoteQty": _dec(round(price * qty, 4)),
            "side": 1 if t.direction == "buy" else -1, "time": t.ts_ms}


def _option_handlers(market: _OptionsMarket) -> dict[str, Handler]:
    """The endpoints of the options host by path; each counts its weight first, as Binance does."""
    meter = market.meter

    def exchange_info(req: SimRequest) -> SimReply:
        used = meter.add(1)
        return _reply(_option_exchange_info(market, req.now_ms), used)

    def mark(req: SimRequest) -> SimReply:
        used = meter.add(5)
        return _reply([_mark_row(q) for q in market.asked(req, used)], used)

    def ticker(req: SimRequest) -> SimReply:
        used = meter.add(5)
        return _reply([_ticker_row(q, req.now_ms) for q in market.asked(req, used)], used)

    def open_interest(req: SimRequest) -> SimReply:
        used = meter.add(0)
        asset, expiration = _required(req, "underlyingAsset", used), _required(req, "expiration", used)
        if asset not in market.assets():
            raise _error(400, -1121, "Invalid symbol.", used)
        rows = [{"symbol": o.symbol, "sumOpenInterest": _dec(o.source.open_interest),
                 "sumOpenInterestUsd": _dec(o.source.open_interest * o.index), "timestamp": str(req.now_ms)}
                for o in market.chain(req.now_ms, asset) if cal.yymmdd(o.source.option.expiry_ms) == expiration]
        return _reply(rows, used)

    def index(req: SimRequest) -> SimReply:
        used = meter.add(1)
        underlying = _required(req, "underlying", used)
        asset = underlying.removesuffix(OPTION_QUOTE)
        if asset == underlying or asset not in market.assets():
            raise _error(400, -1121, "Invalid symbol.", used)
        return _reply({"time": req.now_ms, "indexPrice": _dec(market.model.index_price(asset, req.now_ms))}, used)

    def block_trades(req: SimRequest) -> SimReply:
        used = meter.add(5)
        limit = min(_int_param(req, "limit", used) or BLOCK_DEFAULT, BLOCK_MAX)
        rows = [_block_row(market.model, t) for t in market.block_trades(req.now_ms)]
        symbol = req.query.get("symbol")
        if symbol is not None:
            if not any(q.symbol == symbol for q in market.chain(req.now_ms)):
                raise _error(400, -1121, "Invalid symbol.", used)
            rows = [r for r in rows if r["symbol"] == symbol]
        return _reply(rows[-limit:], used)

    return {"/eapi/v1/exchangeInfo": exchange_info, "/eapi/v1/mark": mark, "/eapi/v1/ticker": ticker,
            "/eapi/v1/openInterest": open_interest, "/eapi/v1/index": index, "/eapi/v1/blockTrades": block_trades}


#: the host of Binance's public web site (www.binance.com), which serves the brackets
WEB_HOST = "web"


def register(routes: SimRoutes, model: MarketModel, *, clock: Callable[[], float] | None = None) -> None:
    """Serve the Binance USDⓈ-M, COIN-M, spot and options endpoints dtrack uses, and the public web brackets."""
    for host in PREFIX:
        h = Host(model, host, WeightMeter(clock) if clock else WeightMeter(), routes.faults)
        for path, handler in _handlers(h).items():
            routes.add(VENUE, host, "GET", path, handler)
        for method in ("GET", "POST"):  # the web site's page POSTs {}; a GET answers the same
            routes.add(VENUE, WEB_HOST, method, BRACKETS_PATHS[host], _brackets_handler(h))
    spot = _spot_ticker_price(model, WeightMeter(clock) if clock else WeightMeter())
    routes.add(VENUE, "spot", "GET", "/api/v3/ticker/price", spot)
    market = _OptionsMarket(model, OptionsModel(model), WeightMeter(clock) if clock else WeightMeter())
    for path, handler in _option_handlers(market).items():
        routes.add(VENUE, OPTIONS_HOST, "GET", path, handler)
    routes.on_error(VENUE, fault_answer)
