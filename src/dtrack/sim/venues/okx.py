"""Simulated OKX v5 public REST (host ``rest``), in OKX's wire format, from the market model.

Serves instruments, funding-rate (``instId=ANY`` or one swap), funding-rate-history (``limit`` up to
400, at most ``PAGE_CAP`` rows a page, ``after``/``before`` paging, newest first, about three months
kept), open-interest, mark-price and index-tickers. Envelope ``{"code": "0", "msg": "", "data": [...]}``
with numbers as strings. An unknown instId answers code 51001 with HTTP 200, as OKX does; missing or
bad parameters answer 50014 / 51000 with HTTP 400.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

VENUE = "okx"
HOST = "rest"
#: largest ``limit`` funding-rate-history accepts (a larger one answers 51000)
HISTORY_LIMIT = 400
#: most rows a funding-rate-history page actually holds, whatever ``limit`` asked: OKX's maximum was
#: 100 before 2025 and a venue may cap pages below the limit it accepts (tests lower this to 100).
PAGE_CAP = 400
HISTORY_KEEP_MS = 92 * DAY_MS
INSTRUMENT_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
INDEX_QUOTES = ("USDT", "USD")


def num(value: float) -> str:
    """A float as OKX writes numbers: a plain decimal string that reads back to the same float."""
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def ok(data: list[dict[str, Any]]) -> dict[str, Any]:
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


def _uly(perp: SimPerp) -> str:
    return f"{perp.asset}-{perp.quote}"


class OkxSim:
    """Handlers of the simulated OKX host over one market model."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self.swaps = {p.symbol: p for p in model.perps(VENUE)}

    def _selected(self, req: SimRequest) -> list[SimPerp] | None:
        """Swaps matching an optional instId / instFamily / uly filter; None for an unknown instId."""
        inst_id = req.query.get("instId")
        if inst_id:
            perp = self.swaps.get(inst_id)
            return [perp] if perp else None
        family = req.query.get("instFamily") or req.query.get("uly")
        return [p for p in self.swaps.values() if not family or _uly(p) == family]

    def _swap_type(self, req: SimRequest) -> bool:
        """Whether ``instType`` asks for swaps (other known types have none in the model)."""
        inst_type = _required(req, "instType")
        if inst_type not in INSTRUMENT_TYPES:
            raise _bad("instType")
        return inst_type == "SWAP"

    # --- instruments -----------------------------------------------------------------------

    def instruments(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/instruments?instType=SWAP[&instId=|&instFamily=|&uly=]"""
        if not self._swap_type(req):
            return ok([])
        perps = self._selected(req)
        if perps is None:
            return not_found()
        return ok([self._instrument(p) for p in perps])

    @staticmethod
    def _instrument(p: SimPerp) -> dict[str, Any]:
        inverse = p.margin == "inverse"
        return {
            "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": p.margin,
            "ctVal": num(p.contract_size), "ctValCcy": "USD" if p.contract_unit == "usd" else p.asset,
            "expTime": "", "instFamily": _uly(p), "instId": p.symbol, "instType": "SWAP", "lever": "100",
            "listTime": "1611916828000", "lotSz": "1", "maxIcebergSz": "100000000", "maxLmtSz": "100000000",
            "maxMktSz": "10000", "maxStopSz": "10000", "maxTriggerSz": "100000000", "maxTwapSz": "100000000",
            "minSz": "1", "optType": "", "quoteCcy": "", "settleCcy": p.asset if inverse else p.quote,
            "state": "live", "stk": "", "tickSz": "0.1", "uly": _uly(p),
        }

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
        limit = self._int(req, "limit", HISTORY_LIMIT)
        if not 1 <= limit <= HISTORY_LIMIT:
            raise _bad("limit")
        after = self._int(req, "after", req.now_ms + 1)
        before = self._int(req, "before", -1)
        kept = self.model.settlements(perp, req.now_ms - HISTORY_KEEP_MS, req.now_ms)
        rows = [(t, r) for t, r in reversed(kept) if before < t < after][:min(limit, PAGE_CAP)]
        return ok([self._settled(perp, t, r) for t, r in rows])

    def _settled(self, p: SimPerp, t: int, rate: float) -> dict[str, Any]:
        # fundingRate is the forecast OKX showed during the period (here: half-way through it);
        # realizedRate is what was charged.
        forecast = self.model.funding_8h_equiv(p, t - p.interval_h * HOUR_MS // 2) * p.interval_h / 8
        return {"formulaType": "noRate", "fundingRate": num(round(forecast, 8)), "fundingTime": str(t),
                "instId": p.symbol, "instType": "SWAP", "method": "current_period", "realizedRate": num(rate)}

    @staticmethod
    def _int(req: SimRequest, name: str, default: int) -> int:
        raw = req.query.get(name, "")
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise _bad(name) from None

    # --- open interest, mark, index --------------------------------------------------------

    def open_interest(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/open-interest?instType=SWAP[&instId=]"""
        if not self._swap_type(req):
            return ok([])
        perps = self._selected(req)
        return not_found() if perps is None else ok([self._oi(p, req.now_ms) for p in perps])

    def _oi(self, p: SimPerp, now: int) -> dict[str, Any]:
        coin = self.model.open_interest_base(p, now)
        usd = coin * self.model.mark_price(p, now)
        contracts = usd / p.contract_size if p.contract_unit == "usd" else coin / p.contract_size
        return {"instId": p.symbol, "instType": "SWAP", "oi": num(contracts), "oiCcy": num(coin),
                "oiUsd": num(usd), "ts": str(now)}

    def mark_price(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/public/mark-price?instType=SWAP[&instId=]"""
        if not self._swap_type(req):
            return ok([])
        perps = self._selected(req)
        if perps is None:
            return not_found()
        return ok([{"instId": p.symbol, "instType": "SWAP", "markPx": num(self.model.mark_price(p, req.now_ms)),
                    "ts": str(req.now_ms)} for p in perps])

    def index_tickers(self, req: SimRequest) -> dict[str, Any]:
        """GET /api/v5/market/index-tickers?quoteCcy=|instId= (one of them is required)."""
        inst_id, quote = req.query.get("instId", ""), req.query.get("quoteCcy", "")
        if not inst_id and not quote:
            raise SimHttpError(400, {"code": "50014", "msg": "Parameter quoteCcy can not be empty", "data": []})
        names = self._indices()
        if inst_id:
            return ok([self._index(inst_id, req.now_ms)]) if inst_id in names else not_found()
        return ok([self._index(n, req.now_ms) for n in names if n.endswith(f"-{quote}")])

    def _indices(self) -> list[str]:
        """USDT and USD indices of every simulated asset, plus each swap's own uly (e.g. BTC-USDC)."""
        assets = dict.fromkeys(p.asset for p in self.swaps.values())
        names = [f"{a}-{q}" for a in assets for q in INDEX_QUOTES]
        return names + [u for u in dict.fromkeys(_uly(p) for p in self.swaps.values()) if u not in names]

    def _index(self, name: str, now: int) -> dict[str, Any]:
        asset = name.split("-")[0]
        px = self.model.index_price(asset, now)
        day_ago = self.model.index_price(asset, now - DAY_MS)
        midnight = self.model.index_price(asset, now - now % DAY_MS)
        return {"high24h": num(max(px, day_ago)), "idxPx": num(px), "instId": name, "low24h": num(min(px, day_ago)),
                "open24h": num(day_ago), "sodUtc0": num(midnight),
                "sodUtc8": num(self.model.index_price(asset, now - (now + 8 * HOUR_MS) % DAY_MS)), "ts": str(now)}


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
    ):
        routes.add(VENUE, HOST, "GET", path, handler)
