"""Simulated OKX v5 public REST (host ``rest``), in OKX's wire format, from the market model.

Serves instruments (SWAP and FUTURES: the model's dated futures with OKX naming ``BTC-USD-251226``,
``alias`` and ``expTime``), funding-rate (``instId=ANY`` or one swap), funding-rate-history (``limit``
up to 400, at most ``PAGE_CAP`` rows a page or fewer when ``Faults.page_caps`` caps it, ``after``/``before``
paging, newest first, about three months kept), open-interest, mark-price and tickers (SWAP, FUTURES; tickers
also SPOT), index-tickers,
candles and history-candles of swaps and futures (``after``/``before``, ``limit`` up to 300, newest
first; candles only the latest 1,440 bars; ``last`` and the candles follow the contract's mark), and
the rubik statistics open-interest-history (rows ``[ts, oi, oiCcy, oiUsd]``),
long-short-account-ratio-contract and long-short-account-ratio (rows ``[ts, ratio]``), newest first,
``limit`` up to 100, the latest 1,440 entries. Envelope ``{"code": "0", "msg": "", "data": [...]}``
with numbers as strings. An unknown instId answers code 51001 with HTTP 200, as OKX does; missing or
bad parameters answer 50014 / 51000 with HTTP 400 (an unknown ``ccy`` of the currency long/short ratio
too: OKX's answer for it is not documented).

Options (instType OPTION, from ``OptionsModel``: families ``BTC-USD`` and ``ETH-USD``, inverse, priced in the
coin): instruments, mark-price (``markPx`` in the coin), open-interest and tickers need ``instFamily`` (or
``uly``); opt-summary (``instFamily``, optional ``expTime`` YYMMDD) sends markVol / bidVol / askVol as
fractions (bidVol "0" without a bid), ``fwdPx`` (the expiry's forward), Black-Scholes greeks in USD (deltaBS,
gammaBS per USD, vegaBS per vol point, thetaBS per day) and coin greeks (delta = deltaBS - markPx, gamma = fwdPx
x gammaBS - 2 delta, vega = vegaBS / fwdPx, theta = thetaBS / fwdPx: the relations OKX's documented example
satisfies); option-trades (``instFamily`` or ``instId``, optional ``optType``) the latest 100 trades of the
model's tape, newest first, without its block trades (OKX publishes those per instrument, in block-trades).
A family without options answers no rows. Option tickers carry no 24 h history: open, high, low and the
start-of-day prices equal ``last``, the mark.

books (swaps and futures): ``sz`` levels a side (1..400, default 1) of the model's book on the contract's tick
(``tick_size``, also the instruments' ``tickSz``), rows ``[px, sz (contracts), "0", orders]``. position-tiers
(``instType`` SWAP or FUTURES, ``tdMode``, ``instFamily``): the ``TIER_TABLES`` rows, sizes in contracts.
Faults are answered in OKX's format (``fault_answer``): HTTP 429 with code 50011, 5xx with 50026 (500) or
50001, other statuses 51000; an IP ban (418) and a blocked location (451) are not documented OKX answers: the
sim sends those statuses in OKX's envelope (code 50011 for the ban, the status itself for the block).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from itertools import islice
from typing import Any

from dtrack.sim import calendar as cal
from dtrack.sim.model import ASSETS, DAY_MS, HOUR_MS, MarketModel, SimFuture, SimPerp
from dtrack.sim.options import OptionMarket, OptionsModel, SimOption, SimOptionQuote
from dtrack.sim.options import OptionTrade as SimOptionTrade
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

Contract = SimPerp | SimFuture

VENUE = "okx"
HOST = "rest"
#: largest ``limit`` funding-rate-history accepts (a larger one answers 51000)
HISTORY_LIMIT = 400
#: most rows a funding-rate-history page actually holds, whatever ``limit`` asked: OKX's maximum was
#: 100 before 2025 and a venue may cap pages below the limit it accepts (``Faults.page_caps`` lowers it).
PAGE_CAP = 400
#: books ``sz``: default and largest
BOOK_DEFAULT, BOOK_MAX = 1, 400
HISTORY_KEEP_MS = 92 * DAY_MS
INSTRUMENT_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
INDEX_QUOTES = ("USDT", "USD")
SPOT_QUOTES = ("USDT", "USDC")
MINUTE_MS = 60_000
_UTC8 = 8 * HOUR_MS


def _bar_table(names: str, *, utc8: bool = False, suffix: str = "") -> dict[str, tuple[int, int]]:
    """bar name + ``suffix`` -> (length ms, open-time offset ms); ``utc8`` bars open at 00:00 UTC+8."""
    unit = {"m": MINUTE_MS, "H": HOUR_MS, "D": DAY_MS}
    table = {}
    for name in names.split():
        length = int(name[:-1]) * unit[name[-1]]
        table[name + suffix] = (length, -_UTC8 % length if utc8 else 0)
    return table


#: bars of candles / history-candles (OKX's plain 6H / 12H / 1D open at 00:00 UTC+8, the "utc" ones at
#: 00:00 UTC); the rubik statistics have no 1m / 3m.
CANDLE_BARS = {**_bar_table("1m 3m 5m 15m 30m 1H 2H 4H"), **_bar_table("6H 12H 1D", utc8=True),
               **_bar_table("6H 12H 1D", suffix="utc")}
STAT_BARS = {k: v for k, v in CANDLE_BARS.items() if k not in ("1m", "3m")}
#: the currency long/short ratio: 5m (2 days back), 1H (30 days), 1D (180 days).
CCY_RATIO_BARS = {"5m": (5 * MINUTE_MS, 0, 2 * DAY_MS), "1H": (HOUR_MS, 0, 30 * DAY_MS),
                  "1D": (DAY_MS, -_UTC8 % DAY_MS, 180 * DAY_MS)}
CANDLE_LIMIT, CANDLE_DEFAULT, RECENT_CANDLES = 300, 100, 1440
STAT_LIMIT, STAT_KEPT = 100, 1440
OPTION = "OPTION"
#: option-trades: the latest 100 trades, looked for in windows of 6 hours up to a week back.
OPTION_TRADES_KEPT, TRADE_WINDOW_MS, TRADE_REACH_MS = 100, 6 * HOUR_MS, 7 * DAY_MS


def num(value: float) -> str:
    """A float as OKX writes numbers: a plain decimal string that reads back to the same float."""
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def ok(data: list[Any]) -> dict[str, Any]:
    """OKX's success envelope."""
    return {"code": "0", "msg": "", "data": data}


def not_found() -> dict[str, Any]:
    """OKX's answer for an unknown instId (HTTP 200)."""
    return {"code": "51001", "msg": "Instrument ID does not exist", "data": []}


def _required(req: SimRequest, name: str) -> str:
    value = req.query.get(name, "")
    if not value:
        raise SimHttpError(400, {"code": "50014", "msg": f"Parameter {name} can not be empty", "data": []})
    return value


def _bad(name: str) -> SimHttpError:
    return SimHttpError(400, {"code": "51000", "msg": f"Parameter {name} error", "data": []})


def _uly(contract: Contract) -> str:
    return f"{contract.asset}-{contract.quote}"


def _int(req: SimRequest, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
    """An integer query parameter (``default`` when absent); outside ``[lo, hi]`` or not a number: 51000."""
    raw = req.query.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name) from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _bad(name)
    return value


def _bar(req: SimRequest, name: str, bars: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(length, offset) of the bar named by parameter ``name`` (default 1m for candles, 5m for statistics)."""
    bar = req.query.get(name) or ("1m" if "1m" in bars else "5m")
    if bar not in bars:
        raise _bad(name)
    return bars[bar]


def _newest(length: int, offset: int, newest: int, oldest: int, limit: int) -> list[int]:
    """Up to ``limit`` bar open times of the grid ``offset mod length`` from ``newest`` down to ``oldest``."""
    top = newest - (newest - offset) % length
    return list(islice(range(top, oldest - 1, -length), limit))


class OkxSim:
    """Handlers of the simulated OKX host over one market model."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self.swaps = {p.symbol: p for p in model.perps(VENUE)}
        self.options = OptionsModel(model)

    def _of_type(self, inst_type: str, now: int) -> list[Contract]:
        """The contracts of one instType at ``now`` (no margin pairs; options are served apart, from ``options``)."""
        if inst_type == "SWAP":
            return list(self.swaps.values())
        return list(self.model.futures(VENUE, now, HOST)) if inst_type == "FUTURES" else []

    def _contract(self, inst_id: str, now: int) -> Contract | None:
        """A swap or listed future by instId."""
        return self.swaps.get(inst_id) or self.model.future(VENUE, inst_id, now)

    def _selected(self, req: SimRequest) -> list[Contract] | None:
        """Contracts of the required ``instType`` matching an optional instId / instFamily / uly filter;
        None for an unknown instId."""
        inst_type = _required(req, "instType")
        if inst_type not in INSTRUMENT_TYPES:
            raise _bad("instType")
        contracts = self._of_type(inst_type, req.now_ms)
        inst_id = req.query.get("instId")
        if inst_id:
            found = [c for c in contracts if c.symbol == inst_id]
            return found or None
        family = req.query.get("instFamily") or req.query.get("uly")
        return [c for c in contracts if not family or _uly(c) == family]

    def _one(self, req: SimRequest) -> Contract:
        """The swap or future named by the required ``instId`` (unknown: 51001 with HTTP 200)."""
        contract = self._contract(_required(req, "instId"), req.now_ms)
        if contract is None:
            raise SimHttpError(200, not_found())
        return contract

    # --- instruments -----------------------------------------------------------------------

    def instruments(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/instruments?instType=SWAP|FUTURES|OPTION[&instId=|&instFamily=|&uly=]"""
        if req.query.get("instType") == OPTION:
            listed = self._listed_options(req)
            return not_found() if listed is None else ok([_option_instrument(o) for o in listed])
        contracts = self._selected(req)
        if contracts is None:
            return not_found()
        return ok([self._instrument(c, req.now_ms) for c in contracts])

    def _instrument(self, c: Contract, now: int) -> dict[str, Any]:
        inverse = c.margin == "inverse"
        row = {
            "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": c.margin,
            "ctVal": num(c.contract_size), "ctValCcy": "USD" if c.contract_unit == "usd" else c.asset,
            "expTime": "", "instFamily": _uly(c), "instId": c.symbol, "instType": "SWAP", "lever": "100",
            "listTime": "1611916828000", "lotSz": "1", "maxIcebergSz": "100000000", "maxLmtSz": "100000000",
            "maxMktSz": "10000", "maxStopSz": "10000", "maxTriggerSz": "100000000", "maxTwapSz": "100000000",
            "minSz": "1", "optType": "", "quoteCcy": "", "settleCcy": c.asset if inverse else c.quote,
            "state": "live", "stk": "", "tickSz": num(tick_size(c)), "uly": _uly(c),
        }
        if isinstance(c, SimFuture):
            alias = self._alias(c, now)
            listed = c.expiry_ms - (14 if alias.endswith("_week") else 180) * DAY_MS
            row |= {"alias": alias, "expTime": str(c.expiry_ms), "instType": "FUTURES", "lever": "125",
                    "listTime": str(min(listed, now))}
        return row

    def _alias(self, fut: SimFuture, now: int) -> str:
        """OKX's alias of a dated future: this_week / next_week by days left, else the quarterlies in order."""
        days = (fut.expiry_ms - now) / DAY_MS
        if days <= 7:
            return "this_week"
        if days <= 14:
            return "next_week"
        later = [f.symbol for f in self.model.futures(VENUE, now, HOST)
                 if _uly(f) == _uly(fut) and f.expiry_ms - now > 14 * DAY_MS]
        return ("quarter", "next_quarter", "third_quarter")[min(later.index(fut.symbol), 2)]

    # --- funding ---------------------------------------------------------------------------

    def funding_rate(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/funding-rate?instId=ANY|<swap>"""
        inst_id = _required(req, "instId")
        if inst_id == "ANY":
            return ok([self._funding(p, req.now_ms) for p in self.swaps.values()])
        perp = self.swaps.get(inst_id)
        return ok([self._funding(perp, req.now_ms)]) if perp else not_found()

    def _funding(self, p: SimPerp, now: int) -> dict[str, Any]:
        rate, settle = self.model.current_funding(p, now)
        step = p.interval_h * HOUR_MS
        cap = 0.00375 * p.interval_h / 8
        return {
            "formulaType": "noRate", "fundingRate": num(rate), "fundingTime": str(settle),
            "impactValue": "", "instId": p.symbol, "instType": "SWAP", "interestRate": "0",
            "maxFundingRate": num(cap), "method": "current_period", "minFundingRate": num(-cap),
            "nextFundingRate": "", "nextFundingTime": str(settle + step),
            "premium": num(round(self.model.premium(p, now), 8)),
            "settFundingRate": num(self.model.funding_rate(p, settle - step)), "settState": "settled",
            "ts": str(now),
        }

    def funding_history(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/funding-rate-history?instId=&limit=&after=&before= (newest first)."""
        perp = self.swaps.get(_required(req, "instId"))
        if perp is None:
            return not_found()
        limit = _int(req, "limit", HISTORY_LIMIT, 1, HISTORY_LIMIT)
        after = _int(req, "after", req.now_ms + 1)
        before = _int(req, "before", -1)
        kept = self.model.settlements(perp, req.now_ms - HISTORY_KEEP_MS, req.now_ms)
        cap = req.faults.page_cap(VENUE, req.path, PAGE_CAP)
        rows = [(t, r) for t, r in reversed(kept) if before < t < after][:min(limit, cap)]
        return ok([self._settled(perp, t, r) for t, r in rows])

    def _settled(self, p: SimPerp, t: int, rate: float) -> dict[str, Any]:
        # fundingRate is the forecast OKX showed during the period (here: half-way through it);
        # realizedRate is what was charged.
        forecast = self.model.funding_8h_equiv(p, t - p.interval_h * HOUR_MS // 2) * p.interval_h / 8
        return {"formulaType": "noRate", "fundingRate": num(round(forecast, 8)), "fundingTime": str(t),
                "instId": p.symbol, "instType": "SWAP", "method": "current_period", "realizedRate": num(rate)}

    # --- open interest, mark, tickers, index ---------------------------------------------------

    def open_interest(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/open-interest?instType=SWAP|FUTURES|OPTION[&instId=|&instFamily=|&uly=]"""
        if req.query.get("instType") == OPTION:
            return self._option_answer(req, _option_oi)
        contracts = self._selected(req)
        return not_found() if contracts is None else ok([self._oi(c, req.now_ms) for c in contracts])

    def _oi_figures(self, c: Contract, t: int) -> tuple[float, float, float]:
        """(contracts, coin, USD) of a contract's one-sided open interest at ``t``, OKX's three units."""
        coin = self.model.open_interest_base(c, t)
        usd = coin * self.model.contract_mark(c, t)
        return (usd if c.contract_unit == "usd" else coin) / c.contract_size, coin, usd

    def _oi(self, c: Contract, now: int) -> dict[str, Any]:
        contracts, coin, usd = self._oi_figures(c, now)
        return {"instId": c.symbol, "instType": _inst_type(c), "oi": num(contracts), "oiCcy": num(coin),
                "oiUsd": num(usd), "ts": str(now)}

    def mark_price(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/mark-price?instType=SWAP|FUTURES|OPTION[&instId=|&instFamily=|&uly=]"""
        if req.query.get("instType") == OPTION:
            return self._option_answer(req, _option_mark)
        contracts = self._selected(req)
        if contracts is None:
            return not_found()
        return ok([{"instId": c.symbol, "instType": _inst_type(c),
                    "markPx": num(self.model.contract_mark(c, req.now_ms)), "ts": str(req.now_ms)}
                   for c in contracts])

    def books(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/market/books?instId=[&sz=]: the model's book, sizes in contracts (at least 1)."""
        c = self._one(req)
        depth = _int(req, "sz", BOOK_DEFAULT, 1, BOOK_MAX)
        tick = tick_size(c)
        places = max(0, -math.floor(math.log10(tick) + 1e-9))
        bids, asks = self.model.book(c, req.now_ms, depth, tick)

        def level(price: float, size: float) -> list[str]:
            held = (size * price if c.contract_unit == "usd" else size) / c.contract_size
            return [f"{price:.{places}f}", num(max(1, round(held))), "0", str(1 + round(held) % 7)]

        return ok([{"asks": [level(*a) for a in asks], "bids": [level(*b) for b in bids], "ts": str(req.now_ms)}])

    def position_tiers(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/position-tiers?instType=SWAP|FUTURES&tdMode=cross|isolated&instFamily=A[,B..][&tier=]:
        the ``TIER_TABLES`` rows of up to 5 listed families (``uly`` accepted too); an unknown family: 51000."""
        inst_type = _required(req, "instType")
        if inst_type not in ("SWAP", "FUTURES"):
            raise _bad("instType")
        if _required(req, "tdMode") not in TIER_MODES:
            raise _bad("tdMode")
        names = (req.query.get("instFamily") or req.query.get("uly") or "").split(",")
        if names == [""]:
            raise SimHttpError(400, {"code": "50014", "msg": "Parameter instFamily can not be empty", "data": []})
        listed = {_uly(c) for c in self._of_type(inst_type, req.now_ms)}
        if len(names) > TIER_FAMILIES_MAX or any(n not in listed or n not in TIER_TABLES for n in names):
            raise _bad("instFamily")
        rows = [row for name in names for row in tier_rows(name)]
        tier = req.query.get("tier")
        return ok([r for r in rows if tier is None or r["tier"] == tier])

    def tickers(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/market/tickers?instType=SWAP|FUTURES|SPOT|OPTION[&instFamily=|&uly=]: ``last`` is the
        contract's mark (the model has no separate trade price), the spot price for SPOT pairs."""
        if req.query.get("instType") == OPTION:
            return self._option_answer(req, _option_ticker)
        if req.query.get("instType") == "SPOT":
            return ok([self._ticker("SPOT", f"{a}-{q}", partial(self.model.spot_price, VENUE, a),
                                    partial(self._spot_volume, a), req.now_ms) for a in ASSETS for q in SPOT_QUOTES])
        contracts = self._selected(req)
        if contracts is None:
            return not_found()
        return ok([self._ticker(_inst_type(c), c.symbol, partial(self.model.contract_mark, c),
                                partial(self._volume, c), req.now_ms, c) for c in contracts])

    def _volume(self, c: Contract, t: int) -> float:
        """Base coin a contract trades in the hour after ``t`` (2 % of its open interest)."""
        return 0.02 * self.model.open_interest_base(c, t)

    def _spot_volume(self, asset: str, t: int) -> float:
        """Coins of ``asset`` a spot pair trades in the hour after ``t``."""
        return 0.002 * ASSETS[asset].oi_usd / self.model.index_price(asset, t)

    @staticmethod
    def _ticker(inst_type: str, inst_id: str, price: Callable[[int], float], coin_per_hour: Callable[[int], float],
                now: int, contract: Contract | None = None) -> dict[str, Any]:
        """One tickers row: prices sampled hourly over the last 24 h; the 24 h volume as OKX sends it: a spot pair's
        ``vol24h`` in the base coin and ``volCcy24h`` in the quote, a contract's ``vol24h`` in contracts (of
        ``ctVal`` USD or coins) and ``volCcy24h`` in the base coin (each hour's coins at that hour's price)."""
        last, day_ago = price(now), price(now - DAY_MS)
        path = [price(now - k * HOUR_MS) for k in range(25)]
        hourly = [coin_per_hour(now - k * HOUR_MS) for k in range(24)]
        coin = sum(hourly)
        notional = sum(x * p for x, p in zip(hourly, path, strict=False))
        if contract is None:
            vol, vol_ccy = coin, notional
        else:
            held = notional if contract.contract_unit == "usd" else coin
            vol, vol_ccy = round(held / contract.contract_size, 2), coin
        return {"instType": inst_type, "instId": inst_id, "last": num(last), "lastSz": "1",
                "askPx": num(last * 1.00005), "askSz": "12", "bidPx": num(last * 0.99995), "bidSz": "9",
                "open24h": num(day_ago), "high24h": num(max(path)), "low24h": num(min(path)),
                "volCcy24h": num(vol_ccy), "vol24h": num(vol), "ts": str(now),
                "sodUtc0": num(price(now - now % DAY_MS)), "sodUtc8": num(price(now - (now + _UTC8) % DAY_MS))}

    def index_tickers(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/market/index-tickers?quoteCcy=|instId= (one of them is required)."""
        inst_id, quote = req.query.get("instId", ""), req.query.get("quoteCcy", "")
        if not inst_id and not quote:
            raise SimHttpError(400, {"code": "50014", "msg": "Parameter quoteCcy can not be empty", "data": []})
        names = self._indices(req.now_ms)
        if inst_id:
            return ok([self._index(inst_id, req.now_ms)]) if inst_id in names else not_found()
        return ok([self._index(n, req.now_ms) for n in names if n.endswith(f"-{quote}")])

    def _indices(self, now: int) -> list[str]:
        """USDT and USD indices of every simulated asset, plus each contract's own uly (e.g. BTC-USDC)."""
        contracts: list[Contract] = [*self.swaps.values(), *self.model.futures(VENUE, now, HOST)]
        assets = dict.fromkeys(c.asset for c in contracts)
        names = [f"{a}-{q}" for a in assets for q in INDEX_QUOTES]
        return names + [u for u in dict.fromkeys(_uly(c) for c in contracts) if u not in names]

    def _index(self, name: str, now: int) -> dict[str, Any]:
        asset = name.split("-")[0]
        px = self.model.index_price(asset, now)
        day_ago = self.model.index_price(asset, now - DAY_MS)
        midnight = self.model.index_price(asset, now - now % DAY_MS)
        return {"high24h": num(max(px, day_ago)), "idxPx": num(px), "instId": name, "low24h": num(min(px, day_ago)),
                "open24h": num(day_ago), "sodUtc0": num(midnight),
                "sodUtc8": num(self.model.index_price(asset, now - (now + _UTC8) % DAY_MS)), "ts": str(now)}

    # --- candles ---------------------------------------------------------------------------

    def candles(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/market/candles?instId=&bar=&after=&before=&limit= (only the latest 1,440 bars)."""
        return self._candles(req, recent_only=True)

    def history_candles(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/market/history-candles?instId=&bar=&after=&before=&limit= (any age)."""
        return self._candles(req, recent_only=False)

    def _candles(self, req: SimRequest, *, recent_only: bool) -> dict[str, Any]:
        """Candles of the contract's mark path opening strictly between ``before`` and ``after``, newest
        first; ``confirm`` "0" for the candle still open."""
        c = self._one(req)
        length, offset = _bar(req, "bar", CANDLE_BARS)
        limit = _int(req, "limit", CANDLE_DEFAULT, 1, CANDLE_LIMIT)
        now = req.now_ms
        newest = min(now, _int(req, "after", now + 1) - 1)
        oldest = _int(req, "before", -1) + 1
        if recent_only:
            oldest = max(oldest, now - (now - offset) % length - (RECENT_CANDLES - 1) * length)
        rows = []
        for t in _newest(length, offset, newest, max(oldest, 0), limit):
            o, h, low, close = self.model.candle(c, t, length)
            coin = self._volume(c, t) * length / HOUR_MS
            contracts = (coin * close if c.contract_unit == "usd" else coin) / c.contract_size
            rows.append([str(t), num(o), num(h), num(low), num(close), num(contracts), num(coin), num(coin * close),
                         "1" if t + length <= now else "0"])
        return ok(rows)

    # --- rubik statistics ----------------------------------------------------------------------

    def _stat_times(self, req: SimRequest) -> list[int]:
        """Bar times of a contract statistic: strictly between ``begin`` and ``end``, newest first, at
        most ``limit`` (100), among the latest 1,440 entries."""
        length, offset = _bar(req, "period", STAT_BARS)
        limit = _int(req, "limit", STAT_LIMIT, 1, STAT_LIMIT)
        now = req.now_ms
        newest = min(now, _int(req, "end", now + 1) - 1)
        kept = now - (now - offset) % length - (STAT_KEPT - 1) * length
        return _newest(length, offset, newest, max(_int(req, "begin", -1) + 1, kept), limit)

    def oi_history(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/rubik/stat/contracts/open-interest-history?instId=&period=&begin=&end=&limit="""
        c = self._one(req)
        rows = []
        for t in self._stat_times(req):
            contracts, coin, usd = self._oi_figures(c, t)
            rows.append([str(t), num(contracts), num(coin), num(usd)])
        return ok(rows)

    def long_short_contract(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/rubik/stat/contracts/long-short-account-ratio-contract?instId=&period=&begin=&end=&limit="""
        c = self._one(req)
        return ok([[str(t), num(self._ratio(c.symbol, t, 4))] for t in self._stat_times(req)])

    def long_short_ccy(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/rubik/stat/contracts/long-short-account-ratio?ccy=&period=&begin=&end= (no limit:
        every row of the window, which reaches back 2 days at 5m, 30 days at 1H, 180 days at 1D)."""
        ccy = _required(req, "ccy")
        if ccy not in {c.asset for c in self.swaps.values()}:
            raise _bad("ccy")
        period = req.query.get("period") or "5m"
        if period not in CCY_RATIO_BARS:
            raise _bad("period")
        length, offset, reach = CCY_RATIO_BARS[period]
        now = req.now_ms
        newest = min(now, _int(req, "end", now))
        oldest = max(_int(req, "begin", 0), now - reach)
        times = _newest(length, offset, newest, oldest, reach // length + 1)
        return ok([[str(t), num(self._ratio(ccy, t, 2))] for t in times])

    def _ratio(self, name: str, t: int, digits: int) -> float:
        """Long / short accounts from the model's long share, rounded as OKX sends it."""
        share = self.model.long_share(VENUE, name, "accounts", t)
        return round(share / (1.0 - share), digits)


    # --- options -----------------------------------------------------------------------------

    def _option_market(self, req: SimRequest) -> OptionMarket | None:
        """The option market of the required family (``instFamily``, or the older ``uly``), None for a family
        without options."""
        family = req.query.get("instFamily") or req.query.get("uly")
        if not family:
            raise SimHttpError(400, {"code": "50014", "msg": "Parameter instFamily can not be empty", "data": []})
        asset, _, quote = family.partition("-")
        found = [m for m in self.options.markets(VENUE) if m.asset == asset]
        return found[0] if found and quote == "USD" else None

    def _listed_options(self, req: SimRequest) -> list[SimOption] | None:
        """The listed options of the family, narrowed to ``instId`` when given (None: an unknown instId)."""
        market = self._option_market(req)
        listed = [] if market is None else self.options.listed(VENUE, market.asset, req.now_ms)
        inst_id = req.query.get("instId")
        if not inst_id:
            return listed
        return [o for o in listed if o.instrument == inst_id] or None

    def _option_answer(self, req: SimRequest, row: Callable[[SimOptionQuote], dict[str, Any]]) -> dict[str, Any]:
        """``row`` of each quote of the family (or of ``instId``) at the request time."""
        market = self._option_market(req)
        chain = [] if market is None else self.options.chain(VENUE, market.asset, req.now_ms)
        inst_id = req.query.get("instId")
        if inst_id:
            chain = [q for q in chain if q.option.instrument == inst_id]
            if not chain:
                return not_found()
        return ok([row(q) for q in chain])

    def opt_summary(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/opt-summary?instFamily=[&expTime=YYMMDD]"""
        market = self._option_market(req)
        expiry = req.query.get("expTime", "")
        if expiry and (len(expiry) != 6 or not expiry.isdigit()):
            raise _bad("expTime")
        chain = [] if market is None else self.options.chain(VENUE, market.asset, req.now_ms)
        atm: dict[int, float] = {}
        rows = []
        for q in chain:
            o = q.option
            if expiry and cal.yymmdd(o.expiry_ms) != expiry:
                continue
            if o.expiry_ms not in atm:
                atm[o.expiry_ms] = self.options.atm_iv(o.asset, q.years, req.now_ms)
            rows.append(_summary(q, atm[o.expiry_ms]))
        return ok(rows)

    def option_trades(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/option-trades?instFamily=|instId=[&optType=C|P]: the latest 100 trades, newest first
        (``instId`` wins when both are given)."""
        inst_id = req.query.get("instId", "")
        opt_type = req.query.get("optType", "")
        if opt_type not in ("", "C", "P"):
            raise _bad("optType")
        market = None
        if inst_id:
            market = next((m for m in self.options.markets(VENUE) if inst_id.startswith(f"{m.asset}-USD-")), None)
            if market is None or self.options.find(VENUE, inst_id, req.now_ms) is None:
                return not_found()
        else:
            market = self._option_market(req)
        if market is None:
            return ok([])

        def wanted(t: SimOptionTrade) -> bool:
            return (t.block_trade_id is None and (not inst_id or t.instrument == inst_id)
                    and (not opt_type or t.instrument.endswith(f"-{opt_type}")))

        found: list[SimOptionTrade] = []
        end = req.now_ms
        while len(found) < OPTION_TRADES_KEPT and req.now_ms - end < TRADE_REACH_MS:
            window = self.options.trades(VENUE, market.asset, end - TRADE_WINDOW_MS + 1, end)
            found += [t for t in reversed(window) if wanted(t)]
            end -= TRADE_WINDOW_MS
        return ok([self._trade(t) for t in found[:OPTION_TRADES_KEPT]])

    def _trade(self, t: SimOptionTrade) -> dict[str, Any]:
        o = t.option
        return {"fillVol": num(t.iv / 100.0), "fwdPx": num(self.options.forward(VENUE, o.asset, o.expiry_ms, t.ts_ms)),
                "idxPx": num(t.index_price), "instFamily": f"{o.asset}-USD", "instId": o.instrument,
                "markPx": num(t.mark_price), "optType": "C" if o.is_call else "P", "px": num(t.price),
                "side": t.direction, "sz": num(t.amount), "tradeId": t.trade_id, "ts": str(t.ts_ms)}


#: Position tiers by instFamily (the same for SWAP and FUTURES, cross and isolated): contracts per tier, each tier's
#: maintenance rate and max leverage, as OKX writes them. Tier n covers ``minSz`` (n - 1) x step + 1 (0 for tier 1)
#: to ``maxSz`` n x step contracts (OKX's convention: the research row ``minSz`` "0" / ``maxSz`` "1000" of BTC-USDT,
#: then "1001"...); ``imr`` is 1 / ``maxLever`` to 4 decimals.
TIER_TABLES: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "BTC-USDT": (1000, ("0.004", "0.006", "0.008", "0.01", "0.015", "0.02", "0.03"),
                 ("100", "75", "50", "40", "25", "20", "10")),
    "BTC-USDC": (100_000, ("0.004", "0.006", "0.008", "0.01", "0.015", "0.02", "0.03"),
                 ("100", "75", "50", "40", "25", "20", "10")),
    "ETH-USDT": (2000, ("0.005", "0.0075", "0.01", "0.015", "0.02", "0.03"), ("100", "75", "50", "30", "25", "15")),
    "SOL-USDT": (5000, ("0.01", "0.015", "0.02", "0.03", "0.05"), ("50", "40", "25", "20", "10")),
    "PEPE-USDT": (200, ("0.01", "0.02", "0.03", "0.05"), ("50", "25", "20", "10")),
    "BTC-USD": (10_000, ("0.004", "0.006", "0.008", "0.01", "0.015", "0.02", "0.03"),
                ("100", "75", "50", "40", "25", "20", "10")),
    "ETH-USD": (20_000, ("0.005", "0.0075", "0.01", "0.015", "0.02", "0.03"), ("100", "75", "50", "30", "25", "15")),
    "SOL-USD": (5000, ("0.01", "0.015", "0.02", "0.03", "0.05"), ("50", "40", "25", "20", "10")),
}
TIER_MODES = ("cross", "isolated")
TIER_FAMILIES_MAX = 5


def tier_rows(family: str) -> list[dict[str, Any]]:
    """The position-tiers rows of one family, tier 1 first, in OKX's format (sizes in contracts)."""
    step, rates, levers = TIER_TABLES[family]
    rows = []
    for n, (mmr, lever) in enumerate(zip(rates, levers, strict=True), start=1):
        imr = (Decimal(1) / Decimal(lever)).quantize(Decimal("0.0001"))
        rows.append({"baseMaxLoan": "", "imr": format(imr.normalize(), "f"), "instFamily": family, "instId": "",
                     "maxLever": lever, "maxSz": str(n * step), "minSz": "0" if n == 1 else str((n - 1) * step + 1),
                     "mmr": mmr, "optMgnFactor": "0", "quoteMaxLoan": "", "tier": str(n), "uly": family})
    return rows


def tick_size(c: Contract) -> float:
    """A swap's or future's price tick: six significant digits of its asset's reference price (0.1 on BTC, 0.01 on
    ETH, as OKX's)."""
    reference = ASSETS[c.asset].price * c.multiplier
    return float(f"1e{math.floor(math.log10(reference)) - 5}")


def fault_answer(status: int, now_ms: int) -> SimHttpError:
    """OKX's answer to a fault meaning HTTP ``status`` (see the module docstring)."""
    code, msg = {429: ("50011", "Rate limit reached. Please refer to API documentation and throttle requests "
                              "accordingly."),
                 418: ("50011", "Too Many Requests"),
                 451: ("451", "Service unavailable from a restricted location"),  # no documented OKX code
                 500: ("50026", "System error. Try again later."),
                 503: ("50001", "Service temporarily unavailable. Try again later.")}.get(
        status, ("50001", "Service temporarily unavailable. Try again later.") if status >= 500
        else ("51000", "Parameter error"))
    return SimHttpError(status, {"code": code, "msg": msg, "data": []})


def _family(o: SimOption) -> str:
    return f"{o.asset}-USD"


def _option_instrument(o: SimOption) -> dict[str, Any]:
    """One instruments row of an option, as in the real capture (ctVal 1 x ctMult = coins per contract)."""
    return {
        "alias": "", "baseCcy": "", "category": "1", "ctMult": num(o.contract_size), "ctType": "", "ctVal": "1",
        "ctValCcy": o.asset, "expTime": str(o.expiry_ms), "instFamily": _family(o), "instId": o.instrument,
        "instType": OPTION, "lever": "", "listTime": str(o.listed_ms), "lotSz": num(o.min_amount),
        "maxIcebergSz": "1000000", "maxLmtSz": "1000000", "maxMktSz": "5000", "maxStopSz": "5000",
        "maxTriggerSz": "1000000", "maxTwapSz": "1000000", "minSz": num(o.min_amount),
        "optType": "C" if o.is_call else "P", "quoteCcy": "", "settleCcy": o.settle, "state": "live",
        "stk": num(o.strike), "tickSz": num(o.tick_size), "uly": _family(o),
    }


def _summary(q: SimOptionQuote, atm_iv: float) -> dict[str, Any]:
    """One opt-summary row: IVs as fractions, the forward, Black-Scholes (USD) and coin greeks."""
    forward = q.underlying_price
    delta_coin = q.delta - q.mark_price_coin
    return {
        "askVol": num(q.ask_iv), "bidVol": "0" if q.bid_iv is None else num(q.bid_iv), "delta": num(delta_coin),
        "deltaBS": num(q.delta), "fwdPx": num(forward), "gamma": num(forward * q.gamma - 2.0 * delta_coin),
        "gammaBS": num(q.gamma), "instId": q.option.instrument, "instType": OPTION,
        "lever": num(round(1.0 / q.mark_price_coin, 2)) if q.mark_price_coin > 0 else "",
        "markVol": num(q.mark_iv), "realVol": "0",
        "volLv": num(atm_iv), "theta": num(q.theta / forward), "thetaBS": num(q.theta), "ts": str(q.ts_ms),
        "uly": _family(q.option), "vega": num(q.vega / forward), "vegaBS": num(q.vega),
    }


def _option_mark(q: SimOptionQuote) -> dict[str, Any]:
    return {"instId": q.option.instrument, "instType": OPTION, "markPx": num(q.mark_price_coin), "ts": str(q.ts_ms)}


def _option_oi(q: SimOptionQuote) -> dict[str, Any]:
    coins = q.open_interest * q.option.contract_size
    return {"instId": q.option.instrument, "instType": OPTION, "oi": num(q.open_interest), "oiCcy": num(coins),
            "oiUsd": num(coins * q.index_price), "ts": str(q.ts_ms)}


def _option_ticker(q: SimOptionQuote) -> dict[str, Any]:
    """One option tickers row: prices in the coin, ``last`` the mark (no 24 h history: open/high/low = last);
    an empty bid side is "" with size "0"."""
    last = num(q.mark_price_coin)
    bid = q.bid_price_coin
    return {"instType": OPTION, "instId": q.option.instrument, "last": last, "lastSz": num(q.option.min_amount),
            "askPx": num(q.ask_price_coin), "askSz": num(q.ask_size), "bidPx": "" if bid is None else num(bid),
            "bidSz": num(q.bid_size), "open24h": last, "high24h": last, "low24h": last,
            "volCcy24h": num(q.volume_24h * q.option.contract_size), "vol24h": num(q.volume_24h),
            "ts": str(q.ts_ms), "sodUtc0": last, "sodUtc8": last}


def _inst_type(c: Contract) -> str:
    return "FUTURES" if isinstance(c, SimFuture) else "SWAP"


def register(routes: SimRoutes, model: MarketModel) -> None:
    """Mount the simulated OKX endpoints on host ``rest``."""
    sim = OkxSim(model)
    for path, handler in (
        ("/api/v5/public/instruments", sim.instruments),
        ("/api/v5/public/funding-rate", sim.funding_rate),
        ("/api/v5/public/funding-rate-history", sim.funding_history),
        ("/api/v5/public/open-interest", sim.open_interest),
        ("/api/v5/public/mark-price", sim.mark_price),
        ("/api/v5/market/index-tickers", sim.index_tickers),
        ("/api/v5/market/tickers", sim.tickers),
        ("/api/v5/market/candles", sim.candles),
        ("/api/v5/market/history-candles", sim.history_candles),
        ("/api/v5/rubik/stat/contracts/open-interest-history", sim.oi_history),
        ("/api/v5/rubik/stat/contracts/long-short-account-ratio-contract", sim.long_short_contract),
        ("/api/v5/rubik/stat/contracts/long-short-account-ratio", sim.long_short_ccy),
        ("/api/v5/public/opt-summary", sim.opt_summary),
        ("/api/v5/public/option-trades", sim.option_trades),
        ("/api/v5/market/books", sim.books),
        ("/api/v5/public/position-tiers", sim.position_tiers),
    ):
        routes.add(VENUE, HOST, "GET", path, handler)
    routes.on_error(VENUE, fault_answer)
