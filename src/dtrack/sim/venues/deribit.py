"""Simulated Deribit (API v2 JSON-RPC over HTTP GET) on host ``rest``, in the real wire format.

Serves ``public/get_instruments``, ``public/get_book_summary_by_currency``, ``public/ticker``,
``public/get_funding_rate_history``, ``public/get_index_price`` and ``public/get_tradingview_chart_data``
from the market model, for the perpetuals and the inverse dated futures (``BTC-28NOV25``: Friday
weeklies, month-ends and quarterlies, ``model.futures``). Envelopes, field names and JSON types follow
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
Open interest is ``model.open_interest_base`` (one side): in USD at the mark for the inverse contracts,
in the coin for the linear ones. Futures are priced by ``model.future_price``; candles are
``model.candle`` of the contract's mark, ``ticks`` their open times aligned on the resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from dtrack.sim import calendar as cal
from dtrack.sim.model import DAY_MS, FUTURE_LINES, HOUR_MS, MarketModel, SimFuture, SimPerp
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

Contract = SimPerp | SimFuture
C = TypeVar("C", SimPerp, Contract)

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
#: get_tradingview_chart_data resolutions (the docs' list) -> candle length in ms
RESOLUTIONS = {**{str(m): m * 60_000 for m in (1, 3, 5, 10, 15, 30, 60, 120, 180, 360, 720)}, "1D": DAY_MS}
#: candles one chart answer holds at most (Deribit's real cap is undocumented); past it the newest are kept
CHART_CAP = 5000


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


def _required(req: SimRequest, param: str, allowed: tuple[str, ...]) -> str:
    value = _choice(req, param, allowed, required=True)
    if value is None:  # _choice raised already; this narrows the type
        raise _invalid(req, param, "missing")
    return value


def _integer(req: SimRequest, param: str) -> int:
    value = req.query.get(param)
    if value is None:
        raise _invalid(req, param, "missing")
    try:
        return int(value)
    except ValueError:
        raise _invalid(req, param, "wrong format") from None


def _settle(contract: Contract) -> str:
    return contract.asset if contract.margin == "inverse" else contract.quote


def _index_name(contract: Contract) -> str:
    return f"{contract.asset}_{'usd' if contract.margin == 'inverse' else contract.quote}".lower()


def _settlement_period(fut: SimFuture) -> str:
    """``month`` for a future expiring on its month's last Friday (monthlies and quarterlies), else ``week``."""
    t = datetime.fromtimestamp(fut.expiry_ms / 1000, UTC)
    return "month" if cal.last_friday(t.year, t.month).day == t.day else "week"


class DeribitSim:
    """The simulated Deribit endpoints over one market model."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self.perps = {p.symbol: p for p in model.perps(VENUE, HOST)}
        lines = [f for f in FUTURE_LINES if f.venue == VENUE and f.host == HOST]
        self.indexes = sorted({_index_name(p) for p in self.perps.values()}
                              | {f"{line.asset.lower()}_usd" for line in lines if line.margin == "inverse"}
                              | {f"{line.asset}_{line.quote}".lower() for line in lines if line.margin == "linear"})

    def contracts(self, now_ms: int) -> dict[str, Contract]:
        """The perpetuals and the dated futures listed at ``now_ms``, by name."""
        futures = {f.symbol: f for f in self.model.futures(VENUE, now_ms, HOST)}
        return {**self.perps, **futures}

    def _named(self, req: SimRequest, contracts: Mapping[str, C]) -> C:
        name = req.query.get("instrument_name")
        if name is None:
            raise _invalid(req, "instrument_name", "missing")
        contract = contracts.get(name)
        if contract is None:
            raise _invalid(req, "instrument_name", "wrong format")
        return contract

    def _perp(self, req: SimRequest) -> SimPerp:
        return self._named(req, self.perps)

    def _listed(self, req: SimRequest, *, allow_any: bool) -> list[Contract]:
        """The contracts matching the ``currency`` (settlement currency) and ``kind`` parameters."""
        currency = _required(req, "currency", (*CURRENCIES, "any") if allow_any else CURRENCIES)
        kind = _choice(req, "kind", KINDS, required=False)
        if kind not in (None, "future"):
            return []  # the simulated market lists perpetuals and dated futures only
        return [c for c in self.contracts(req.now_ms).values() if currency in ("any", _settle(c))]

    # --- public/get_instruments ---------------------------------------------------------------

    def instruments(self, req: SimRequest) -> dict[str, Any]:
        """``get_instruments?currency=&kind=&expired=``: the contract specs of the perpetuals and futures."""
        expired = req.query.get("expired", "false")
        contracts = self._listed(req, allow_any=True)
        return _ok(req, [] if expired == "true" else [self._spec(c, i) for i, c in enumerate(contracts)])

    def _spec(self, contract: Contract, i: int) -> dict[str, Any]:
        inverse = contract.margin == "inverse"
        if isinstance(contract, SimFuture):  # listed some weeks before expiry, ids after the perpetuals'
            period, expiry = _settlement_period(contract), contract.expiry_ms
            created, instrument_id = expiry - (28 if period == "week" else 91) * DAY_MS, 300_000 + i
        else:
            period, expiry = "perpetual", PERPETUAL_EXPIRY_MS
            created, instrument_id = 1_534_167_754_000 + i * DAY_MS, 124_972 + i
        return {
            "tick_size": TICK_SIZE.get(contract.asset, 0.0001) * (5 if period != "perpetual" else 1),
            "tick_size_steps": [], "taker_commission": 0.0005,
            "settlement_period": period, "settlement_currency": _settle(contract),
            "quote_currency": contract.quote, "price_index": _index_name(contract),
            "min_trade_amount": contract.contract_size, "max_liquidation_commission": 0.0075, "max_leverage": 50,
            "maker_commission": 0.0, "kind": "future", "is_active": True, "instrument_name": contract.symbol,
            "instrument_id": instrument_id, "instrument_type": "reversed" if inverse else "linear",
            "expiration_timestamp": expiry, "creation_timestamp": created,
            "counter_currency": contract.quote, "contract_size": contract.contract_size,
            "block_trade_tick_size": 0.01, "block_trade_min_trade_amount": 200_000 if inverse else 25,
            "block_trade_commission": 0.00025, "base_currency": contract.asset, "state": "open",
        }

    # --- market data --------------------------------------------------------------------------

    def _market(self, contract: Contract, now: int) -> dict[str, float]:
        """The numbers both the book summary and the ticker show, at ``now``."""
        m = self.model
        mark = m.contract_mark(contract, now)
        oi_base = m.open_interest_base(contract, now)
        spread = mark * 0.00005
        return {
            "mark": mark, "index": m.index_price(contract.asset, now), "bid": mark - spread, "ask": mark + spread,
            # inverse contracts count open interest in USD, linear USDC perps in the base coin
            "open_interest": oi_base * mark if contract.margin == "inverse" else oi_base,
            "volume": oi_base * 0.4,
        }

    def _funding(self, contract: Contract, now: int) -> dict[str, float]:
        """The funding fields: perpetuals only (futures rows and tickers have none)."""
        if not isinstance(contract, SimPerp):
            return {}
        return {"funding_8h": self.model.current_funding(contract, now)[0],
                "current_funding": round(self.model.funding_8h_equiv(contract, now), 8)}

    def book_summary(self, req: SimRequest) -> dict[str, Any]:
        """``get_book_summary_by_currency?currency=&kind=``: one row per listed perpetual and future."""
        return _ok(req, [self._summary_row(c, req.now_ms) for c in self._listed(req, allow_any=False)])

    def _summary_row(self, contract: Contract, now: int) -> dict[str, Any]:
        x = self._market(contract, now)
        return {
            "volume_usd": x["volume"] * x["mark"], "volume_notional": x["volume"] * x["mark"], "volume": x["volume"],
            "quote_currency": contract.quote, "price_change": 0.85, "open_interest": x["open_interest"],
            "mid_price": (x["bid"] + x["ask"]) / 2, "mark_price": x["mark"], "low": x["mark"] * 0.98,
            "last": x["bid"], "instrument_name": contract.symbol, "high": x["mark"] * 1.02,
            "estimated_delivery_price": x["index"], **self._funding(contract, now),
            "creation_timestamp": now, "bid_price": x["bid"], "base_currency": contract.asset, "ask_price": x["ask"],
        }

    def ticker(self, req: SimRequest) -> dict[str, Any]:
        """``ticker?instrument_name=``: one perpetual's or future's ticker."""
        contract = self._named(req, self.contracts(req.now_ms))
        x = self._market(contract, req.now_ms)
        funding = self._funding(contract, req.now_ms)
        if funding:
            funding["interest_value"] = funding["funding_8h"] * 250
        return _ok(req, {
            "best_ask_amount": contract.contract_size * 120, "best_ask_price": x["ask"],
            "best_bid_amount": contract.contract_size * 90, "best_bid_price": x["bid"],
            "estimated_delivery_price": x["index"], **funding,
            "index_price": x["index"], "instrument_name": contract.symbol,
            "last_price": x["bid"], "mark_price": x["mark"],
            "max_price": x["mark"] * 1.015, "min_price": x["mark"] * 0.985, "open_interest": x["open_interest"],
            "settlement_price": x["index"], "state": "open",
            "stats": {"high": x["mark"] * 1.02, "low": x["mark"] * 0.98, "price_change": 0.85,
                      "volume": x["volume"], "volume_usd": x["volume"] * x["mark"],
                      "volume_notional": x["volume"] * x["mark"]},
            "timestamp": req.now_ms,
        })

    # --- public/get_index_price -----------------------------------------------------------------

    def index_price(self, req: SimRequest) -> dict[str, Any]:
        """``get_index_price?index_name=``: the index (and its estimated delivery price, the same here)."""
        name = _required(req, "index_name", tuple(self.indexes))
        price = self.model.index_price(name.split("_")[0].upper(), req.now_ms)
        return _ok(req, {"estimated_delivery_price": price, "index_price": price})

    # --- public/get_tradingview_chart_data --------------------------------------------------------

    def chart(self, req: SimRequest) -> dict[str, Any]:
        """Candles whose open time T (aligned on the resolution) has start <= T <= end and T <= now, as
        columns; at most ``CHART_CAP`` (the newest); ``status`` ``no_data`` with empty columns when none."""
        contract = self._named(req, self.contracts(req.now_ms))
        start, end = _integer(req, "start_timestamp"), _integer(req, "end_timestamp")
        length = RESOLUTIONS[_required(req, "resolution", tuple(RESOLUTIONS))]
        ticks = range(-(-start // length) * length, min(end, req.now_ms) + 1, length)[-CHART_CAP:]
        columns: dict[str, list[float]] = {k: [] for k in ("volume", "open", "low", "high", "cost", "close")}
        for t in ticks:
            o, h, low, c = self.model.candle(contract, t, length)
            volume = round(self.model.open_interest_base(contract, t) * 0.01 * length / DAY_MS, 3)
            for key, value in (("open", o), ("high", h), ("low", low), ("close", c), ("volume", volume),
                               ("cost", volume * c)):
                columns[key].append(value)
        status = "ok" if ticks else "no_data"
        return _ok(req, {**columns, "ticks": list(ticks), "status": status})

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
        "get_index_price": sim.index_price,
        "get_tradingview_chart_data": sim.chart,
    }
    for method, handler in handlers.items():
        routes.add(VENUE, HOST, "GET", PREFIX + method, handler)
