"""Simulated Binance USDⓈ-M (``/binance/usdm`` = fapi) and COIN-M (``/binance/coinm`` = dapi).

Serves, in Binance's wire format (numbers as strings where Binance sends strings, ms integers
for times, ``{"code": -1121, "msg": "Invalid symbol."}`` with HTTP 400 for unknown symbols):
``exchangeInfo``, ``premiumIndex``, ``fundingInfo``, ``openInterest`` and ``fundingRate``,
from the market model. ``fundingRate`` pages like Binance: the FIRST ``limit`` settlements
from ``startTime`` (default 100, at most 1000), or the last ``limit`` when no ``startTime``.
Every answer carries ``X-MBX-USED-WEIGHT-1M``: the weight this host received in the current
wall-clock minute, so the client's header reading is exercised.

Prices and base-coin amounts are sent at full float precision (Binance rounds to the symbol's
tick); COIN-M open interest is whole contracts, as on Binance.

Beside the perpetuals of the market model, each host lists what a real answer holds and dtrack
must ignore: a BTC quarterly (``BTCUSDT_YYMMDD`` / ``BTCUSD_YYMMDD``, ``CURRENT_QUARTER``,
delivering on the last Friday of the quarter at 08:00 UTC) and a symbol not in trading status
(USDⓈ-M ``SOLUSDC`` perpetual ``PENDING_TRADING``; COIN-M next quarterly ``PENDING_TRADING``).
COIN-M ``premiumIndex`` lists its trading quarterly as the docs show delivery contracts
(``"lastFundingRate": ""``, ``"interestRate": ""``, ``"nextFundingTime": 0``); USDⓈ-M
``premiumIndex`` lists perpetuals only (whether it lists quarterlies is UNCONFIRMED).

Knobs tests set (module-level, read on every request): ``LIMIT_MAX`` (the fundingRate page cap),
``INTERVAL_SWITCHES`` (a symbol Binance moved to another interval at runtime: every endpoint
follows it) and ``FUNDING_INFO_LAG`` (fundingInfo reporting an interval the schedule no longer has).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from dtrack.sim.model import HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import SimHttpError, SimReply, SimRequest, SimRoutes

VENUE = "binance"
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
PREFIX = {"usdm": "/fapi/v1", "coinm": "/dapi/v1"}
FAR_DELIVERY_MS = 4133404800000  # deliveryDate Binance gives perpetuals (2100-12-25)
ONBOARD_MS = 1569398400000
#: fundingRate page size: default 100; ``LIMIT_MAX`` caps what is asked (tests lower it to show a
#: client does not take a short page for the end of the data).
LIMIT_DEFAULT, LIMIT_MAX = 100, 1000
#: symbol -> interval hours Binance switched it to at runtime (the 2026 dynamic 1 h / 4 h rule).
INTERVAL_SWITCHES: dict[str, int] = {}
#: symbol -> interval hours fundingInfo reports whatever the schedule is (fundingInfo lagging).
FUNDING_INFO_LAG: dict[str, int] = {}
#: 8 h symbols listed in fundingInfo anyway (a cap/floor adjustment), like BTCUSD_PERP in the
#: COIN-M docs example and GTCUSDT in the real USDⓈ-M fragment.
CAP_ADJUSTED_8H = frozenset({"BTCUSD_PERP", "ETHUSDC"})

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
class _Host:
    """One simulated host: its perpetuals and weight meter."""

    model: MarketModel
    host: str
    meter: WeightMeter = field(default_factory=WeightMeter)

    @property
    def perps(self) -> list[SimPerp]:
        return [replace(p, interval_h=INTERVAL_SWITCHES[p.symbol]) if p.symbol in INTERVAL_SWITCHES else p
                for p in self.model.perps(VENUE, self.host)]

    def perp(self, symbol: str | None, used: int) -> SimPerp:
        perp = next((p for p in self.perps if p.symbol == symbol), None)
        if perp is None:
            raise _error(400, -1121, "Invalid symbol.", used)
        return perp


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


# --- dated and pending contracts ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Listed:
    """A listed symbol that is not a trading perpetual: a quarterly, or a pending listing."""

    symbol: str
    pair: str
    contract_type: str  # CURRENT_QUARTER | NEXT_QUARTER | PERPETUAL
    status: str  # TRADING | PENDING_TRADING
    delivery_ms: int
    like: SimPerp  # the perpetual whose asset, quote and contract terms it shares


def _quarterlies(now_ms: int) -> tuple[int, int]:
    """Delivery times of the current and next quarterly: last Friday of Mar/Jun/Sep/Dec, 08:00 UTC."""
    t = datetime.fromtimestamp(now_ms / 1000, UTC)
    year, quarter = t.year, (t.month - 1) // 3
    out: list[int] = []
    while len(out) < 2:
        month = 3 * (quarter + 1)
        day = datetime(year, month, calendar.monthrange(year, month)[1], 8, tzinfo=UTC)
        day -= timedelta(days=(day.weekday() - calendar.FRIDAY) % 7)
        if (ms := int(day.timestamp() * 1000)) > now_ms:
            out.append(ms)
        quarter, year = (0, year + 1) if quarter == 3 else (quarter + 1, year)
    return out[0], out[1]


def _yymmdd(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%y%m%d}"


def _listed(h: _Host, now_ms: int) -> list[_Listed]:
    """The host's non-perpetual and non-trading symbols (see the module docstring)."""
    current, following = _quarterlies(now_ms)
    perps = {p.symbol: p for p in h.model.perps(VENUE, h.host)}
    if h.host == "coinm":
        btc = perps["BTCUSD_PERP"]
        return [_Listed(f"BTCUSD_{_yymmdd(current)}", "BTCUSD", "CURRENT_QUARTER", "TRADING", current, btc),
                _Listed(f"BTCUSD_{_yymmdd(following)}", "BTCUSD", "NEXT_QUARTER", "PENDING_TRADING", following, btc)]
    sol = replace(perps["SOLUSDT"], symbol="SOLUSDC", quote="USDC")
    return [_Listed(f"BTCUSDT_{_yymmdd(current)}", "BTCUSDT", "CURRENT_QUARTER", "TRADING", current,
                    perps["BTCUSDT"]),
            _Listed("SOLUSDC", "SOLUSDC", "PERPETUAL", "PENDING_TRADING", FAR_DELIVERY_MS, sol)]


def _listed_symbol(h: _Host, d: _Listed) -> dict[str, Any]:
    row = _coinm_symbol(d.like) if h.host == "coinm" else _usdm_symbol(d.like)
    onboard = d.delivery_ms - 182 * 86_400_000 if d.contract_type != "PERPETUAL" else ONBOARD_MS
    row.update({"symbol": d.symbol, "pair": d.pair, "contractType": d.contract_type, "deliveryDate": d.delivery_ms,
                "onboardDate": onboard, "status" if h.host == "usdm" else "contractStatus": d.status})
    return row


def _delivery_premium_row(model: MarketModel, d: _Listed, now_ms: int) -> dict[str, Any]:
    """A delivery contract in COIN-M premiumIndex: prices, but empty funding fields."""
    index = model.index_price(d.like.asset, now_ms)
    basis = 0.05 * (d.delivery_ms - now_ms) / (365 * 86_400_000)  # 5 % a year of contango
    return {"symbol": d.symbol, "pair": d.pair, "markPrice": _dec(index * (1 + basis)), "indexPrice": _dec(index),
            "estimatedSettlePrice": _dec(index), "lastFundingRate": "", "interestRate": "", "nextFundingTime": 0,
            "time": now_ms}


# --- wire objects -------------------------------------------------------------------------------


def _base_asset(p: SimPerp) -> str:
    return f"{p.multiplier:.0f}{p.asset}" if p.multiplier != 1 else p.asset


def _pair(p: SimPerp) -> str:
    return p.symbol.removesuffix("_PERP")


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


def _usdm_symbol(p: SimPerp) -> dict[str, Any]:
    filters = _filters("0.0000001", "1") if p.multiplier != 1 else _filters("0.01", "0.001")
    filters.append({"notional": "5", "filterType": "MIN_NOTIONAL"})
    return {
        "symbol": p.symbol, "pair": p.symbol, "contractType": "PERPETUAL", "deliveryDate": FAR_DELIVERY_MS,
        "onboardDate": ONBOARD_MS, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": _base_asset(p), "quoteAsset": p.quote,
        "marginAsset": p.quote, "pricePrecision": 7 if p.multiplier != 1 else 2,
        "quantityPrecision": 0 if p.multiplier != 1 else 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "filters": filters,
        "orderTypes": _ORDER_TYPES, "timeInForce": _TIME_IN_FORCE,
    }


def _coinm_symbol(p: SimPerp) -> dict[str, Any]:
    return {
        "symbol": p.symbol, "pair": _pair(p), "contractType": "PERPETUAL", "deliveryDate": FAR_DELIVERY_MS,
        "onboardDate": ONBOARD_MS, "contractStatus": "TRADING", "contractSize": int(p.contract_size),
        "marginAsset": p.asset, "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": _base_asset(p), "quoteAsset": "USD", "pricePrecision": 1, "quantityPrecision": 0,
        "baseAssetPrecision": 8, "quotePrecision": 8, "equalQtyPrecision": 4, "maxMoveOrderLimit": 10000,
        "triggerProtect": "0.0500", "underlyingType": "COIN", "underlyingSubType": [],
        "filters": _filters("0.1", "1"), "orderTypes": _ORDER_TYPES, "timeInForce": _TIME_IN_FORCE,
        "liquidationFee": "0.010000", "marketTakeBound": "0.05",
    }


def _rate_limits(host: str) -> list[dict[str, Any]]:
    limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
              {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}]
    if host == "usdm":
        limits.append({"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300})
    return limits


def _exchange_info(h: _Host, now_ms: int) -> dict[str, Any]:
    others = [_listed_symbol(h, d) for d in _listed(h, now_ms)]
    if h.host == "coinm":
        return {"timezone": "UTC", "serverTime": now_ms, "rateLimits": _rate_limits(h.host), "exchangeFilters": [],
                "symbols": [_coinm_symbol(p) for p in h.perps] + others}
    assets = sorted({p.quote for p in h.perps})
    return {"timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
            "rateLimits": _rate_limits(h.host), "exchangeFilters": [],
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets],
            "symbols": [_usdm_symbol(p) for p in h.perps] + others}


def _premium_row(model: MarketModel, p: SimPerp, now_ms: int) -> dict[str, Any]:
    rate, next_ms = model.current_funding(p, now_ms)
    index = model.index_price(p.asset, now_ms) * p.multiplier
    row: dict[str, Any] = {"symbol": p.symbol}
    if p.host == "coinm":
        row["pair"] = _pair(p)
    row.update({
        "markPrice": _dec(model.mark_price(p, now_ms)), "indexPrice": _dec(index),
        "estimatedSettlePrice": _dec(index), "lastFundingRate": _rate(rate), "interestRate": "0.00010000",
        "nextFundingTime": next_ms, "time": now_ms,
    })
    return row


def _open_interest(model: MarketModel, p: SimPerp, now_ms: int) -> dict[str, Any]:
    base = model.open_interest_base(p, now_ms)
    if p.host == "coinm":
        contracts = round(base * model.mark_price(p, now_ms) / p.contract_size)
        return {"symbol": p.symbol, "pair": _pair(p), "openInterest": str(contracts),
                "contractType": "PERPETUAL", "time": now_ms}
    return {"symbol": p.symbol, "openInterest": _dec(base), "time": now_ms}


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


# --- handlers -----------------------------------------------------------------------------------


def _handlers(h: _Host) -> dict[str, Handler]:
    """The five endpoints of one host; each counts its weight first, as Binance does."""
    model = h.model

    def reply(body: Any, used: int) -> SimReply:
        return SimReply(body, {USED_WEIGHT_HEADER: str(used)})

    def exchange_info(req: SimRequest) -> SimReply:
        used = h.meter.add(1)
        return reply(_exchange_info(h, req.now_ms), used)

    def premium_index(req: SimRequest) -> SimReply:
        symbol, pair = req.query.get("symbol"), req.query.get("pair")
        used = h.meter.add(1 if symbol is not None else 10)
        dated = [d for d in _listed(h, req.now_ms) if h.host == "coinm" and d.contract_type != "PERPETUAL"
                 and d.status == "TRADING"]
        if symbol is not None:  # one symbol: an object, not an array
            delivery = next((d for d in dated if d.symbol == symbol), None)
            if delivery is not None:
                return reply(_delivery_premium_row(model, delivery, req.now_ms), used)
            return reply(_premium_row(model, h.perp(symbol, used), req.now_ms), used)
        rows = [_premium_row(model, p, req.now_ms) for p in h.perps if pair is None or _pair(p) == pair]
        rows += [_delivery_premium_row(model, d, req.now_ms) for d in dated if pair is None or d.pair == pair]
        return reply(rows, used)

    def funding_info(req: SimRequest) -> SimReply:
        used = h.meter.add(1)
        # Binance lists only symbols with an adjusted cap/floor/interval; the rest pay every 8 h.
        listed = [p for p in h.perps if p.interval_h != 8 or p.symbol in CAP_ADJUSTED_8H | FUNDING_INFO_LAG.keys()]
        rows = [{"symbol": p.symbol, "adjustedFundingRateCap": "0.02000000",
                 "adjustedFundingRateFloor": "-0.02000000",
                 "fundingIntervalHours": FUNDING_INFO_LAG.get(p.symbol, p.interval_h), "disclaimer": False}
                for p in listed]
        return reply(rows, used)

    def open_interest(req: SimRequest) -> SimReply:
        used = h.meter.add(1)
        return reply(_open_interest(model, h.perp(req.query.get("symbol"), used), req.now_ms), used)

    def funding_rate(req: SimRequest) -> SimReply:
        used = h.meter.add(1)
        start, end = _int_param(req, "startTime", used), _int_param(req, "endTime", used)
        limit = min(_int_param(req, "limit", used) or LIMIT_DEFAULT, LIMIT_MAX)
        end = req.now_ms if end is None else end
        symbol = req.query.get("symbol")
        if symbol is None and h.host == "coinm":
            raise _error(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                         used)
        perps = h.perps if symbol is None else [h.perp(symbol, used)]
        rows = sorted(((t, p, rate) for p in perps for t, rate in _settlements(model, p, start, end, limit)),
                      key=lambda row: (row[0], row[1].symbol))
        rows = rows[:limit] if start is not None else rows[-limit:]
        return reply([_funding_row(model, p, t, rate) for t, p, rate in rows], used)

    return {"exchangeInfo": exchange_info, "premiumIndex": premium_index, "fundingInfo": funding_info,
            "openInterest": open_interest, "fundingRate": funding_rate}


def register(routes: SimRoutes, model: MarketModel, *, clock: Callable[[], float] | None = None) -> None:
    """Serve the Binance USDⓈ-M and COIN-M endpoints dtrack uses."""
    for host, prefix in PREFIX.items():
        h = _Host(model, host, WeightMeter(clock) if clock else WeightMeter())
        for name, handler in _handlers(h).items():
            routes.add(VENUE, host, "GET", f"{prefix}/{name}", handler)

