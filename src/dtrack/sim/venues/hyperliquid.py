"""Simulated Hyperliquid: ``POST /info`` on host ``rest``, in the venue's wire format.

Serves the info types dtrack reads, from the market model:
- ``meta`` and ``metaAndAssetCtxs``: the model's Hyperliquid perps plus one delisted coin
  (``isDelisted: true``, kept in the universe with its own asset context, as the venue does), so
  that skipping and positional alignment are exercised. Numbers are decimal strings.
  ``THIN_COIN`` is a thin market: its context has ``premium``, ``midPx`` and ``impactPxs`` null, as the
  venue's published example has for thinly traded coins (the parsers' null handling runs end to end).
- ``predictedFundings``: per coin, Binance/Bybit USDT-perp and Hyperliquid (``HlPerp``) entries with
  ``fundingRate`` (string), ``nextFundingTime`` (ms) and ``fundingIntervalHours``; the
  ``NO_PREDICTION_VENUE`` entry of ``THIN_COIN`` is ``[venue, null]`` (a venue without a prediction).
- ``fundingHistory``: settled rows with ``startTime <= time <= endTime`` (endTime defaults to now),
  oldest first, at most 500 per answer, from ``LISTED_MS`` on. Settlement times land a few ms after the hour, as on the
  venue (``settle_lag_ms``). An unknown coin is answered with ``[]`` (what the venue was seen to do
  is UNCONFIRMED; dtrack's adapter turns an empty answer for an unlisted coin into a VenueError).
- ``candleSnapshot``: ``{"req": {coin, interval, startTime, endTime?}}`` -> the coin's candles that overlap
  ``[startTime, endTime]`` (endTime defaults to now), oldest first, from the model's mark path
  (``model.candle``): ``t``/``T``/``n`` numbers, prices and volume decimal strings. Only the most recent
  ``CANDLES_KEPT`` candles of an interval exist (older windows answer less or ``[]``), and one answer
  holds at most ``CANDLE_PAGE``. An unknown coin gets ``[]`` (as for fundingHistory, UNCONFIRMED);
  the calendar-month interval ``1M`` is not simulated (``[]``).
- No dated futures, spot, open-interest history or long/short ratio: the venue's core perp DEX has none.
A body the venue could not deserialize (no/unknown ``type``, missing or non-integer fields) gets
HTTP 422 with the venue's "Failed to deserialize" message (sent as a JSON string: the sim server
answers errors in JSON, where the venue sends text/plain).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

VENUE = "hyperliquid"
HOST = "rest"
#: most fundingHistory rows per answer (module-level so that tests can lower the cap)
HISTORY_PAGE = 500
#: most candles one candleSnapshot answer holds, and how many recent candles of an interval exist
CANDLE_PAGE = 5000
CANDLES_KEPT = 5000
#: candle intervals the venue accepts -> length in ms (None: calendar months, not simulated)
CANDLE_INTERVALS: dict[str, int | None] = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": HOUR_MS,
    "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS, "8h": 8 * HOUR_MS, "12h": 12 * HOUR_MS, "1d": DAY_MS, "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS, "1M": None}
#: the simulated coins' funding history starts here (2023-05-12 00:00 UTC); asking earlier gets less
LISTED_MS = 1_683_849_600_000

#: szDecimals / maxLeverage per coin (values in the spirit of the venue's listings)
_SPECS: dict[str, tuple[int, int]] = {"BTC": (5, 40), "ETH": (4, 25), "SOL": (2, 20), "kPEPE": (0, 10)}
#: a delisted coin listed at this position of the universe
_DELISTED_NAME, _DELISTED_AT = "FTM", 2
#: other venues quoted in predictedFundings: key -> (model venue, host)
_OTHER_VENUES = (("BinPerp", "binance", "usdm"), ("BybitPerp", "bybit", "rest"))
#: a thin market: null premium/midPx/impactPxs in its asset context, and one [venue, null] prediction
THIN_COIN = "kPEPE"
NO_PREDICTION_VENUE = "BybitPerp"


def register(routes: SimRoutes, model: MarketModel) -> None:
    """Serve ``POST /info`` on the ``rest`` host."""
    routes.add(VENUE, HOST, "POST", "/info", lambda req: info(model, req))


def info(model: MarketModel, req: SimRequest) -> Any:
    """Dispatch one ``/info`` request on its ``type``."""
    body = req.body
    if not isinstance(body, dict) or "type" not in body:
        raise _bad("missing field `type`")
    kind = body["type"]
    if kind == "meta":
        return meta(model)
    if kind == "metaAndAssetCtxs":
        return [meta(model), asset_ctxs(model, req.now_ms)]
    if kind == "predictedFundings":
        return predicted_fundings(model, req.now_ms)
    if kind == "fundingHistory":
        return funding_history(model, body, req.now_ms)
    if kind == "candleSnapshot":
        return candle_snapshot(model, body.get("req"), req.now_ms)
    raise _bad(f"unknown variant `{kind}`")


def _bad(detail: str) -> SimHttpError:
    # The venue answers 422 with a plain-text body; the sim server sends it as a JSON string.
    return SimHttpError(422, f"Failed to deserialize the JSON body into the target type: {detail}")


def dec(x: float) -> str:
    """A float as the venue writes numbers: a plain decimal string, never an exponent."""
    text = format(Decimal(repr(x)), "f")
    return "0.0" if text in ("-0.0", "0", "-0") else text


def _perps(model: MarketModel) -> list[SimPerp]:
    return model.perps(VENUE, HOST)


# --- meta and asset contexts -----------------------------------------------------------------


def meta(model: MarketModel) -> dict[str, Any]:
    """The ``meta`` answer: universe (with one delisted coin), margin tables, collateral token."""
    universe: list[dict[str, Any]] = []
    for perp in _perps(model):
        sz, lev = _SPECS.get(perp.symbol, (2, 10))
        universe.append({"szDecimals": sz, "name": perp.symbol, "maxLeverage": lev, "marginTableId": lev})
    universe.insert(_DELISTED_AT, {"szDecimals": 0, "name": _DELISTED_NAME, "maxLeverage": 3, "marginTableId": 3,
                                   "onlyIsolated": True, "isDelisted": True})
    tables = [[lev, {"description": "", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": lev}]}]
              for lev in sorted({e["maxLeverage"] for e in universe})]
    return {"universe": universe, "marginTables": tables, "collateralToken": 0}


def asset_ctxs(model: MarketModel, now_ms: int) -> list[dict[str, Any]]:
    """One asset context per universe entry, in universe order."""
    ctxs = [_ctx(model, perp, now_ms) for perp in _perps(model)]
    ctxs.insert(_DELISTED_AT, _delisted_ctx())
    return ctxs


def _ctx(model: MarketModel, perp: SimPerp, now_ms: int) -> dict[str, Any]:
    mark = model.mark_price(perp, now_ms)
    oi = model.open_interest_base(perp, now_ms)
    rate, _next = model.current_funding(perp, now_ms)
    day_base = 1.7 * oi
    thin = perp.symbol == THIN_COIN
    return {
        "funding": dec(rate),
        "openInterest": dec(oi),
        "prevDayPx": dec(model.mark_price(perp, now_ms - DAY_MS)),
        "dayNtlVlm": dec(day_base * mark),
        # A thin book: no impact prices, hence no premium sample, and no two-sided mid (docs example: xyz:NVDA).
        "premium": None if thin else dec(round(model.premium(perp, now_ms), 10)),
        "oraclePx": dec(model.index_price(perp.asset, now_ms) * perp.multiplier),
        "markPx": dec(mark),
        "midPx": None if thin else dec(mark),
        "impactPxs": None if thin else [dec(mark * (1 - 1e-4)), dec(mark * (1 + 1e-4))],
        "dayBaseVlm": dec(day_base),
    }


def _delisted_ctx() -> dict[str, Any]:
    # A delisted coin: no volume, no OI, a frozen price (the venue may send null premium/midPx/impactPxs
    # here; the sim sends values so that its shapes match the published example element by element).
    px = "0.7012"
    return {"funding": "0.0", "openInterest": "0.0", "prevDayPx": px, "dayNtlVlm": "0.0", "premium": "0.0",
            "oraclePx": px, "markPx": px, "midPx": px, "impactPxs": [px, px], "dayBaseVlm": "0.0"}


# --- predicted fundings ------------------------------------------------------------------------


def predicted_fundings(model: MarketModel, now_ms: int) -> list[Any]:
    """``[[coin, [[venue, {fundingRate, nextFundingTime, fundingIntervalHours} | null], ...]], ...]``."""
    out: list[Any] = []
    for perp in _perps(model):
        entries: list[Any] = [[key, None if (perp.symbol, key) == (THIN_COIN, NO_PREDICTION_VENUE)
                               else _prediction(model, other, now_ms)] for key, other in _others(model, perp)]
        entries.insert(1 if entries else 0, ["HlPerp", _prediction(model, perp, now_ms)])
        out.append([perp.symbol, entries])
    return out


def _others(model: MarketModel, perp: SimPerp) -> list[tuple[str, SimPerp]]:
    """The USDT perps on the same asset at the other venues predictedFundings quotes."""
    found: list[tuple[str, SimPerp]] = []
    for key, venue, host in _OTHER_VENUES:
        other = next((p for p in model.perps(venue, host) if p.asset == perp.asset and p.quote == "USDT"), None)
        if other is not None:
            found.append((key, other))
    return found


def _prediction(model: MarketModel, perp: SimPerp, now_ms: int) -> dict[str, Any]:
    rate, nxt = model.current_funding(perp, now_ms)
    return {"fundingRate": dec(rate), "nextFundingTime": nxt, "fundingIntervalHours": perp.interval_h}


# --- funding history ---------------------------------------------------------------------------


def settle_lag_ms(settle_ms: int) -> int:
    """How many ms after the hour the settlement of ``settle_ms`` is stamped (40..129, per hour)."""
    return 40 + (settle_ms // HOUR_MS * 7919) % 90


def _ms(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(f"invalid type for `{key}`: {value!r}, expected u64")
    return value


def funding_history(model: MarketModel, body: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
    """Settled funding of ``coin`` with ``startTime <= time <= endTime``, oldest first, 500 at most."""
    coin = body.get("coin")
    if not isinstance(coin, str):
        raise _bad("missing field `coin`")
    if body.get("startTime") is None:
        raise _bad("missing field `startTime`")
    start = max(_ms(body["startTime"], "startTime"), LISTED_MS)
    end = now_ms if body.get("endTime") is None else min(_ms(body["endTime"], "endTime"), now_ms)
    perp = model.perp(VENUE, coin)
    if perp is None or perp.host != HOST:
        return []
    rows: list[dict[str, Any]] = []
    # Hourly rows: the first page lies within HISTORY_PAGE hours of start (bounds the work per call).
    last = min(end, start + HISTORY_PAGE * HOUR_MS)
    for settle, rate in model.settlements(perp, start - HOUR_MS, last):
        stamped = settle + settle_lag_ms(settle)
        if start <= stamped <= end:
            premium = round(model.premium(perp, settle - 1), 10)
            rows.append({"coin": coin, "fundingRate": dec(rate), "premium": dec(premium), "time": stamped})
    return rows[:HISTORY_PAGE]


# --- candles -------------------------------------------------------------------------------------


def candle_snapshot(model: MarketModel, req: Any, now_ms: int) -> list[dict[str, Any]]:
    """Candles of ``req.coin`` overlapping ``[startTime, endTime]``, oldest first (see the module doc)."""
    if not isinstance(req, dict):
        raise _bad("missing field `req`")
    coin, interval = req.get("coin"), req.get("interval")
    if not isinstance(coin, str):
        raise _bad("missing field `coin`")
    if interval not in CANDLE_INTERVALS:
        raise _bad(f"unknown variant `{interval}`, expected one of {', '.join(CANDLE_INTERVALS)}")
    if req.get("startTime") is None:
        raise _bad("missing field `startTime`")
    start = _ms(req["startTime"], "startTime")
    end = now_ms if req.get("endTime") is None else min(_ms(req["endTime"], "endTime"), now_ms)
    perp, length = model.perp(VENUE, coin), CANDLE_INTERVALS[interval]
    if perp is None or perp.host != HOST or length is None:
        return []
    current = now_ms // length * length
    first = max(start // length * length, current - (CANDLES_KEPT - 1) * length)
    opens = range(first, min(end, current) + 1, length)[:CANDLE_PAGE]
    return [_candle(model, perp, coin, interval, t, length) for t in opens]


def _candle(model: MarketModel, perp: SimPerp, coin: str, interval: str, open_ms: int, length: int) -> dict[str, Any]:
    o, h, low, c = model.candle(perp, open_ms, length)
    hours = length / HOUR_MS
    volume = round(0.07 * hours * model.open_interest_base(perp, open_ms), 2)
    trades = max(1, round(900 * hours * (1.2 + math.sin(open_ms / length))))
    return {"t": open_ms, "T": open_ms + length - 1, "s": coin, "i": interval, "o": dec(o), "c": dec(c),
            "h": dec(h), "l": dec(low), "v": dec(volume), "n": trades}
