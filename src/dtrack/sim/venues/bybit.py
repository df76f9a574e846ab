"""Simulated Bybit v5 public REST (host ``rest``): instruments-info, tickers, funding/history.

Wire format as the real venue (``retCode`` envelope, numbers as strings except where Bybit sends
JSON numbers, e.g. ``fundingInterval`` and ``time``), with today's semantics: ``openInterest`` is
both sides added and ``singleOpenInterest`` one side (the ``*Value`` fields agree with them), and
tickers carry ``fundingIntervalHour``. Except the ``LEGACY_TICKERS`` symbols, whose ticker rows keep
the older shape of the real 2024 captures: no ``fundingIntervalHour`` and no ``singleOpenInterest``
(+``Value``), with ``openInterest`` one side, so a client must fall back on instruments-info.
Paging is real: instruments-info ``limit``/``cursor`` (1..1000, default 500) and funding/history
``limit`` (1..200, default 200) backwards from ``endTime``, at most ``HISTORY_PAGE_CAP`` rows a page,
no rows before a symbol's ``launchTime``. Unknown symbols get retCode 10001 in an HTTP 200 answer.

The fields dtrack reads (rate, mark, index, open interest) carry the model's values at full
precision so tests can compare exactly; inverse open interest is whole USD contracts, as on Bybit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import quote, unquote

from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

VENUE = "bybit"
HOST = "rest"

INSTRUMENTS_DEFAULT_LIMIT, INSTRUMENTS_MAX_LIMIT = 500, 1000
HISTORY_MAX_LIMIT = 200
#: Rows served per funding/history page at most, whatever ``limit`` asks (tests lower it to play a
#: venue that caps pages below the limit asked).
HISTORY_PAGE_CAP = HISTORY_MAX_LIMIT
PARAMS_ERROR = 10001
FUNDING_CAP = "0.005"

#: Listing times of the simulated symbols (epoch ms); funding history starts there.
LAUNCH_MS: dict[str, int] = {
    "BTCUSDT": 1_585_526_400_000,  # 2020-03-30
    "ETHUSDT": 1_585_526_400_000,
    "SOLUSDT": 1_633_046_400_000,  # 2021-10-01
    "1000PEPEUSDT": 1_683_244_800_000,  # 2023-05-05
    "BTCPERP": 1_672_531_200_000,  # 2023-01-01
    "ETHPERP": 1_672_531_200_000,
    "BTCUSD": 1_542_240_000_000,  # 2018-11-15
    "ETHUSD": 1_548_979_200_000,  # 2019-02-01
}
DEFAULT_LAUNCH_MS = 1_577_836_800_000  # 2020-01-01

#: Ticker rows in the older shape (no fundingIntervalHour, no singleOpenInterest; openInterest one side).
LEGACY_TICKERS = frozenset({"ETHUSD"})


def dec(x: float) -> str:
    """A float as Bybit writes numbers: a plain decimal string, never exponent notation."""
    return format(Decimal(repr(x)), "f")


def fixed(x: float, places: int) -> str:
    """A float rounded to ``places`` decimals, as a string."""
    return f"{x:.{places}f}"


def _error(code: int, message: str, now_ms: int) -> SimHttpError:
    """Bybit's error answer: HTTP 200 with a non-zero retCode."""
    return SimHttpError(200, {"retCode": code, "retMsg": message, "result": {"category": "", "list": []},
                              "retExtInfo": {}, "time": now_ms})


def _ok(result: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": dict(result), "retExtInfo": {}, "time": now_ms}


def _category(req: SimRequest) -> str:
    category = req.query.get("category", "")
    if category not in ("linear", "inverse", "spot", "option"):
        raise _error(PARAMS_ERROR, "Illegal category", req.now_ms)
    return category


def _perps(model: MarketModel, category: str) -> list[SimPerp]:
    """The category's perpetuals, in symbol order (as Bybit lists them)."""
    return sorted((p for p in model.perps(VENUE, HOST) if p.margin == category), key=lambda p: p.symbol)


def _one_perp(model: MarketModel, req: SimRequest, category: str) -> SimPerp | None:
    """The perp named by ``symbol`` (None when not asked); unknown or other-category -> 10001."""
    symbol = req.query.get("symbol")
    if symbol is None:
        return None
    perp = model.perp(VENUE, symbol)
    if perp is None or perp.margin != category:
        raise _error(PARAMS_ERROR, "params error: symbol invalid", req.now_ms)
    return perp


def _int_param(req: SimRequest, key: str, default: int | None, lo: int, hi: int | None) -> int | None:
    raw = req.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _error(PARAMS_ERROR, f"params error: {key} invalid", req.now_ms) from None
    if value < lo or (hi is not None and value > hi):
        raise _error(PARAMS_ERROR, f"params error: {key} out of range", req.now_ms)
    return value


def _base_coin(perp: SimPerp) -> str:
    return f"{perp.multiplier:g}{perp.asset}" if perp.multiplier != 1 else perp.asset


def _settle_coin(perp: SimPerp) -> str:
    return perp.asset if perp.margin == "inverse" else perp.quote


# --- instruments-info ------------------------------------------------------------------------


def _instrument_row(perp: SimPerp, symbol_id: int) -> dict[str, Any]:
    inverse = perp.margin == "inverse"
    return {
        "symbol": perp.symbol, "symbolId": symbol_id,
        "contractType": "InversePerpetual" if inverse else "LinearPerpetual", "status": "Trading",
        "baseCoin": _base_coin(perp), "quoteCoin": perp.quote,
        "launchTime": str(LAUNCH_MS.get(perp.symbol, DEFAULT_LAUNCH_MS)), "deliveryTime": "0",
        "deliveryFeeRate": "", "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.01", "maxPrice": "1999999.98", "tickSize": "0.01"},
        "lotSizeFilter": {"maxOrderQty": "1000000", "minOrderQty": "1" if inverse else "0.001",
                          "qtyStep": "1" if inverse else "0.001", "postOnlyMaxOrderQty": "1000000",
                          "maxMktOrderQty": "500000", "minNotionalValue": "5"},
        "unifiedMarginTrade": True,
        "fundingInterval": perp.interval_h * 60,  # minutes, a JSON number
        "settleCoin": _settle_coin(perp), "copyTrading": "both",
        "upperFundingRate": FUNDING_CAP, "lowerFundingRate": f"-{FUNDING_CAP}",
        "isPreListing": False, "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"}, "symbolType": "",
    }


def _cursor(first: str, last: str) -> str:
    """An opaque page cursor in Bybit's style (URL-encoded ``first=..&last=..``)."""
    return quote(f"first={first}&last={last}", safe="")


def _after_cursor(raw: str) -> str:
    """The last symbol of the previous page, from a cursor sent back encoded once or not at all."""
    text = unquote(raw)
    for part in text.split("&"):
        key, _, value = part.partition("=")
        if key == "last" and value:
            return value
    raise ValueError(raw)


def instruments_info(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/instruments-info?category=&symbol=&limit=&cursor="""
    category = _category(req)
    limit = _int_param(req, "limit", INSTRUMENTS_DEFAULT_LIMIT, 1, INSTRUMENTS_MAX_LIMIT)
    assert limit is not None
    one = _one_perp(model, req, category)
    perps = [one] if one is not None else _perps(model, category)
    if "cursor" in req.query:
        try:
            after = _after_cursor(req.query["cursor"])
        except ValueError:
            raise _error(PARAMS_ERROR, "params error: cursor invalid", req.now_ms) from None
        perps = [p for p in perps if p.symbol > after]
    page, rest = perps[:limit], perps[limit:]
    ids = {p.symbol: i + 1 for i, p in enumerate(model.perps(VENUE, HOST))}
    cursor = _cursor(page[0].symbol, page[-1].symbol) if page and rest else ""
    return _ok({"category": category, "list": [_instrument_row(p, ids[p.symbol]) for p in page],
                "nextPageCursor": cursor}, req.now_ms)


# --- tickers ---------------------------------------------------------------------------------


def _open_interest(model: MarketModel, perp: SimPerp, now: int, mark: float) -> tuple[float, float]:
    """(one side in Bybit's unit, its value): linear base coin and USD; inverse USD contracts and coin."""
    base = model.open_interest_base(perp, now)
    if perp.margin == "inverse":
        contracts = float(round(base * mark / perp.contract_size))
        return contracts, contracts * perp.contract_size / mark
    return base, base * mark


def _ticker_row(model: MarketModel, perp: SimPerp, now: int) -> dict[str, Any]:
    mark = model.mark_price(perp, now)
    index = model.index_price(perp.asset, now) * perp.multiplier
    rate, next_ms = model.current_funding(perp, now)
    single, single_value = _open_interest(model, perp, now, mark)
    day_ago, hour_ago = model.mark_price(perp, now - DAY_MS), model.mark_price(perp, now - HOUR_MS)
    path = [model.mark_price(perp, now - k * HOUR_MS) for k in range(25)]
    volume = 3.0 * single  # a day's volume of about three times the open interest
    places = max(2, 6 - math.floor(math.log10(mark)))
    tick = 10.0**-places
    legacy = perp.symbol in LEGACY_TICKERS
    sides = 1.0 if legacy else 2.0  # openInterest: one side in the older shape, both sides today
    row = {
        "symbol": perp.symbol, "lastPrice": fixed(mark, places), "indexPrice": dec(index), "markPrice": dec(mark),
        "prevPrice24h": fixed(day_ago, places), "price24hPcnt": fixed(mark / day_ago - 1.0, 6),
        "highPrice24h": fixed(max(path), places), "lowPrice24h": fixed(min(path), places),
        "prevPrice1h": fixed(hour_ago, places),
        "openInterest": dec(sides * single), "openInterestValue": dec(sides * single_value),
        "singleOpenInterest": dec(single), "singleOpenInterestValue": dec(single_value),
        "turnover24h": fixed(volume * (mark if perp.margin == "linear" else 1.0 / mark), 4),
        "volume24h": fixed(volume, 4),
        "fundingRate": dec(rate), "nextFundingTime": str(next_ms),
        "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0",
        "ask1Size": "1.000", "bid1Price": fixed(mark - tick, places), "ask1Price": fixed(mark, places),
        "bid1Size": "1.000", "basis": "", "preOpenPrice": "", "preQty": "", "curPreListingPhase": "",
        "fundingIntervalHour": str(perp.interval_h), "basisRateYear": "", "fundingCap": FUNDING_CAP,
    }
    if legacy:
        for key in ("singleOpenInterest", "singleOpenInterestValue", "fundingIntervalHour"):
            del row[key]
    return row


def tickers(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/tickers?category=linear|inverse[&symbol=] (spot/option: empty here)."""
    category = _category(req)
    one = _one_perp(model, req, category)
    perps = [one] if one is not None else _perps(model, category)
    rows = [_ticker_row(model, p, req.now_ms) for p in perps]
    return _ok({"category": category, "list": rows}, req.now_ms)


# --- funding/history -------------------------------------------------------------------------


def funding_history(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/funding/history?category=&symbol=[&startTime=][&endTime=][&limit=] (newest first)."""
    category = _category(req)
    perp = _one_perp(model, req, category)
    if perp is None:
        raise _error(PARAMS_ERROR, "params error: symbol is required", req.now_ms)
    limit = _int_param(req, "limit", HISTORY_MAX_LIMIT, 1, HISTORY_MAX_LIMIT)
    start = _int_param(req, "startTime", None, 0, None)
    end = _int_param(req, "endTime", None, 0, None)
    assert limit is not None
    if start is not None and end is None:
        raise _error(PARAMS_ERROR, "params error: endTime is required when startTime is given", req.now_ms)
    end = min(end if end is not None else req.now_ms, req.now_ms)
    floor = LAUNCH_MS.get(perp.symbol, DEFAULT_LAUNCH_MS)
    if start is None:
        start = end - limit * perp.interval_h * HOUR_MS  # enough for ``limit`` settlements
    rows = model.settlements(perp, max(start, floor), end)[::-1][:min(limit, HISTORY_PAGE_CAP)]
    return _ok({"category": category, "list": [
        {"symbol": perp.symbol, "fundingRate": dec(rate), "fundingRateTimestamp": str(t)} for t, rate in rows
    ]}, req.now_ms)


def register(routes: SimRoutes, model: MarketModel) -> None:
    """Serve the Bybit endpoints dtrack calls."""
    handlers: dict[str, Callable[[MarketModel, SimRequest], Any]] = {
        "/v5/market/instruments-info": instruments_info,
        "/v5/market/tickers": tickers,
        "/v5/market/funding/history": funding_history,
    }
    for path, handler in handlers.items():
        routes.add(VENUE, HOST, "GET", path, partial(handler, model))
