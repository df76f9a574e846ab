"""Simulated Bybit v5 public REST (host ``rest``): instruments-info, tickers (linear, inverse, spot, option),
funding/history, open-interest, kline, account-ratio, recent-trade (options), historical-volatility,
orderbook (linear and inverse: the model's book on the contract's tick, ``tick_size``) and risk-limit (the tier
tables of ``RISK_TABLES`` in the live format: fractions, ``mmDeduction`` continuous, cursor pages).

Perpetuals and dated futures (the model's Bybit futures lines: ``BTCUSDT-29MAY26``, USDC ``BTC-26JUN26``,
inverse ``BTCUSDM26``) share the linear and inverse categories, as on Bybit: instruments-info lists
futures as ``LinearFutures`` / ``InverseFutures`` with ``deliveryTime`` (ms) and a ``launchTime`` (the
moment the model first lists them), tickers carry their ``basis``, ``basisRate``, ``basisRateYear`` and
``deliveryTime``, with empty funding fields. Spot tickers list ``<ASSET>USDT`` and ``<ASSET>USDC``.

Wire format as the real venue (``retCode`` envelope, numbers as strings except where Bybit sends
JSON numbers, e.g. ``fundingInterval`` and ``time``), with today's semantics: ``openInterest`` is
both sides added and ``singleOpenInterest`` one side (the ``*Value`` fields agree with them), and
tickers carry ``fundingIntervalHour``. Except the ``LEGACY_TICKERS`` symbols, whose ticker rows keep
the older shape of the real 2024 captures: no ``fundingIntervalHour`` and no ``singleOpenInterest``
(+``Value``), with ``openInterest`` one side, so a client must fall back on instruments-info.
Paging is real: instruments-info ``limit``/``cursor`` (1..1000, default 500) and funding/history
``limit`` (1..200, default 200) backwards from ``endTime`` (``Faults.page_caps`` may serve fewer rows a page
than asked, as instruments-info and recent-trade pages), no rows before a symbol's ``launchTime`` (the
sim's, or ``Faults.listed_at``). instruments-info lists Trading symbols: a ``status`` filter other than
``Trading`` lists none (the sim has no pre-launch or delivering symbols).
open-interest: ``intervalTime`` 5min..1d, ``limit`` 1..200
(default 50), newest first, ``nextPageCursor`` ``lastid=..&lasttime=<s>`` while older rows remain,
``openInterest`` both sides and ``singleOpenInterest`` one side (the ``LEGACY_TICKERS`` symbols: the
older shape, ``openInterest`` one side alone). kline: ``interval`` 1..720 minutes, D or W (M is not
simulated), ``limit`` 1..1000 (default 200), candles opening in ``[start, end]``, newest first; with
``start`` alone the first ``limit`` candles from ``start`` (as the real ``bybit__ccxt_fetchOHLCV.json``),
else the last ``limit`` up to ``end``; linear ``volume`` in the base coin and ``turnover`` in the quote, inverse
``volume`` in whole USD contracts and ``turnover`` in the coin. account-ratio: USDT perpetuals and inverse
perpetuals, ``period`` 5min..1d, ``limit`` 1..500 (default 50), four-decimal shares. Unknown symbols get retCode
10001 in an HTTP 200 answer.

The fields dtrack reads (rate, mark, index, open interest) carry the model's values at full
precision so tests can compare exactly; inverse open interest is whole USD contracts, as on Bybit.

Options come from ``OptionsModel`` (one per registered module): Bybit's USDC options on BTC, ETH and SOL
(``BTC-29MAY26-90000-C``; the USDT-settled ``-USDT`` ones are not simulated), listed in instruments-info by
``baseCoin`` (BTC by default; ``optionsType``, ``deliveryTime``, ``settleCoin``, tick and lot filters; paged
like the other categories), quoted in tickers (``baseCoin`` or ``symbol`` required, ``expDate`` filter):
USD prices per coin, IVs as fractions with "0" for an empty bid, the model's greeks (Deribit's conventions,
as Bybit's), OI and volume in coins. recent-trade serves only the option category (``optionType`` filter,
the latest ``limit`` trades within 14 days, newest first); historical-volatility only ``period=30`` (the
model's window), hourly fractions, with the documented envelope (``result`` is the list). A coin without
options lists nothing.

Faults are answered in Bybit's format (``fault_answer``): retCode 10006 in HTTP 200 for a rate limit, HTTP
403 "access too frequent" for an IP ban, CloudFront's 403 for a blocked location, retCode 10016 with a 5xx.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any
from urllib.parse import quote, unquote

from dtrack.sim import calendar as cal
from dtrack.sim.faults import Faults
from dtrack.sim.model import ASSETS, DAY_MS, HOUR_MS, MarketModel, SimFuture, SimPerp
from dtrack.sim.options import OptionsModel, SimOption, SimOptionQuote
from dtrack.sim.options import OptionTrade as SimOptionTrade  # not the record: the model's trade
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

Contract = SimPerp | SimFuture

VENUE = "bybit"
HOST = "rest"

INSTRUMENTS_DEFAULT_LIMIT, INSTRUMENTS_MAX_LIMIT = 500, 1000
HISTORY_MAX_LIMIT = 200
#: orderbook ``limit`` (linear and inverse: 1..500, default 25)
BOOK_DEFAULT_LIMIT, BOOK_MAX_LIMIT = 25, 500
OI_DEFAULT_LIMIT, OI_MAX_LIMIT = 50, 200
KLINE_DEFAULT_LIMIT, KLINE_MAX_LIMIT = 200, 1000
RATIO_DEFAULT_LIMIT, RATIO_MAX_LIMIT = 50, 500
PARAMS_ERROR = 10001
MINUTE_MS = 60_000
#: open-interest ``intervalTime`` and account-ratio ``period`` values -> milliseconds.
PERIODS = {"5min": 5 * MINUTE_MS, "15min": 15 * MINUTE_MS, "30min": 30 * MINUTE_MS, "1h": HOUR_MS,
           "4h": 4 * HOUR_MS, "1d": DAY_MS}
#: kline ``interval`` -> (length, offset of the first candle from the epoch): weeks start on Monday
#: (1970-01-05). Monthly candles (``M``) are not simulated.
KLINE_INTERVALS = {**{str(m): (m * MINUTE_MS, 0) for m in (1, 3, 5, 15, 30, 60, 120, 240, 360, 720)},
                   "D": (DAY_MS, 0), "W": (7 * DAY_MS, 4 * DAY_MS)}
SPOT_QUOTES = ("USDT", "USDC")
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


def _contracts(model: MarketModel, category: str, now_ms: int) -> list[Contract]:
    """The category's perpetuals and listed dated futures, in symbol order."""
    futures = [f for f in model.futures(VENUE, now_ms, HOST) if f.margin == category]
    return sorted([*_perps(model, category), *futures], key=lambda c: c.symbol)


def _one_contract(model: MarketModel, req: SimRequest, category: str, *, futures: bool = True) -> Contract | None:
    """The contract named by ``symbol`` (None when not asked); unknown, expired or other-category -> 10001."""
    symbol = req.query.get("symbol")
    if symbol is None:
        return None
    contract: Contract | None = model.perp(VENUE, symbol)
    if contract is None and futures:
        contract = model.future(VENUE, symbol, req.now_ms)
    if contract is None or contract.margin != category:
        raise _error(PARAMS_ERROR, "params error: symbol invalid", req.now_ms)
    return contract


def _one_perp(model: MarketModel, req: SimRequest, category: str) -> SimPerp | None:
    """The perp named by ``symbol`` (None when not asked); unknown or other-category -> 10001."""
    perp = _one_contract(model, req, category, futures=False)
    assert perp is None or isinstance(perp, SimPerp)
    return perp


def _required(contract: Contract | None, req: SimRequest) -> Contract:
    if contract is None:
        raise _error(PARAMS_ERROR, "params error: symbol is required", req.now_ms)
    return contract


def _derivatives(req: SimRequest) -> str:
    """The ``category`` of an endpoint that serves linear and inverse contracts only."""
    category = _category(req)
    if category not in ("linear", "inverse"):
        raise _error(PARAMS_ERROR, "Illegal category", req.now_ms)
    return category


@lru_cache(maxsize=512)
def _future_launch_ms(symbol: str, expiry_ms: int) -> int:
    """When the model first lists a dated future (to the hour): the model lists the next few expiries
    of each line, so a weekly appears two weeks before its expiry and a quarterly two quarters before."""
    def listed(t: int) -> bool:
        return any(f.symbol == symbol for f in MarketModel.futures(VENUE, t, HOST))

    lo, hi = expiry_ms - 400 * DAY_MS, expiry_ms - 1  # not yet listed, listed
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if listed(mid) else (mid, hi)
    return -(-hi // HOUR_MS) * HOUR_MS


def launch_ms(contract: Contract, faults: Faults | None = None) -> int:
    """A contract's ``launchTime`` (``Faults.listed_at`` when set there): history starts there."""
    if isinstance(contract, SimFuture):
        listed = _future_launch_ms(contract.symbol, contract.expiry_ms)
    else:
        listed = LAUNCH_MS.get(contract.symbol, DEFAULT_LAUNCH_MS)
    return faults.listing_ms(VENUE, contract.symbol, listed) if faults is not None else listed


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


def _base_coin(contract: Contract) -> str:
    return f"{contract.multiplier:g}{contract.asset}" if contract.multiplier != 1 else contract.asset


def _settle_coin(contract: Contract) -> str:
    return contract.asset if contract.margin == "inverse" else contract.quote


def _aligned(lo: int, hi: int, step: int, offset: int = 0) -> range:
    """The times ``offset + k x step`` in ``[lo, hi]``, ascending."""
    first = offset + -(-(lo - offset) // step) * step
    last = offset + (hi - offset) // step * step
    return range(first, last + 1, step)


def _page_cursor(last_ms: int) -> str:
    """A history cursor in Bybit's style (``lastid%3D..%26lasttime%3D<seconds>``)."""
    return quote(f"lastid={last_ms // 1000}&lasttime={last_ms // 1000}", safe="")


def _cursor_before(req: SimRequest) -> int | None:
    """The time (ms) a history ``cursor`` continues before, if one was sent."""
    raw = req.query.get("cursor")
    if not raw:
        return None
    fields = dict(part.partition("=")[::2] for part in unquote(raw).split("&"))
    try:
        return int(fields["lasttime"]) * 1000
    except (KeyError, ValueError):
        raise _error(PARAMS_ERROR, "params error: cursor invalid", req.now_ms) from None


# --- instruments-info ------------------------------------------------------------------------


def _instrument_row(contract: Contract, symbol_id: int, faults: Faults | None = None) -> dict[str, Any]:
    inverse = contract.margin == "inverse"
    future = isinstance(contract, SimFuture)
    kind = ("Inverse" if inverse else "Linear") + ("Futures" if future else "Perpetual")
    return {
        "symbol": contract.symbol, "symbolId": symbol_id, "contractType": kind, "status": "Trading",
        "baseCoin": _base_coin(contract), "quoteCoin": contract.quote,
        "launchTime": str(launch_ms(contract, faults)),
        "deliveryTime": str(contract.expiry_ms) if isinstance(contract, SimFuture) else "0",
        "deliveryFeeRate": "0.0005" if future else "", "priceScale": str(_scale(tick_size(contract))),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00" if future else "100.00",
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": _plain(tick_size(contract)), "maxPrice": "1999999.98",
                        "tickSize": _plain(tick_size(contract))},
        "lotSizeFilter": {"maxOrderQty": "1000000", "minOrderQty": "1" if inverse else "0.001",
                          "qtyStep": "1" if inverse else "0.001", "postOnlyMaxOrderQty": "1000000",
                          "maxMktOrderQty": "500000", "minNotionalValue": "5"},
        "unifiedMarginTrade": True,
        # minutes, a JSON number; dated futures pay no funding
        "fundingInterval": 0 if isinstance(contract, SimFuture) else contract.interval_h * 60,
        "settleCoin": _settle_coin(contract), "copyTrading": "none" if future else "both",
        "upperFundingRate": "" if future else FUNDING_CAP, "lowerFundingRate": "" if future else f"-{FUNDING_CAP}",
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


def _paged(rows: list[dict[str, Any]], req: SimRequest, limit: int) -> tuple[list[dict[str, Any]], str]:
    """One page of ``rows`` (in symbol order) after the request's ``cursor``, and the next cursor ("" at the end)."""
    if "cursor" in req.query:
        try:
            after = _after_cursor(req.query["cursor"])
        except ValueError:
            raise _error(PARAMS_ERROR, "params error: cursor invalid", req.now_ms) from None
        rows = [r for r in rows if r["symbol"] > after]
    page, rest = rows[:limit], rows[limit:]
    return page, _cursor(page[0]["symbol"], page[-1]["symbol"]) if page and rest else ""


def instruments_info(model: MarketModel, req: SimRequest, options: OptionsModel | None = None) -> dict[str, Any]:
    """GET /v5/market/instruments-info?category=&symbol=&baseCoin=&limit=&cursor= (perpetuals and dated futures;
    options by ``baseCoin``, BTC by default)"""
    category = _category(req)
    limit = _int_param(req, "limit", INSTRUMENTS_DEFAULT_LIMIT, 1, INSTRUMENTS_MAX_LIMIT)
    assert limit is not None
    limit = req.faults.page_cap(VENUE, req.path, limit)
    if req.query.get("status", "Trading") != "Trading":
        return _ok({"category": category, "list": [], "nextPageCursor": ""}, req.now_ms)
    if category == "option":
        chosen = _options_asked(options or OptionsModel(model), req, default_base="BTC")
        rows = sorted((_option_instrument_row(o) for o in chosen), key=lambda r: r["symbol"])
    else:
        one = _one_contract(model, req, category)
        contracts = [one] if one is not None else _contracts(model, category, req.now_ms)
        every: list[Contract] = [*model.perps(VENUE, HOST), *model.futures(VENUE, req.now_ms, HOST)]
        ids = {c.symbol: i + 1 for i, c in enumerate(every)}
        rows = [_instrument_row(c, ids[c.symbol], req.faults) for c in contracts]
    page, cursor = _paged(rows, req, limit)
    return _ok({"category": category, "list": page, "nextPageCursor": cursor}, req.now_ms)


# --- tickers ---------------------------------------------------------------------------------


def _open_interest(model: MarketModel, contract: Contract, now: int, mark: float) -> tuple[float, float]:
    """(one side in Bybit's unit, its value): linear base coin and USD; inverse USD contracts and coin."""
    base = model.open_interest_base(contract, now)
    if contract.margin == "inverse":
        contracts = float(round(base * mark / contract.contract_size))
        return contracts, contracts * contract.contract_size / mark
    return base, base * mark


def _oi_text(contract: Contract, amount: float) -> str:
    """An open-interest figure as Bybit writes it: whole USD contracts (inverse) or a decimal (linear)."""
    return str(round(amount)) if contract.margin == "inverse" else dec(amount)


def _funding_fields(model: MarketModel, contract: Contract, now: int) -> dict[str, str]:
    """Funding fields of a perpetual's ticker; empty for a dated future (as in the real futures ticker
    of ``bybit__ws_tickers__docs.json``)."""
    if isinstance(contract, SimFuture):
        return {"fundingRate": "", "nextFundingTime": "", "fundingIntervalHour": "", "fundingCap": ""}
    rate, next_ms = model.current_funding(contract, now)
    return {"fundingRate": dec(rate), "nextFundingTime": str(next_ms),
            "fundingIntervalHour": str(contract.interval_h), "fundingCap": FUNDING_CAP}


def _delivery_fields(model: MarketModel, contract: Contract, now: int, mark: float, index: float) -> dict[str, str]:
    """A dated future's delivery and basis fields (basis = last - index, basisRate = mark / index - 1,
    basisRateYear = basisRate annualized over the days left); empty on a perpetual."""
    if not isinstance(contract, SimFuture):
        return {"deliveryTime": "0", "basis": "", "basisRate": "", "basisRateYear": "", "deliveryFeeRate": ""}
    rate = mark / index - 1.0
    days = max(contract.expiry_ms - now, HOUR_MS) / DAY_MS
    return {"deliveryTime": str(contract.expiry_ms), "basis": dec(mark - index), "basisRate": fixed(rate, 8),
            "basisRateYear": fixed(rate * 365.0 / days, 8), "deliveryFeeRate": "0.0005"}


def _ticker_row(model: MarketModel, contract: Contract, now: int) -> dict[str, Any]:
    mark = model.contract_mark(contract, now)
    index = model.index_price(contract.asset, now) * contract.multiplier
    single, single_value = _open_interest(model, contract, now, mark)
    day_ago, hour_ago = model.contract_mark(contract, now - DAY_MS), model.contract_mark(contract, now - HOUR_MS)
    path = [model.contract_mark(contract, now - k * HOUR_MS) for k in range(25)]
    volume = 3.0 * single  # a day's volume of about three times the open interest
    places = max(2, 6 - math.floor(math.log10(mark)))
    tick = 10.0**-places
    legacy = contract.symbol in LEGACY_TICKERS
    sides = 1.0 if legacy else 2.0  # openInterest: one side in the older shape, both sides today
    funding = _funding_fields(model, contract, now)
    delivery = _delivery_fields(model, contract, now, mark, index)
    row = {
        "symbol": contract.symbol, "lastPrice": dec(mark), "indexPrice": dec(index), "markPrice": dec(mark),
        "prevPrice24h": fixed(day_ago, places), "price24hPcnt": fixed(mark / day_ago - 1.0, 6),
        "highPrice24h": fixed(max(path), places), "lowPrice24h": fixed(min(path), places),
        "prevPrice1h": fixed(hour_ago, places),
        "openInterest": _oi_text(contract, sides * single), "openInterestValue": dec(sides * single_value),
        "singleOpenInterest": _oi_text(contract, single), "singleOpenInterestValue": dec(single_value),
        "turnover24h": fixed(volume * (mark if contract.margin == "linear" else 1.0 / mark), 4),
        "volume24h": fixed(volume, 4),
        "fundingRate": funding["fundingRate"], "nextFundingTime": funding["nextFundingTime"],
        "predictedDeliveryPrice": "", "basisRate": delivery["basisRate"],
        "deliveryFeeRate": delivery["deliveryFeeRate"], "deliveryTime": delivery["deliveryTime"],
        "ask1Size": "1.000", "bid1Price": fixed(mark - tick, places), "ask1Price": fixed(mark, places),
        "bid1Size": "1.000", "basis": delivery["basis"], "preOpenPrice": "", "preQty": "", "curPreListingPhase": "",
        "fundingIntervalHour": funding["fundingIntervalHour"], "basisRateYear": delivery["basisRateYear"],
        "fundingCap": funding["fundingCap"],
    }
    if legacy:
        for key in ("singleOpenInterest", "singleOpenInterestValue", "fundingIntervalHour"):
            del row[key]
    return row


def _spot_row(model: MarketModel, asset: str, quote: str, now: int) -> dict[str, Any]:
    """A spot ticker row (as ``bybit__rest_tickers__docs.json``); ``lastPrice`` at full precision."""
    last = model.spot_price(VENUE, asset, now)
    day_ago = model.spot_price(VENUE, asset, now - DAY_MS)
    path = [model.spot_price(VENUE, asset, now - k * HOUR_MS) for k in range(25)]
    places = max(2, 6 - math.floor(math.log10(last)))
    volume = ASSETS[asset].oi_usd / last / 20.0
    return {
        "symbol": f"{asset}{quote}", "bid1Price": fixed(last * (1 - 1e-5), places), "bid1Size": "1.5",
        "ask1Price": fixed(last * (1 + 1e-5), places), "ask1Size": "1.2", "lastPrice": dec(last),
        "prevPrice24h": fixed(day_ago, places), "price24hPcnt": fixed(last / day_ago - 1.0, 4),
        "highPrice24h": fixed(max(path), places), "lowPrice24h": fixed(min(path), places),
        "turnover24h": fixed(volume * last, 8), "volume24h": fixed(volume, 6),
        "usdIndexPrice": dec(model.index_price(asset, now)),
    }


def _spot_tickers(model: MarketModel, req: SimRequest) -> list[dict[str, Any]]:
    rows = [_spot_row(model, a, q, req.now_ms) for a in sorted(ASSETS) for q in SPOT_QUOTES]
    if "symbol" in req.query:
        rows = [r for r in rows if r["symbol"] == req.query["symbol"]]
        if not rows:
            raise _error(PARAMS_ERROR, "params error: symbol invalid", req.now_ms)
    return rows


def tickers(model: MarketModel, req: SimRequest, options: OptionsModel | None = None) -> dict[str, Any]:
    """GET /v5/market/tickers?category=linear|inverse|spot|option[&symbol=][&baseCoin=][&expDate=]"""
    category = _category(req)
    if category == "spot":
        return _ok({"category": category, "list": _spot_tickers(model, req)}, req.now_ms)
    if category == "option":
        return _ok({"category": category, "list": _option_tickers(options or OptionsModel(model), req)}, req.now_ms)
    one = _one_contract(model, req, category)
    contracts = [one] if one is not None else _contracts(model, category, req.now_ms)
    rows = [_ticker_row(model, c, req.now_ms) for c in contracts]
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
    floor = launch_ms(perp, req.faults)
    if start is None:
        start = end - limit * perp.interval_h * HOUR_MS  # enough for ``limit`` settlements
    rows = model.settlements(perp, max(start, floor), end)[::-1][:req.faults.page_cap(VENUE, req.path, limit)]
    return _ok({"category": category, "list": [
        {"symbol": perp.symbol, "fundingRate": dec(rate), "fundingRateTimestamp": str(t)} for t, rate in rows
    ]}, req.now_ms)


# --- open-interest ---------------------------------------------------------------------------


def _window(req: SimRequest, start_key: str, end_key: str, floor: int) -> tuple[int, int]:
    """``[lo, hi]`` of a history request: from ``start`` (or the launch) to ``end`` (or now), never
    before the launch nor after now."""
    start = _int_param(req, start_key, None, 0, None)
    end = _int_param(req, end_key, None, 0, None)
    hi = min(end if end is not None else req.now_ms, req.now_ms)
    return max(start if start is not None else floor, floor), hi


def _newest_page(times: range, limit: int) -> tuple[list[int], bool]:
    """The newest ``limit`` of ``times``, newest first, and whether older ones remain."""
    page = list(reversed(times))[:limit]
    return page, len(times) > limit


def open_interest(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/open-interest?category=&symbol=&intervalTime=[&startTime=][&endTime=][&limit=][&cursor=]"""
    category = _derivatives(req)
    contract = _required(_one_contract(model, req, category), req)
    step = PERIODS.get(req.query.get("intervalTime", ""))
    if step is None:
        raise _error(PARAMS_ERROR, "params error: intervalTime invalid", req.now_ms)
    limit = _int_param(req, "limit", OI_DEFAULT_LIMIT, 1, OI_MAX_LIMIT)
    assert limit is not None
    lo, hi = _window(req, "startTime", "endTime", launch_ms(contract, req.faults))
    before = _cursor_before(req)
    if before is not None:
        hi = min(hi, before - 1)
    times, more = _newest_page(_aligned(lo, hi, step), limit)
    legacy = contract.symbol in LEGACY_TICKERS
    rows = []
    for t in times:
        single, _ = _open_interest(model, contract, t, model.contract_mark(contract, t))
        row = {"openInterest": fixed(single if legacy else 2.0 * single, 8),
               "singleOpenInterest": _oi_text(contract, single), "timestamp": str(t)}
        if legacy:
            del row["singleOpenInterest"]
        rows.append(row)
    cursor = _page_cursor(times[-1]) if more else ""
    return _ok({"symbol": contract.symbol, "category": category, "list": rows, "nextPageCursor": cursor},
               req.now_ms)


# --- kline -----------------------------------------------------------------------------------


def kline(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/kline?category=&symbol=&interval=[&start=][&end=][&limit=] (candles of the mark path)."""
    category = _derivatives(req)
    contract = _required(_one_contract(model, req, category), req)
    length, offset = KLINE_INTERVALS.get(req.query.get("interval", ""), (0, 0))
    if not length:
        raise _error(PARAMS_ERROR, "params error: interval invalid", req.now_ms)
    limit = _int_param(req, "limit", KLINE_DEFAULT_LIMIT, 1, KLINE_MAX_LIMIT)
    assert limit is not None
    lo, hi = _window(req, "start", "end", launch_ms(contract, req.faults))
    opens = _aligned(lo, hi, length, offset)
    if "start" in req.query and "end" not in req.query:
        picked = list(opens)[:limit][::-1]
    else:
        picked, _ = _newest_page(opens, limit)
    rows = []
    for t in picked:
        o, h, low, c = model.candle(contract, t, length)
        coins = 0.01 * model.open_interest_base(contract, t) * length / HOUR_MS  # in the venue's base coin
        if contract.margin == "linear":  # volume in the base coin, turnover in the quote
            volume, turnover = fixed(coins, 3), fixed(coins * c, 4)
        else:  # volume in whole USD contracts, turnover in the coin
            volume, turnover = str(round(coins * c / contract.contract_size)), fixed(coins, 8)
        rows.append([str(t), dec(o), dec(h), dec(low), dec(c), volume, turnover])
    return _ok({"symbol": contract.symbol, "category": category, "list": rows}, req.now_ms)


# --- account-ratio ---------------------------------------------------------------------------


def account_ratio(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/account-ratio?category=&symbol=&period=[&limit=][&startTime=][&endTime=]
    (linear: USDT perpetuals only)."""
    category = _derivatives(req)
    perp = _one_perp(model, req, category)
    if perp is None:
        raise _error(PARAMS_ERROR, "params error: symbol is required", req.now_ms)
    if category == "linear" and perp.quote != "USDT":
        raise _error(PARAMS_ERROR, "params error: symbol invalid", req.now_ms)
    step = PERIODS.get(req.query.get("period", ""))
    if step is None:
        raise _error(PARAMS_ERROR, "params error: period invalid", req.now_ms)
    limit = _int_param(req, "limit", RATIO_DEFAULT_LIMIT, 1, RATIO_MAX_LIMIT)
    assert limit is not None
    lo, hi = _window(req, "startTime", "endTime", launch_ms(perp, req.faults))
    times, more = _newest_page(_aligned(lo, hi, step), limit)
    rows = []
    for t in times:
        buy = round(model.long_share(VENUE, perp.symbol, "accounts", t), 4)
        rows.append({"symbol": perp.symbol, "buyRatio": fixed(buy, 4), "sellRatio": fixed(1.0 - buy, 4),
                     "timestamp": str(t)})
    cursor = quote(f"lastid=0&lasttime={times[-1] // 1000}", safe="") if more else ""
    return _ok({"list": rows, "nextPageCursor": cursor}, req.now_ms)


# --- options ---------------------------------------------------------------------------------


def _option_assets(options: OptionsModel) -> set[str]:
    return {m.asset for m in options.markets(VENUE)}


def _options_asked(options: OptionsModel, req: SimRequest, default_base: str | None) -> list[SimOption]:
    """The listed options a request names: ``symbol`` (unknown -> 10001), else those of ``baseCoin``
    (``default_base`` when absent; None: one of the two is required) and of ``expDate`` (``25DEC22``) if given.
    A coin without options lists none."""
    symbol = req.query.get("symbol")
    if symbol is not None:
        found = options.find(VENUE, symbol, req.now_ms)
        if found is None:
            raise _error(PARAMS_ERROR, "params error: symbol invalid", req.now_ms)
        return [found]
    base = req.query.get("baseCoin", default_base)
    if base is None:
        raise _error(PARAMS_ERROR, "params error: baseCoin or symbol is required for option", req.now_ms)
    if base not in _option_assets(options):
        return []
    listed = options.listed(VENUE, base, req.now_ms)
    if "expDate" in req.query:
        listed = [o for o in listed if cal.dmy(o.expiry_ms) == req.query["expDate"]]
    return listed


def _plain(x: float) -> str:
    """A price or size on its grid as Bybit writes it: ``5655``, ``0.01`` (no trailing ``.0``)."""
    return format(Decimal(repr(x)).normalize(), "f")


def _on_tick(price: float, tick: float) -> str:
    return _plain(round(round(price / tick) * tick, 10))


def _option_instrument_row(o: SimOption) -> dict[str, Any]:
    """An instruments-info option row (as the USDT option of ``bybit__rest_instruments_info__docs.json``)."""
    cp = "Call" if o.is_call else "Put"
    return {
        "symbol": o.instrument, "status": "Trading", "baseCoin": o.asset,
        "quoteCoin": "USD",  # USDC options are quoted in USD (the USDT ones: USDT)
        "settleCoin": o.settle, "optionsType": cp, "launchTime": str(o.listed_ms),
        "deliveryTime": str(o.expiry_ms), "deliveryFeeRate": "0.00015",
        "priceFilter": {"minPrice": _plain(o.tick_size), "maxPrice": _plain(o.tick_size * 200_000),
                        "tickSize": _plain(o.tick_size)},
        "lotSizeFilter": {"maxOrderQty": _plain(o.min_amount * 50_000), "minOrderQty": _plain(o.min_amount),
                          "qtyStep": _plain(o.min_amount)},
        "displayName": f"{o.asset}{o.settle}-{o.instrument.split('-', 1)[1]}",
    }




def _option_ticker_row(q: SimOptionQuote) -> dict[str, Any]:
    """An option tickers row (as ``bybit__ccxt_fetchTickers.json``): USD prices per coin, IVs as fractions, "0"
    for an empty bid; mark, IVs, underlying, index, OI, volume and greeks at the model's full precision."""
    o = q.option
    last = _on_tick(q.mark_price_usd, o.tick_size)
    bid = q.bid_price_usd is not None
    return {
        "symbol": o.instrument,
        "bid1Price": _plain(q.bid_price_usd) if q.bid_price_usd is not None else "0",
        "bid1Size": _plain(q.bid_size) if bid else "0",
        "bid1Iv": dec(q.bid_iv) if q.bid_iv is not None else "0",
        "ask1Price": _plain(q.ask_price_usd), "ask1Size": _plain(q.ask_size), "ask1Iv": dec(q.ask_iv),
        "lastPrice": last, "highPrice24h": last, "lowPrice24h": last,
        "markPrice": dec(q.mark_price_usd), "indexPrice": dec(q.index_price), "markIv": dec(q.mark_iv),
        "underlyingPrice": dec(q.underlying_price), "openInterest": _plain(q.open_interest),
        "turnover24h": fixed(q.volume_24h * q.index_price, 4), "volume24h": _plain(q.volume_24h),
        "totalVolume": str(math.ceil(q.open_interest + 3.0 * q.volume_24h)),
        "totalTurnover": str(math.ceil((q.open_interest + 3.0 * q.volume_24h) * q.index_price)),
        "delta": dec(q.delta), "gamma": dec(q.gamma), "vega": dec(q.vega), "theta": dec(q.theta),
        "predictedDeliveryPrice": "0", "change24h": "0",
    }


def _option_tickers(options: OptionsModel, req: SimRequest) -> list[dict[str, Any]]:
    """The option tickers of a ``symbol`` or of a ``baseCoin`` (one of them required)."""
    asked = _options_asked(options, req, default_base=None)
    if not asked:
        return []
    chain = {q.option.instrument: q for q in options.chain(VENUE, asked[0].asset, req.now_ms)}
    return [_option_ticker_row(chain[o.instrument]) for o in asked]


def _option_category(req: SimRequest) -> str:
    """The ``category`` of an endpoint simulated for options only."""
    category = _category(req)
    if category != "option":
        raise _error(PARAMS_ERROR, f"params error: category {category} is not simulated here", req.now_ms)
    return category


def _base_coin_param(req: SimRequest) -> str:
    return req.query.get("baseCoin", "BTC")


#: How far back recent-trade looks for its ``limit`` trades (whole days from now).
TRADE_LOOKBACK_DAYS = 14
TRADES_DEFAULT_LIMIT, TRADES_MAX_LIMIT = 500, 1000


def recent_trade(options: OptionsModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/recent-trade?category=option[&baseCoin=][&symbol=][&optionType=Call|Put][&limit=]: the
    latest ``limit`` trades (1..1000, default 500) of a coin (BTC by default), newest first (only options are
    simulated). Rows carry ``mP``, ``iP``, ``mIv`` and ``iv`` (fractions) and ``isBlockTrade``."""
    category = _option_category(req)
    limit = _int_param(req, "limit", TRADES_DEFAULT_LIMIT, 1, TRADES_MAX_LIMIT)
    assert limit is not None
    limit = req.faults.page_cap(VENUE, req.path, limit)
    kind = req.query.get("optionType")
    if kind not in (None, "Call", "Put"):
        raise _error(PARAMS_ERROR, "params error: optionType invalid", req.now_ms)
    symbol = req.query.get("symbol")
    base = _options_asked(options, req, "BTC")[0].asset if symbol is not None else _base_coin_param(req)
    picked: list[SimOptionTrade] = []
    if base in _option_assets(options):
        for day in range(TRADE_LOOKBACK_DAYS):
            hi = req.now_ms - day * DAY_MS
            day_trades = [t for t in options.trades(VENUE, base, hi - DAY_MS + 1, hi)
                          if (kind is None or t.option.is_call == (kind == "Call"))
                          and (symbol is None or t.instrument == symbol)]
            picked = day_trades + picked
            if len(picked) >= limit:
                break
    rows = []
    for t in picked[::-1][:limit]:
        mark = options.quote(t.option, t.ts_ms)
        rows.append({
            "execId": t.trade_id, "symbol": t.instrument, "price": _plain(t.price_usd), "size": _plain(t.amount),
            "side": "Buy" if t.direction == "buy" else "Sell", "time": str(t.ts_ms),
            "isBlockTrade": t.block_trade_id is not None, "isRPITrade": False, "seq": t.trade_id,
            "mP": dec(mark.mark_price_usd), "iP": dec(t.index_price), "mIv": dec(mark.mark_iv),
            "iv": fixed(t.iv / 100.0, 4),
        })
    return _ok({"category": category, "list": rows}, req.now_ms)


#: The realized-volatility ``period`` (days) the model publishes: its trailing 30-day window.
HV_PERIOD = 30
HV_MAX_SPAN_MS = 30 * DAY_MS
HV_MAX_AGE_MS = 2 * 365 * DAY_MS


def historical_volatility(options: OptionsModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/historical-volatility?category=option[&baseCoin=][&period=][&startTime=&endTime=]: hourly
    realized volatility (fractions) of the index, ascending. ``startTime`` and ``endTime`` go together, at most
    30 days apart (neither: the last hour); older than 2 years is cut off. Only ``period=30`` is simulated (the
    model's window). Envelope as documented: ``category`` beside ``result``, the list itself."""
    category = _option_category(req)
    period = _int_param(req, "period", 7, 1, None)
    if period != HV_PERIOD:
        raise _error(PARAMS_ERROR, f"params error: period {period} is not simulated (only {HV_PERIOD})", req.now_ms)
    start = _int_param(req, "startTime", None, 0, None)
    end = _int_param(req, "endTime", None, 0, None)
    if (start is None) != (end is None):
        raise _error(PARAMS_ERROR, "params error: startTime and endTime go together", req.now_ms)
    if start is None or end is None:
        start, end = req.now_ms - HOUR_MS, req.now_ms
    if end - start > HV_MAX_SPAN_MS:
        raise _error(PARAMS_ERROR, "params error: endTime - startTime exceeds 30 days", req.now_ms)
    base = _base_coin_param(req)
    points = options.historical_volatility(base, max(start, req.now_ms - HV_MAX_AGE_MS), end) \
        if base in _option_assets(options) else []
    return {"retCode": 0, "retMsg": "SUCCESS", "category": category,
            "result": [{"period": HV_PERIOD, "value": fixed(pct / 100.0, 8), "time": str(t)} for t, pct in points]}


# --- orderbook ---------------------------------------------------------------------------------


def tick_size(contract: Contract) -> float:
    """A contract's price tick: six significant digits of its asset's reference price (0.1 on BTC, 0.01 on ETH,
    1e-7 on 1000PEPE; the real ticks are of that order)."""
    reference = ASSETS[contract.asset].price * contract.multiplier
    return float(f"1e{math.floor(math.log10(reference)) - 5}")


def _scale(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def orderbook(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/orderbook?category=linear|inverse&symbol=[&limit=]: ``limit`` levels a side (1..500, default
    25) of the model's book on the contract's tick; sizes in the base coin (linear, on the 0.001 lot) or whole
    USD contracts (inverse). ``ts``, ``u``, ``seq`` and ``cts`` are JSON numbers."""
    category = _derivatives(req)
    contract = _required(_one_contract(model, req, category), req)
    limit = _int_param(req, "limit", BOOK_DEFAULT_LIMIT, 1, BOOK_MAX_LIMIT)
    assert limit is not None
    tick = tick_size(contract)
    bids, asks = model.book(contract, req.now_ms, limit, tick)

    def level(price: float, size: float) -> list[str]:
        if contract.margin == "inverse":
            return [_on_tick(price, tick), str(max(1, round(size * price / contract.contract_size)))]
        return [_on_tick(price, tick), _plain(max(0.001, round(size, 3)))]

    return _ok({"s": contract.symbol, "b": [level(*b) for b in bids], "a": [level(*a) for a in asks],
                "ts": req.now_ms, "u": req.now_ms // 100 % 10_000_000, "seq": req.now_ms // 10, "cts": req.now_ms},
               req.now_ms)


# --- risk-limit ----------------------------------------------------------------------------------

#: Risk-limit tables by (asset, category): each tier's cap (``riskLimitValue``: USDT/USDC notional for linear, coins
#: for inverse) and maintenance rate, as Bybit writes them (live answers: fractions). The initial rate is twice the
#: maintenance rate and ``maxLeverage`` its inverse (two decimals, cut, as "33.33"); ``mmDeduction`` follows from
#: continuity (``risk_tiers``). Dated futures share their asset's table.
RISK_TABLES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("BTC", "linear"): (("2000000", "0.005"), ("10000000", "0.01"), ("20000000", "0.015"), ("40000000", "0.02"),
                        ("80000000", "0.025"), ("120000000", "0.03"), ("200000000", "0.04")),
    ("ETH", "linear"): (("1000000", "0.005"), ("5000000", "0.01"), ("10000000", "0.015"), ("20000000", "0.02"),
                        ("40000000", "0.025"), ("60000000", "0.03")),
    ("SOL", "linear"): (("200000", "0.01"), ("1000000", "0.015"), ("2000000", "0.02"), ("5000000", "0.03"),
                        ("10000000", "0.05")),
    ("PEPE", "linear"): (("200000", "0.01"), ("800000", "0.02"), ("1600000", "0.03"), ("3000000", "0.05")),
    ("BTC", "inverse"): (("150", "0.005"), ("300", "0.01"), ("450", "0.015"), ("600", "0.02"), ("750", "0.025")),
    ("ETH", "inverse"): (("5000", "0.005"), ("10000", "0.01"), ("15000", "0.015"), ("20000", "0.02")),
}
#: risk-limit answers at most this many symbols a page (``category=linear``: "15 symbols each request").
RISK_PAGE_SYMBOLS = 15


def risk_tiers(contract: Contract) -> list[dict[str, Any]]:
    """The risk-limit rows of one contract, lowest tier first, in Bybit's live format: ``maintenanceMargin`` and
    ``initialMargin`` fractions, ``mmDeduction`` "" on the lowest tier and then
    ``deduction_n = deduction_n-1 + cap_n-1 x (mmr_n - mmr_n-1)`` (exact decimals), which makes the maintenance
    margin ``notional x mmr - deduction`` continuous at every cap."""
    rows: list[dict[str, Any]] = []
    deduction, floor, prev_mmr = Decimal(0), Decimal(0), Decimal(0)
    for n, (cap, mmr) in enumerate(RISK_TABLES[(contract.asset, contract.margin)], start=1):
        rate = Decimal(mmr)
        deduction += floor * (rate - prev_mmr)
        imr = 2 * rate
        leverage = math.floor(100 / imr) / 100
        rows.append({"id": n, "symbol": contract.symbol, "riskLimitValue": cap, "maintenanceMargin": mmr,
                     "initialMargin": format(imr.normalize(), "f"), "isLowestRisk": 1 if n == 1 else 0,
                     "maxLeverage": f"{leverage:.2f}",
                     "mmDeduction": "" if n == 1 else format(deduction.normalize(), "f")})
        floor, prev_mmr = Decimal(cap), rate
    return rows


def _risk_cursor(row: Mapping[str, Any]) -> str:
    return quote(f"symbol={row['symbol']}&id={row['id']}", safe="")


def risk_limit(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """GET /v5/market/risk-limit?category=linear|inverse[&symbol=][&cursor=]: every contract's tiers (perpetuals and
    dated futures), at most 15 symbols a page (fewer rows when ``Faults.page_caps`` caps the page), then
    ``nextPageCursor`` (``symbol=..&id=..`` of the last row served, URL-encoded) while rows remain."""
    category = _derivatives(req)
    one = _one_contract(model, req, category)
    contracts = [one] if one is not None else _contracts(model, category, req.now_ms)
    rows = [row for c in contracts for row in risk_tiers(c)]
    if req.query.get("cursor"):
        fields = dict(part.partition("=")[::2] for part in unquote(req.query["cursor"]).split("&"))
        after = next((i for i, r in enumerate(rows) if r["symbol"] == fields.get("symbol")
                      and str(r["id"]) == fields.get("id")), None)
        if after is None:
            raise _error(PARAMS_ERROR, "params error: cursor invalid", req.now_ms)
        rows = rows[after + 1:]
    cap = req.faults.page_cap(VENUE, req.path, len(rows))
    page: list[dict[str, Any]] = []
    for row in rows:
        if len(page) >= cap or len({r["symbol"] for r in page} | {row["symbol"]}) > RISK_PAGE_SYMBOLS:
            break
        page.append(row)
    cursor = _risk_cursor(page[-1]) if page and len(page) < len(rows) else ""
    return _ok({"category": category, "list": page, "nextPageCursor": cursor}, req.now_ms)


# --- faults ------------------------------------------------------------------------------------


def fault_answer(status: int, now_ms: int) -> SimHttpError:
    """Bybit's answer to a fault meaning HTTP ``status``: a rate limit is retCode 10006 "Too many visits!" in an
    HTTP 200 answer; an IP ban is HTTP 403 "access too frequent" (the IP rate limit's answer, at least 10
    minutes); a blocked location is CloudFront's HTTP 403 page; 5xx carry retCode 10016; other statuses are a
    parameter error (retCode 10001, HTTP 200), as Bybit answers refused requests."""
    envelope = {"result": {}, "retExtInfo": {}, "time": now_ms}
    if status == 429:
        return SimHttpError(200, {"retCode": 10006, "retMsg": "Too many visits!", **envelope})
    if status == 418:
        return SimHttpError(403, "access too frequent", text=True)
    if status == 451:
        return SimHttpError(403, "The Amazon CloudFront distribution is configured to block access from your "
                                 "country.", text=True)
    if status >= 500:
        return SimHttpError(status, {"retCode": 10016, "retMsg": "Internal server error.", **envelope})
    return SimHttpError(200, {"retCode": PARAMS_ERROR, "retMsg": "params error", **envelope})


def register(routes: SimRoutes, model: MarketModel) -> None:
    """Serve the Bybit endpoints dtrack calls (and the order book ccxt asks for)."""
    options = OptionsModel(model)
    handlers: dict[str, Callable[[SimRequest], Any]] = {
        "/v5/market/instruments-info": partial(instruments_info, model, options=options),
        "/v5/market/tickers": partial(tickers, model, options=options),
        "/v5/market/funding/history": partial(funding_history, model),
        "/v5/market/open-interest": partial(open_interest, model),
        "/v5/market/kline": partial(kline, model),
        "/v5/market/account-ratio": partial(account_ratio, model),
        "/v5/market/recent-trade": partial(recent_trade, options),
        "/v5/market/historical-volatility": partial(historical_volatility, options),
        "/v5/market/orderbook": partial(orderbook, model),
        "/v5/market/risk-limit": partial(risk_limit, model),
    }
    for path, handler in handlers.items():
        routes.add(VENUE, HOST, "GET", path, handler)
    routes.on_error(VENUE, fault_answer)
