"""Simulated dYdX v4 indexer (host ``rest``, paths under ``/v4``), in the indexer's wire format, from the market model.

Shapes follow the real answers recorded by ccxt (``tests/payloads/dydx__ccxt_*.json``) and the indexer's code
(``dydxprotocol/v4-chain`` ``indexer/services/comlink``: controllers, validation, ``rate-limit.ts``):
- ``GET /v4/perpetualMarkets[?ticker=]``: ``{"markets": {ticker: market}}`` for the model's dYdX perpetuals plus one
  market in FINAL_SETTLEMENT (``SETTLED_TICKER``, which a client must skip); numbers are decimal strings except the
  integer ``trades24H``, ``atomicResolution``, ``quantumConversionExponent``, ``stepBaseQuantums``,
  ``subticksPerTick``. ``nextFundingRate`` is the model's rate of the next hourly settlement (a 1-hour rate, as the
  indexer computes it), ``openInterest`` the model's one-sided open interest in coins rounded to ``stepSize``,
  ``oraclePrice`` the model's index, the margin fractions per market (``_SPECS``) with open-interest caps on
  ``OI_CAPS`` markets. An unknown ``ticker`` answers HTTP 404 ``{"errors": [{"msg": ...}]}``.
- ``GET /v4/historicalFunding/{ticker}?limit=&effectiveBeforeOrAt=``: settled hourly rates, newest first, at most
  ``limit`` (1..1000, default 1000) rows with ``effectiveAt <= effectiveBeforeOrAt`` (default now), from ``LISTED_MS``
  on; ``effectiveAt`` lands about a second after the hour (``settle_lag_ms``), ``price`` is the oracle price then.
- ``GET /v4/candles/perpetualMarkets/{ticker}?resolution=&limit=&fromISO=&toISO=``: candles with ``fromISO <=
  startedAt < toISO`` (candle-table.ts), newest first, at most ``limit`` (default 1000), the newest one still open;
  prices from the model's mark path (``model.candle``), ``startingOpenInterest`` the open interest at the open.
  Unknown parameters are ignored, as express-validator's ``matchedData`` does.
- ``GET /v4/orderbooks/perpetualMarket/{ticker}``: ``BOOK_LEVELS`` (100, the indexer's cap) levels a side of the
  model's book on the market's tick, ``{"bids": [{price, size}], "asks": [...]}``, best first, sizes in coins.
- A bad parameter (a ``limit`` beyond 1000, a time that is not ISO-8601, an unknown resolution) answers HTTP 400
  ``{"errors": [{"value", "msg", "param", "location"}]}``. Per-market paths exist for the listed tickers only (the
  sim routes exact paths): another ticker gets the sim server's 404.
- Faults are answered as the indexer does (``fault_answer``): HTTP 429 ``{"errors": [{"msg": "Too many requests"}]}``
  with ``Retry-After`` in MILLISECONDS and ``RateLimit-*`` headers; a blocked location HTTP 403 with code GEOBLOCKED;
  5xx ``Internal Server Error``. An IP ban (418) is not an indexer answer: the sim sends the status in the envelope.
- Caps: ``Faults.page_caps`` may lower the rows of a page (endpoint ``"/v4/historicalFunding/{ticker}"``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import partial
from typing import Any

from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import RETRY_AFTER_429, SimHttpError, SimRequest, SimRoutes
from dtrack.sim.venues.hyperliquid import dec

VENUE = "dydx"
HOST = "rest"
#: the most rows of one answer (comlink ``API_LIMIT_V4``)
PAGE_LIMIT = 1000
#: the simulated markets' history starts here (2023-10-26 00:00 UTC: dYdX v4 mainnet trading)
LISTED_MS = 1_698_278_400_000
#: levels a side of an order book (comlink ``API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT``, default 100)
BOOK_LEVELS = 100
#: markets whose initial margin fraction scales with open interest (OIMF): ticker -> (openInterestLowerCap,
#: openInterestUpperCap) in USD; the others send "0", "0" (no scaling, as BTC-USD in the real answer)
OI_CAPS = {"PEPE-USD": ("20000000", "50000000")}
#: a market the indexer still lists, wound down: no positions, no funding
SETTLED_TICKER = "LUNA-USD"
#: candle resolutions -> length in ms
RESOLUTIONS = {"1MIN": 60_000, "5MINS": 300_000, "15MINS": 900_000, "30MINS": 1_800_000, "1HOUR": HOUR_MS,
               "4HOURS": 4 * HOUR_MS, "1DAY": DAY_MS}
#: the request budget the 429 answer's headers name (comlink config.ts defaults)
RATE_LIMIT_POINTS = 100

#: per ticker: clobPairId, tickSize, stepSize (decimal places), IMF, MMF, market type, defaultFundingRate1H
_SPECS: dict[str, tuple[str, float, int, str, str, str, str]] = {
    "BTC-USD": ("0", 1.0, 4, "0.02", "0.012", "CROSS", "0"),
    "ETH-USD": ("1", 0.1, 3, "0.02", "0.012", "CROSS", "0"),
    "SOL-USD": ("5", 0.01, 1, "0.05", "0.03", "CROSS", "0"),
    "PEPE-USD": ("28", 1e-10, -5, "0.1", "0.05", "ISOLATED", "0"),
}


def register(routes: SimRoutes, model: MarketModel) -> None:
    """Serve the indexer paths on the ``rest`` host: the bulk market list and each listed ticker's paths."""
    routes.add(VENUE, HOST, "GET", "/v4/perpetualMarkets", lambda req: perpetual_markets(model, req))
    for perp in _perps(model):
        t = perp.symbol
        routes.add(VENUE, HOST, "GET", f"/v4/historicalFunding/{t}", partial(historical_funding, model, perp))
        routes.add(VENUE, HOST, "GET", f"/v4/candles/perpetualMarkets/{t}", partial(candles, model, perp))
        routes.add(VENUE, HOST, "GET", f"/v4/orderbooks/perpetualMarket/{t}", partial(orderbook, model, perp))
    routes.on_error(VENUE, fault_answer)


def _perps(model: MarketModel) -> list[SimPerp]:
    return model.perps(VENUE, HOST)


def fault_answer(status: int, now_ms: int) -> SimHttpError:
    """The indexer's answer to a fault meaning HTTP ``status`` (comlink ``create4xxResponse`` envelopes)."""
    if status == 429:
        wait_ms = RETRY_AFTER_429 * 1000  # the indexer's Retry-After is msBeforeNext: milliseconds
        return SimHttpError(429, _errors("Too many requests"), {
            "Retry-After": str(wait_ms), "RateLimit-Remaining": "0", "RateLimit-Reset": str(now_ms + wait_ms),
            "RateLimit-Limit": str(RATE_LIMIT_POINTS)})
    if status == 451:  # restrict-countries.ts: HTTP 403 with code GEOBLOCKED
        return SimHttpError(403, {"errors": [{"code": "GEOBLOCKED",
                                              "msg": "blocked: requests from this jurisdiction are not served"}]})
    if status >= 500:
        return SimHttpError(status, _errors("Internal Server Error"))
    if status == 418:
        return SimHttpError(418, _errors("IP banned"))
    return SimHttpError(status, _errors("Bad request"))


def _errors(msg: str) -> dict[str, Any]:
    return {"errors": [{"msg": msg}]}


def _invalid(param: str, value: Any, msg: str) -> SimHttpError:
    """A validation failure (express-validator via handleValidationErrors): HTTP 400."""
    return SimHttpError(400, {"errors": [{"value": value, "msg": msg, "param": param, "location": "query"}]})


def iso(ms: int) -> str:
    """Epoch ms as the indexer writes times: ``2025-07-29T05:00:01.053Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(req: SimRequest, key: str, default: int) -> int:
    raw = req.query.get(key)
    if raw is None:
        return default
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid(key, raw, f"{key} must be a valid ISO 8601 date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1000)


def _limit(req: SimRequest) -> int:
    raw = req.query.get("limit")
    if raw is None:
        return PAGE_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_LIMIT:
        raise _invalid("limit", raw, f"limit must be a positive integer that is not greater than max: {PAGE_LIMIT}")
    return int(raw)


def _step_text(x: float, places: int) -> str:
    """``x`` rounded to the market's step (``places`` decimals; a negative count rounds to tens, hundreds ...)."""
    rounded = round(x, places)
    return dec(float(rounded)) if places > 0 else str(int(rounded))


# --- markets -----------------------------------------------------------------------------------------


def perpetual_markets(model: MarketModel, req: SimRequest) -> dict[str, Any]:
    """``{"markets": {ticker: market}}``; with ``ticker``, that market alone (HTTP 404 for an unknown one)."""
    now = req.now_ms
    rows = {p.symbol: market(model, p, now) for p in _perps(model)}
    rows[SETTLED_TICKER] = _settled_market()
    ticker = req.query.get("ticker")
    if ticker is not None:
        if ticker not in rows:
            raise SimHttpError(404, _errors(f"{ticker} not found in markets of type PERPETUAL"))
        return {"markets": {ticker: rows[ticker]}}
    return {"markets": rows}


def market(model: MarketModel, perp: SimPerp, now_ms: int) -> dict[str, Any]:
    """One market entry, in the indexer's field order (the real payload's)."""
    clob, tick, step, imf, mmf, kind, default = _SPECS[perp.symbol]
    rate, _next = model.current_funding(perp, now_ms)
    oracle = model.index_price(perp.asset, now_ms) * perp.multiplier
    oi = model.open_interest_base(perp, now_ms)
    day_base = 0.9 * oi
    lower_cap, upper_cap = OI_CAPS.get(perp.symbol, ("0", "0"))
    return {
        "clobPairId": clob, "ticker": perp.symbol, "status": "ACTIVE", "oraclePrice": dec(oracle),
        "priceChange24H": dec(oracle - model.index_price(perp.asset, now_ms - DAY_MS) * perp.multiplier),
        "volume24H": dec(round(day_base * oracle, 4)), "trades24H": max(1, int(day_base * oracle / 25_000)),
        "nextFundingRate": dec(rate), "initialMarginFraction": imf, "maintenanceMarginFraction": mmf,
        "openInterest": _step_text(oi, step), "atomicResolution": -10, "quantumConversionExponent": -9,
        "tickSize": dec(tick), "stepSize": _step_text(10.0 ** -step, step), "stepBaseQuantums": 1_000_000,
        "subticksPerTick": 100_000, "marketType": kind, "openInterestLowerCap": lower_cap,
        "openInterestUpperCap": upper_cap,
        "baseOpenInterest": _step_text(model.open_interest_base(perp, now_ms - 6 * HOUR_MS), step),
        "defaultFundingRate1H": default,
    }


def _settled_market() -> dict[str, Any]:
    # A market wound down by governance: no open interest, no funding, a frozen oracle price.
    return {"clobPairId": "19", "ticker": SETTLED_TICKER, "status": "FINAL_SETTLEMENT", "oraclePrice": "0.0001",
            "priceChange24H": "0", "volume24H": "0", "trades24H": 0, "nextFundingRate": "0",
            "initialMarginFraction": "1", "maintenanceMarginFraction": "0.5", "openInterest": "0",
            "atomicResolution": -4, "quantumConversionExponent": -9, "tickSize": "0.0000001", "stepSize": "1",
            "stepBaseQuantums": 1_000_000, "subticksPerTick": 1_000_000, "marketType": "ISOLATED",
            "openInterestLowerCap": "0", "openInterestUpperCap": "0", "baseOpenInterest": "0",
            "defaultFundingRate1H": "0"}


# --- funding history ---------------------------------------------------------------------------------


def settle_lag_ms(settle_ms: int) -> int:
    """How many ms after the hour a settlement is stamped (the block holding it: 500..1499 ms)."""
    return 500 + (settle_ms // HOUR_MS * 7919) % 1000


def _height(ms: int) -> str:
    """The block height at ``ms`` (about one block per 1.06 s since the sim's listing)."""
    return str(1 + (ms - LISTED_MS + 2 * DAY_MS) // 1060)


def historical_funding(model: MarketModel, perp: SimPerp, req: SimRequest) -> dict[str, Any]:
    """Settled hourly rates with ``effectiveAt <= effectiveBeforeOrAt``, newest first, at most ``limit``."""
    limit = req.faults.page_cap(VENUE, req.path, _limit(req))
    before = min(_ms(req, "effectiveBeforeOrAt", req.now_ms), req.now_ms)
    first = max(LISTED_MS, before - (limit + 1) * HOUR_MS)  # bounds the work: at most limit + 1 settlements
    rows: list[dict[str, Any]] = []
    for settle, rate in reversed(model.settlements(perp, first, before)):
        stamped = settle + settle_lag_ms(settle)
        if stamped > before:
            continue
        oracle = model.index_price(perp.asset, settle) * perp.multiplier
        rows.append({"ticker": perp.symbol, "rate": dec(rate), "price": dec(round(oracle, 5)),
                     "effectiveAtHeight": _height(stamped), "effectiveAt": iso(stamped)})
        if len(rows) == limit:
            break
    return {"historicalFunding": rows}


# --- candles and the book -------------------------------------------------------------------------------


def candles(model: MarketModel, perp: SimPerp, req: SimRequest) -> dict[str, Any]:
    """Candles with ``fromISO <= startedAt < toISO``, newest first, at most ``limit``."""
    resolution = req.query.get("resolution")
    if resolution not in RESOLUTIONS:
        raise _invalid("resolution", resolution, f"resolution must be a valid Candle Resolution, one of "
                                                 f"{','.join(RESOLUTIONS)}")
    length, limit, now = RESOLUTIONS[resolution], _limit(req), req.now_ms
    newest = min(now, _ms(req, "toISO", now + 1) - 1) // length * length  # toISO is exclusive
    oldest = max(LISTED_MS, _ms(req, "fromISO", LISTED_MS))
    oldest = -(-oldest // length) * length
    opens = range(newest, max(oldest, newest - (limit - 1) * length) - 1, -length)
    return {"candles": [_candle(model, perp, resolution, t, length) for t in opens]}


def _candle(model: MarketModel, perp: SimPerp, resolution: str, open_ms: int, length: int) -> dict[str, Any]:
    o, h, low, c = model.candle(perp, open_ms, length)
    step = _SPECS[perp.symbol][2]
    hours = length / HOUR_MS
    base = round(0.05 * hours * model.open_interest_base(perp, open_ms), max(step, 0))
    trades = max(1, round(40 * hours * (1.2 + math.sin(open_ms / length))))
    return {"startedAt": iso(open_ms), "ticker": perp.symbol, "resolution": resolution, "low": dec(low),
            "high": dec(h), "open": dec(o), "close": dec(c), "baseTokenVolume": dec(base),
            "usdVolume": dec(round(base * c, 4)), "trades": trades,
            "startingOpenInterest": _step_text(model.open_interest_base(perp, open_ms), step),
            "orderbookMidPriceOpen": dec(o), "orderbookMidPriceClose": dec(c)}


def orderbook(model: MarketModel, perp: SimPerp, req: SimRequest) -> dict[str, Any]:
    """``BOOK_LEVELS`` levels a side of the model's book on the market's tick, best first."""
    _clob, tick, step, *_rest = _SPECS[perp.symbol]
    bids, asks = model.book(perp, req.now_ms, BOOK_LEVELS, tick)

    def level(price: float, size: float) -> dict[str, str]:
        return {"price": dec(price), "size": _step_text(max(size, 10.0 ** -step), step)}

    return {"bids": [level(*b) for b in bids], "asks": [level(*a) for a in asks]}
