"""Simulated Deribit (API v2 JSON-RPC over HTTP GET) on host ``rest``, in the real wire format.

Serves ``public/get_instruments``, ``public/get_book_summary_by_currency``, ``public/ticker`` and
``public/get_funding_rate_history`` from the market model. Envelopes, field names and JSON types follow
the real captures and the docs examples in ``exchange-payloads`` (numbers are JSON numbers; a plain GET
answer has no ``id``). Bad or missing parameters answer HTTP 400 with JSON-RPC error -32602
"Invalid params" and ``data: {reason, param}``, as Deribit does for a malformed ``instrument_name``;
an unknown instrument gets the same answer (Deribit's own code for that case is not captured).

Model mapping: Deribit has no settlements; the model's 8 h-equivalent funding level stands for its
quotes. ``funding_8h`` is ``current_funding(perp, now)``'s rate (the model's Deribit perpetuals have an
8 h interval, so that rate is the 8 h equivalent). The history row of hour H has ``interest_8h``, the
model's 8 h-equivalent level over the hour ending at H (8 decimals), and ``interest_1h``, an independent
quantity: that hour's accrual of the model's mark premium (premium at mid-hour / 8). The two are in no
fixed ratio, as in the docs example (ratios about 195, 235, 9 and -17 in its four rows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dtrack.sim.model import HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

VENUE = "deribit"
HOST = "rest"
PREFIX = "/api/v2/public/"
CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR")
KINDS = ("future", "option", "spot", "future_combo", "option_combo")
#: one get_funding_rate_history answer holds at most this many hourly rows (31 days). Deribit's real
#: cap is undocumented: tests lower this to check that dtrack follows a short answer up.
HISTORY_CAP = 744
#: past the cap, keep the newest rows instead of the oldest (the real venue's choice is not documented)
HISTORY_CAP_KEEPS_NEWEST = False
#: perpetuals never expire; Deribit gives them this far-future expiration (year 3000)
PERPETUAL_EXPIRY_MS = 32_503_708_800_000
TICK_SIZE = {"BTC": 0.5, "ETH": 0.05, "SOL": 0.01}


def _envelope(req: SimRequest) -> dict[str, Any]:
    us_in = req.now_ms * 1000
    return {"usIn": us_in, "usOut": us_in + 150, "usDiff": 150, "testnet": False}


def _ok(req: SimRequest, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, **_envelope(req)}


def _invalid(req: SimRequest, param: str, reason: str) -> SimHttpError:
    """Deribit's answer to a bad parameter: HTTP 400, JSON-RPC error -32602."""
    error = {"code": -32602, "data": {"reason": reason, "param": param}, "message": "Invalid params"}
    return SimHttpError(400, {"jsonrpc": "2.0", "error": error, **_envelope(req)})


def _choice(req: SimRequest, param: str, allowed: tuple[str, ...], *, required: bool) -> str | None:
    value = req.query.get(param)
    if value is None:
        if required:
            raise _invalid(req, param, "missing")
        return None
    if value not in allowed:
        raise _invalid(req, param, f"must be one of {', '.join(allowed)}")
    return value


def _integer(req: SimRequest, param: str) -> int:
    value = req.query.get(param)
    if value is None:
        raise _invalid(req, param, "missing")
    try:
        return int(value)
    except ValueError:
        raise _invalid(req, param, "wrong format") from None


def _settle(perp: SimPerp) -> str:
    return perp.asset if perp.margin == "inverse" else perp.quote


def _index_name(perp: SimPerp) -> str:
    return f"{perp.asset}_{'usd' if perp.margin == 'inverse' else perp.quote}".lower()


class DeribitSim:
    """The simulated Deribit endpoints over one market model."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self.perps = {p.symbol: p for p in model.perps(VENUE, HOST)}

    def _perp(self, req: SimRequest) -> SimPerp:
        name = req.query.get("instrument_name")
        if name is None:
            raise _invalid(req, "instrument_name", "missing")
        perp = self.perps.get(name)
        if perp is None:
            raise _invalid(req, "instrument_name", "wrong format")
        return perp

    def _listed(self, req: SimRequest, *, allow_any: bool) -> list[SimPerp]:
        """The perpetuals matching the ``currency`` (settlement currency) and ``kind`` parameters."""
        currency = _choice(req, "currency", (*CURRENCIES, "any") if allow_any else CURRENCIES, required=True)
        kind = _choice(req, "kind", KINDS, required=False)
        if kind not in (None, "future"):
            return []  # the simulated market lists perpetuals only
        return [p for p in self.perps.values() if currency in ("any", _settle(p))]

    # --- public/get_instruments ---------------------------------------------------------------

    def instruments(self, req: SimRequest) -> dict[str, Any]:
        """``get_instruments?currency=&kind=&expired=``: the perpetuals' contract specs."""
        expired = req.query.get("expired", "false")
        perps = self._listed(req, allow_any=True)
        return _ok(req, [] if expired == "true" else [self._spec(p, i) for i, p in enumerate(perps)])

    def _spec(self, perp: SimPerp, i: int) -> dict[str, Any]:
        inverse = perp.margin == "inverse"
        return {
            "tick_size": TICK_SIZE.get(perp.asset, 0.0001), "tick_size_steps": [], "taker_commission": 0.0005,
            "settlement_period": "perpetual", "settlement_currency": _settle(perp),
            "quote_currency": perp.quote, "price_index": _index_name(perp),
            "min_trade_amount": perp.contract_size, "max_liquidation_commission": 0.0075, "max_leverage": 50,
            "maker_commission": 0.0, "kind": "future", "is_active": True, "instrument_name": perp.symbol,
            "instrument_id": 124_972 + i, "instrument_type": "reversed" if inverse else "linear",
            "expiration_timestamp": PERPETUAL_EXPIRY_MS, "creation_timestamp": 1_534_167_754_000 + i * 86_400_000,
            "counter_currency": perp.quote, "contract_size": perp.contract_size,
            "block_trade_tick_size": 0.01, "block_trade_min_trade_amount": 200_000 if inverse else 25,
            "block_trade_commission": 0.00025, "base_currency": perp.asset, "state": "open",
        }

    # --- market data --------------------------------------------------------------------------

    def _market(self, perp: SimPerp, now: int) -> dict[str, float]:
        """The numbers both the book summary and the ticker show, at ``now``."""
        m = self.model
        mark = m.mark_price(perp, now)
        oi_base = m.open_interest_base(perp, now)
        spread = mark * 0.00005
        return {
            "mark": mark, "index": m.index_price(perp.asset, now), "bid": mark - spread, "ask": mark + spread,
            "funding_8h": m.current_funding(perp, now)[0],
            "current_funding": round(m.funding_8h_equiv(perp, now), 8),
            # inverse perps count open interest in USD, linear USDC perps in the base coin
            "open_interest": oi_base * mark if perp.margin == "inverse" else oi_base,
            "volume": oi_base * 0.4,
        }

    def book_summary(self, req: SimRequest) -> dict[str, Any]:
        """``get_book_summary_by_currency?currency=&kind=``: one row per listed perpetual."""
        return _ok(req, [self._summary_row(p, req.now_ms) for p in self._listed(req, allow_any=False)])

    def _summary_row(self, perp: SimPerp, now: int) -> dict[str, Any]:
        x = self._market(perp, now)
        return {
            "volume_usd": x["volume"] * x["mark"], "volume_notional": x["volume"] * x["mark"], "volume": x["volume"],
            "quote_currency": perp.quote, "price_change": 0.85, "open_interest": x["open_interest"],
            "mid_price": (x["bid"] + x["ask"]) / 2, "mark_price": x["mark"], "low": x["mark"] * 0.98,
            "last": x["bid"], "instrument_name": perp.symbol, "high": x["mark"] * 1.02,
            "funding_8h": x["funding_8h"], "estimated_delivery_price": x["index"],
            "current_funding": x["current_funding"], "creation_timestamp": now, "bid_price": x["bid"],
            "base_currency": perp.asset, "ask_price": x["ask"],
        }

    def ticker(self, req: SimRequest) -> dict[str, Any]:
        """``ticker?instrument_name=``: one perpetual's ticker."""
        perp = self._perp(req)
        x = self._market(perp, req.now_ms)
        return _ok(req, {
            "best_ask_amount": perp.contract_size * 120, "best_ask_price": x["ask"],
            "best_bid_amount": perp.contract_size * 90, "best_bid_price": x["bid"],
            "current_funding": x["current_funding"], "estimated_delivery_price": x["index"],
            "funding_8h": x["funding_8h"], "index_price": x["index"], "instrument_name": perp.symbol,
            "interest_value": x["funding_8h"] * 250, "last_price": x["bid"], "mark_price": x["mark"],
            "max_price": x["mark"] * 1.015, "min_price": x["mark"] * 0.985, "open_interest": x["open_interest"],
            "settlement_price": x["index"], "state": "open",
            "stats": {"high": x["mark"] * 1.02, "low": x["mark"] * 0.98, "price_change": 0.85,
                      "volume": x["volume"], "volume_usd": x["volume"] * x["mark"],
                      "volume_notional": x["volume"] * x["mark"]},
            "timestamp": req.now_ms,
        })

    # --- public/get_funding_rate_history --------------------------------------------------------

    def funding_history(self, req: SimRequest) -> dict[str, Any]:
        """Hourly rows for the whole hours H with start < H <= end (and H <= now), at most ``HISTORY_CAP``.

        The docs example asks 00:00-04:00 and answers 01:00, 02:00, 03:00, 04:00. Past the cap the
        oldest rows are kept, or the newest with ``HISTORY_CAP_KEEPS_NEWEST``.
        """
        perp = self._perp(req)
        start, end = _integer(req, "start_timestamp"), _integer(req, "end_timestamp")
        first = (start // HOUR_MS + 1) * HOUR_MS
        last = min(end, req.now_ms) // HOUR_MS * HOUR_MS
        hours = range(first, last + 1, HOUR_MS)
        kept = hours[-HISTORY_CAP:] if HISTORY_CAP_KEEPS_NEWEST else hours[:HISTORY_CAP]
        return _ok(req, [self._history_row(perp, h) for h in kept])

    def interest_8h(self, perp: SimPerp, hour: int) -> float:
        """The history row's ``interest_8h`` at ``hour``: the model's 8 h-equivalent level over the hour
        ending there, 8 decimals."""
        return round(self.model.funding_8h_equiv(perp, hour - 1), 8)

    def interest_1h(self, perp: SimPerp, hour: int) -> float:
        """The history row's ``interest_1h`` at ``hour``: the hour's accrual of the mark premium at
        mid-hour (an 8 h premium, so 1/8 of it per hour); not derived from ``interest_8h``."""
        return self.model.premium(perp, hour - HOUR_MS // 2) / 8

    def _history_row(self, perp: SimPerp, hour: int) -> dict[str, Any]:
        m = self.model
        return {"timestamp": hour, "index_price": m.index_price(perp.asset, hour),
                "prev_index_price": m.index_price(perp.asset, hour - HOUR_MS),
                "interest_8h": self.interest_8h(perp, hour), "interest_1h": self.interest_1h(perp, hour)}


def register(routes: SimRoutes, model: MarketModel) -> None:
    """Mount the simulated Deribit methods on ``/deribit/rest``."""
    sim = DeribitSim(model)
    handlers: Mapping[str, Callable[[SimRequest], Any]] = {
        "get_instruments": sim.instruments,
        "get_book_summary_by_currency": sim.book_summary,
        "ticker": sim.ticker,
        "get_funding_rate_history": sim.funding_history,
    }
    for method, handler in handlers.items():
        routes.add(VENUE, HOST, "GET", PREFIX + method, handler)
