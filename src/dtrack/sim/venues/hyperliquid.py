"""Simulated Hyperliquid: ``POST /info`` on host ``rest``, in the venue's wire format.

Serves the info types dtrack reads, from the market model:
- ``meta`` and ``metaAndAssetCtxs``: the model's Hyperliquid perps (each naming its margin table: tiered tables
  listed in ``marginTables``, ids under 50 a single tier at that leverage and not listed, as on the venue) plus one
  delisted coin
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
- ``perpDexs``: ``[null]``, the first (main) perp DEX alone: no builder-deployed (HIP-3) DEX is simulated, so
  ``meta`` / ``metaAndAssetCtxs`` serve ``dex`` "" (or absent) and answer ``null`` for any other name (what the
  venue answers for an unknown dex is UNCONFIRMED).
- ``spotMeta`` and ``spotMetaAndAssetCtxs``: USDC (token 0) and the Unit-wrapped coins of the model's assets
  (``UBTC``, ``UETH``, ``USOL``: ``fullName`` "Unit Bitcoin" ...), each traded against USDC in a non-canonical pair
  named ``@<index>`` (as the venue names them); the contexts' prices are the model's Hyperliquid spot price
  (``MarketModel.spot_price``), token positions equal their ``index`` and contexts align with the universe.
- ``l2Book``: 20 levels a side of the model's book (``MarketModel.book``) on the venue's price grid (five
  significant figures, at most ``6 - szDecimals`` decimals), sizes in the coin on ``szDecimals``.
- No dated futures, open-interest history or long/short ratio: the venue's core perp DEX has none.
- Caps: fundingHistory's 500 rows and candleSnapshot's 5000 candles per answer; ``Faults.page_caps`` may lower
  them (endpoints ``"/info fundingHistory"`` and ``"/info candleSnapshot"``).
- Faults are answered as the venue does (``fault_answer``): a status with a plain-text body (HTTP 429 on a
  rate limit; an IP ban and a blocked location are sent as 418 / 451, which the venue does not document).
A body the venue could not deserialize (no/unknown ``type``, missing or non-integer fields) gets
HTTP 422 with the venue's "Failed to deserialize" message (sent as a JSON string: the sim server
answers errors in JSON, where the venue sends text/plain).
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal
from typing import Any

from dtrack.sim.model import ASSETS, DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

VENUE = "hyperliquid"
HOST = "rest"
#: most fundingHistory rows per answer (``Faults.page_caps`` may lower it)
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
#: the tiered margin tables listed in ``meta``: id -> (description, [(lowerBound USD, maxLeverage)]). 55 and 56 are the
#: venue's ETH and BTC tables (venue docs, margin tiers: BTC 40x to 150M then 20x, ETH 25x to 100M then 15x; the ids
#: and the "tiered 40x" description as third-party docs of the ``marginTable`` answer show them); 52 stands in for
#: the table of the venue docs' kPEPE group (10x to 20M, then 5x), whose id is not published
MARGIN_TABLES: dict[int, tuple[str, list[tuple[float, int]]]] = {
    52: ("tiered 10x", [(0.0, 10), (20_000_000.0, 5)]),
    55: ("tiered 25x", [(0.0, 25), (100_000_000.0, 15)]),
    56: ("tiered 40x", [(0.0, 40), (150_000_000.0, 20)])}
#: coin -> marginTableId (others: their maxLeverage, a single tier under 50: SOL 20)
MARGIN_TABLE_IDS = {"BTC": 56, "ETH": 55, "kPEPE": 52}
#: a delisted coin listed at this position of the universe
_DELISTED_NAME, _DELISTED_AT = "FTM", 2
#: other venues quoted in predictedFundings: key -> (model venue, host)
_OTHER_VENUES = (("BinPerp", "binance", "usdm"), ("BybitPerp", "bybit", "rest"))
#: a thin market: null premium/midPx/impactPxs in its asset context, and one [venue, null] prediction
THIN_COIN = "kPEPE"
NO_PREDICTION_VENUE = "BybitPerp"


#: spot tokens after USDC (index 0): (model asset, token name, full name, szDecimals, weiDecimals)
SPOT_TOKENS = (("BTC", "UBTC", "Unit Bitcoin", 5, 10), ("ETH", "UETH", "Unit Ethereum", 4, 9),
               ("SOL", "USOL", "Unit Solana", 3, 9))
#: levels a side of an l2Book answer
BOOK_LEVELS = 20


def register(routes: SimRoutes, model: MarketModel) -> None:
    """Serve ``POST /info`` on the ``rest`` host."""
    routes.add(VENUE, HOST, "POST", "/info", lambda req: info(model, req))
    routes.on_error(VENUE, fault_answer)


def fault_answer(status: int, now_ms: int) -> SimHttpError:
    """The venue's answer to a fault meaning HTTP ``status``: the status with a short plain-text body."""
    text = {429: "Too Many Requests", 418: "IP banned", 451: "Unavailable For Legal Reasons",
            422: "Failed to deserialize the JSON body into the target type"}.get(
        status, "Internal Server Error" if status >= 500 else "Bad Request")
    return SimHttpError(status, text, text=True)


def info(model: MarketModel, req: SimRequest) -> Any:
    """Dispatch one ``/info`` request on its ``type``."""
    body = req.body
    if not isinstance(body, dict) or "type" not in body:
        raise _bad("missing field `type`")
    kind = body["type"]
    if kind in ("meta", "metaAndAssetCtxs") and body.get("dex") not in (None, ""):
        return None  # no builder-deployed perp DEX is simulated
    if kind == "meta":
        return meta(model)
    if kind == "metaAndAssetCtxs":
        return [meta(model), asset_ctxs(model, req.now_ms)]
    if kind == "perpDexs":
        return [None]
    if kind == "spotMeta":
        return spot_meta()
    if kind == "spotMetaAndAssetCtxs":
        return [spot_meta(), spot_ctxs(model, req.now_ms)]
    if kind == "l2Book":
        return l2_book(model, body, req.now_ms)
    if kind == "predictedFundings":
        return predicted_fundings(model, req.now_ms)
    if kind == "fundingHistory":
        return funding_history(model, body, req.now_ms, req.faults.page_cap(VENUE, f"{req.path} {kind}",
                                                                             HISTORY_PAGE))
    if kind == "candleSnapshot":
        return candle_snapshot(model, body.get("req"), req.now_ms,
                               req.faults.page_cap(VENUE, f"{req.path} {kind}", CANDLE_PAGE))
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
    """The ``meta`` answer: universe (with one delisted coin), margin tables, collateral token.

    Each coin names its margin table (``marginTableId``, ``MARGIN_TABLE_IDS``); as on the venue, an id below 50 is a
    single tier at that leverage and is not listed, the tiered tables (``MARGIN_TABLES``) are, ascending by id."""
    universe: list[dict[str, Any]] = []
    for perp in _perps(model):
        sz, lev = _SPECS.get(perp.symbol, (2, 10))
        universe.append({"szDecimals": sz, "name": perp.symbol, "maxLeverage": lev,
                         "marginTableId": MARGIN_TABLE_IDS.get(perp.symbol, lev)})
    universe.insert(_DELISTED_AT, {"szDecimals": 0, "name": _DELISTED_NAME, "maxLeverage": 3, "marginTableId": 3,
                                   "onlyIsolated": True, "isDelisted": True})
    tables = [[table_id, {"description": description,
                          "marginTiers": [{"lowerBound": dec(bound), "maxLeverage": lev} for bound, lev in tiers]}]
              for table_id, (description, tiers) in sorted(MARGIN_TABLES.items())]
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


def funding_history(model: MarketModel, body: dict[str, Any], now_ms: int, page: int = HISTORY_PAGE
                    ) -> list[dict[str, Any]]:
    """Settled funding of ``coin`` with ``startTime <= time <= endTime``, oldest first, ``page`` (500) at most."""
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
    # Hourly rows: the first page lies within ``page`` hours of start (bounds the work per call).
    last = min(end, start + page * HOUR_MS)
    for settle, rate in model.settlements(perp, start - HOUR_MS, last):
        stamped = settle + settle_lag_ms(settle)
        if start <= stamped <= end:
            premium = round(model.premium(perp, settle - 1), 10)
            rows.append({"coin": coin, "fundingRate": dec(rate), "premium": dec(premium), "time": stamped})
    return rows[:page]


# --- candles -------------------------------------------------------------------------------------


def candle_snapshot(model: MarketModel, req: Any, now_ms: int, page: int = CANDLE_PAGE) -> list[dict[str, Any]]:
    """Candles of ``req.coin`` overlapping ``[startTime, endTime]``, oldest first, ``page`` at most (see the module
    doc)."""
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
    opens = range(first, min(end, current) + 1, length)[:page]
    return [_candle(model, perp, coin, interval, t, length) for t in opens]


def _candle(model: MarketModel, perp: SimPerp, coin: str, interval: str, open_ms: int, length: int) -> dict[str, Any]:
    o, h, low, c = model.candle(perp, open_ms, length)
    hours = length / HOUR_MS
    volume = round(0.07 * hours * model.open_interest_base(perp, open_ms), 2)
    trades = max(1, round(900 * hours * (1.2 + math.sin(open_ms / length))))
    return {"t": open_ms, "T": open_ms + length - 1, "s": coin, "i": interval, "o": dec(o), "c": dec(c),
            "h": dec(h), "l": dec(low), "v": dec(volume), "n": trades}


# --- spot and the order book ---------------------------------------------------------------------


def _token_id(name: str) -> str:
    """A token's 34-character id (``0x`` and 32 hex digits), fixed per name."""
    return "0x" + hashlib.blake2b(f"hyperliquid-token:{name}".encode(), digest_size=16).hexdigest()


def spot_meta() -> dict[str, Any]:
    """``spotMeta``: USDC and the wrapped coins (token position = ``index``), one ``@<index>`` pair each."""
    tokens: list[dict[str, Any]] = [{"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0,
                                     "tokenId": _token_id("USDC"), "isCanonical": True, "evmContract": None,
                                     "fullName": None}]
    universe: list[dict[str, Any]] = []
    for i, (_asset, name, full, sz, wei) in enumerate(SPOT_TOKENS, start=1):
        tokens.append({"name": name, "szDecimals": sz, "weiDecimals": wei, "index": i, "tokenId": _token_id(name),
                       "isCanonical": False, "evmContract": None, "fullName": full})
        universe.append({"tokens": [i, 0], "name": f"@{i - 1}", "index": i - 1, "isCanonical": False})
    return {"tokens": tokens, "universe": universe}


def spot_ctxs(model: MarketModel, now_ms: int) -> list[dict[str, Any]]:
    """One context per spot pair, in universe order: the model's spot price (mark and mid), a day's volume."""
    out = []
    for i, (asset, _name, _full, _sz, _wei) in enumerate(SPOT_TOKENS):
        px = model.spot_price(VENUE, asset, now_ms)
        supply = 0.002 * ASSETS[asset].oi_usd / ASSETS[asset].price
        day_base = 0.05 * supply
        out.append({"prevDayPx": dec(model.spot_price(VENUE, asset, now_ms - DAY_MS)), "dayNtlVlm": dec(day_base * px),
                    "markPx": dec(px), "midPx": dec(px), "circulatingSupply": dec(supply), "coin": f"@{i}",
                    "totalSupply": dec(supply), "dayBaseVlm": dec(day_base)})
    return out


def book_tick(mark: float, sz_decimals: int) -> float:
    """The venue's price grid near ``mark``: five significant figures, at most ``6 - szDecimals`` decimals."""
    return max(10.0 ** (math.floor(math.log10(mark)) - 4), 10.0 ** -(6 - sz_decimals))


def l2_book(model: MarketModel, body: dict[str, Any], now_ms: int) -> dict[str, Any] | None:
    """``{"type": "l2Book", "coin": ...}``: 20 levels a side, ``{px, sz, n}``; ``null`` for an unknown coin."""
    coin = body.get("coin")
    if not isinstance(coin, str):
        raise _bad("missing field `coin`")
    perp = model.perp(VENUE, coin)
    if perp is None or perp.host != HOST:
        return None
    sz_decimals = _SPECS.get(perp.symbol, (2, 10))[0]
    tick = book_tick(model.mark_price(perp, now_ms), sz_decimals)
    bids, asks = model.book(perp, now_ms, BOOK_LEVELS, tick)
    places = max(0, -math.floor(math.log10(tick) + 1e-9))

    def level(price: float, size: float) -> dict[str, Any]:
        sz = max(round(size, sz_decimals), 10.0 ** -sz_decimals)
        return {"px": dec(round(price, places)), "sz": format(Decimal(repr(sz)).normalize(), "f"),
                "n": 1 + int(sz * 10 ** sz_decimals) % 9}

    return {"coin": coin, "time": now_ms, "levels": [[level(*b) for b in bids], [level(*a) for a in asks]]}
