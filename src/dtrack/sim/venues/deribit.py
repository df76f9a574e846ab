"""Simulated Deribit (API v2 JSON-RPC over HTTP GET) on host ``rest``, in the real wire format.

Serves ``public/get_currencies``, ``public/get_instruments`` (``currency`` optional: every currency),
``public/get_book_summary_by_currency``, ``public/get_book_summary_by_instrument``, ``public/ticker``,
``public/get_order_book``, ``public/get_funding_rate_history``, ``public/get_funding_rate_value``,
``public/get_index_price`` and ``public/get_tradingview_chart_data`` from the market model, for the
perpetuals and the inverse dated futures (``BTC-28NOV25``: Friday
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
``get_funding_rate_value`` is the funding accrued over the window: the sum of ``interest_1h`` over the same
whole hours ``get_funding_rate_history`` lists for it (start < H <= end, H <= now).
``get_order_book`` serves the model's book (``MarketModel.book``) on the instrument's tick, amounts in USD for
the inverse contracts (multiples of the contract size) and in the coin for the linear ones, with the ticker's
fields; an option's book is its best bid and ask.
Open interest is ``model.open_interest_base`` (one side): in USD at the mark for the inverse contracts,
in the coin for the linear ones. Futures are priced by ``model.future_price``; candles are
``model.candle`` of the contract's mark, ``ticks`` their open times aligned on the resolution.

Options come from ``dtrack.sim.options.OptionsModel`` (BTC and ETH inverse options, priced in the coin): their rows
in ``get_instruments`` and ``get_book_summary_by_currency`` (``kind=option``, or no kind: every kind), their
``ticker`` (with greeks, bid/ask IV), ``get_last_trades_by_currency`` (option trades, ``block_trade_id`` on blocks),
``get_volatility_index_data`` (DVOL candles) and ``get_historical_volatility`` (hourly realized volatility), with
Deribit's units: prices in the coin per coin of underlying, IVs, DVOL and realized volatility in percent points,
open interest, volume and trade ``amount`` in coins (``contracts`` in contracts). The model's numbers are sent
unrounded. The model's "quarter" expiries are Deribit's ``settlement_period`` "month". An empty book side is
``null`` in book summaries and 0 in tickers, as Deribit sends them.

Caps Deribit does not document (rows of a funding history, candles of a chart, DVOL candles per answer) are
module constants that ``Faults.page_caps`` may lower; ``Faults.newest_past_cap`` makes a capped funding history
keep its newest rows. Faults are answered in Deribit's JSON-RPC format (``fault_answer``): error 10028
``too_many_requests`` with HTTP 429, 11094 ``internal_server_error`` with a 5xx, -32602 with other statuses; an
IP ban (418) and a blocked location (451, error 13021 ``forbidden``) are stand-ins: Deribit's own answers to
those are not captured.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from dtrack.sim import calendar as cal
from dtrack.sim.model import DAY_MS, FUTURE_LINES, HOUR_MS, MarketModel, SimFuture, SimPerp
from dtrack.sim.options import OptionsModel, OptionTrade, SimOption, SimOptionQuote
from dtrack.sim.server import SimHttpError, SimRequest, SimRoutes

Contract = SimPerp | SimFuture
C = TypeVar("C", SimPerp, Contract)

VENUE = "deribit"
HOST = "rest"
PREFIX = "/api/v2/public/"
CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR")
KINDS = ("future", "option", "spot", "future_combo", "option_combo")
#: one get_funding_rate_history answer holds at most this many hourly rows (31 days). Deribit's real
#: cap is undocumented: tests lower it (``Faults.page_caps``) to check that dtrack follows a short answer up;
#: past the cap the oldest rows are kept, or the newest (``Faults.newest_past_cap``).
HISTORY_CAP = 744
#: get_order_book ``depth`` values (default 20)
BOOK_DEPTHS = (1, 5, 10, 20, 50, 100, 1000, 10000)
#: get_currencies rows: currency -> (coin_type, currency_long, decimals, network currency, withdrawal fee)
CURRENCY_ROWS = {"BTC": ("BITCOIN", "Bitcoin", 8, "BTC", 0.0001), "ETH": ("ETHER", "Ethereum", 8, "ETH", 0.0006),
                 "USDC": ("USDC", "USD Coin", 6, "ETH", 1.0), "USDT": ("USDT", "Tether USD", 6, "ETH", 1.0),
                 "EURR": ("EURR", "StablR Euro", 6, "ETH", 1.0)}
#: perpetuals never expire; Deribit gives them this far-future expiration (year 3000)
PERPETUAL_EXPIRY_MS = 32_503_708_800_000
#: the first perpetual's listing (BTC-PERPETUAL's creation_timestamp); the others' follow a day apart
PERPETUALS_LISTED_MS = 1_534_167_754_000
TICK_SIZE = {"BTC": 0.5, "ETH": 0.05, "SOL": 0.01}
#: get_tradingview_chart_data resolutions (the docs' list) -> candle length in ms
RESOLUTIONS = {**{str(m): m * 60_000 for m in (1, 3, 5, 10, 15, 30, 60, 120, 180, 360, 720)}, "1D": DAY_MS}
#: candles one chart answer holds at most (Deribit's real cap is undocumented); past it the newest are kept
CHART_CAP = 5000
#: the model's expiry kinds -> Deribit's ``settlement_period`` (Deribit calls quarterlies "month")
SETTLEMENT_PERIODS = {"day": "day", "week": "week", "month": "month", "quarter": "month"}
#: the currencies with DVOL and realized volatility
VOL_CURRENCIES = ("BTC", "ETH")
#: get_volatility_index_data resolutions (seconds, or one day)
VOL_RESOLUTIONS = {"1": 1, "60": 60, "3600": 3600, "43200": 43_200, "1D": 86_400}
#: DVOL candles one answer holds at most (the newest; ``continuation`` then points at the older rest)
VOL_CAP = 1000
#: days of hourly points get_historical_volatility answers (Deribit's depth is undocumented)
HV_DAYS = 16
#: get_last_trades_by_currency: ``count`` default and maximum, and how far back an answer without
#: ``start_timestamp`` looks
TRADES_DEFAULT_COUNT = 10
TRADES_MAX_COUNT = 1000
TRADES_LOOKBACK_MS = 7 * DAY_MS
TRADE_KINDS = (*KINDS, "combo", "any")


def envelope(req: SimRequest | int) -> dict[str, Any]:
    """The usIn / usOut / usDiff / testnet fields of every Deribit answer (``req``: a request or its epoch ms)."""
    us_in = (req if isinstance(req, int) else req.now_ms) * 1000
    return {"usIn": us_in, "usOut": us_in + 150, "usDiff": 150, "testnet": False}


def fault_answer(status: int, now_ms: int) -> SimHttpError:
    """Deribit's answer to a fault meaning HTTP ``status`` (see the module docstring)."""
    code, message = {429: (10028, "too_many_requests"), 418: (10028, "too_many_requests"),
                     451: (13021, "forbidden")}.get(status, (11094, "internal_server_error") if status >= 500
                                                    else (-32602, "Invalid params"))
    return SimHttpError(status, {"jsonrpc": "2.0", "error": {"code": code, "message": message},
                                 **envelope(now_ms)})


def _ok(req: SimRequest, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, **envelope(req)}


def _invalid(req: SimRequest, param: str, reason: str) -> SimHttpError:
    """Deribit's answer to a bad parameter: HTTP 400, JSON-RPC error -32602."""
    error = {"code": -32602, "data": {"reason": reason, "param": param}, "message": "Invalid params"}
    return SimHttpError(400, {"jsonrpc": "2.0", "error": error, **envelope(req)})


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


def _tick(contract: Contract) -> float:
    """A perpetual's or future's price tick (futures: five times the perpetual's)."""
    return TICK_SIZE.get(contract.asset, 0.0001) * (5 if isinstance(contract, SimFuture) else 1)


def _on_tick(price: float, tick: float) -> float:
    return round(max(1, round(price / tick)) * tick, 10)


def _quote_currency(option: SimOption) -> str:
    """Inverse options are quoted in their coin (``BTC``), linear ones in USDC."""
    return option.asset if option.quote == "coin" else "USDC"


def _option_spec(o: SimOption) -> dict[str, Any]:
    """An option's ``get_instruments`` row: the real capture's fields and today's (``instrument_type``,
    ``settlement_currency``, ``price_index``, ``state`` ...)."""
    return {
        "tick_size": o.tick_size, "tick_size_steps": [], "taker_commission": 0.0003, "strike": o.strike,
        "settlement_period": SETTLEMENT_PERIODS[o.period], "settlement_currency": o.settle,
        "quote_currency": _quote_currency(o), "price_index": f"{o.asset.lower()}_usd", "option_type": o.option_type,
        "min_trade_amount": o.min_amount, "maker_commission": 0.0003, "kind": "option", "is_active": True,
        "instrument_name": o.instrument, "instrument_id": 100_000 + zlib.crc32(o.instrument.encode()) % 900_000,
        "instrument_type": "reversed" if o.quote == "coin" else "linear", "expiration_timestamp": o.expiry_ms,
        "creation_timestamp": o.listed_ms, "counter_currency": "USD", "contract_size": o.contract_size,
        "block_trade_tick_size": 0.0001, "block_trade_min_trade_amount": 25, "block_trade_commission": 0.00015,
        "base_currency": o.asset, "state": "open",
    }


def _option_stats(q: SimOptionQuote) -> dict[str, float | None]:
    """The 24 h trade statistics of an option: the last price (the mark on the tick), high and low around it
    and the change in percent; all null when nothing traded."""
    if q.volume_24h <= 0:
        return {"last": None, "high": None, "low": None, "price_change": None}
    tick = q.option.tick_size
    last = _on_tick(q.mark_price, tick)
    low = last if q.bid_price is None else min(last, _on_tick(q.bid_price, tick))
    high = max(last, _on_tick(q.ask_price, tick))
    return {"last": last, "high": high, "low": low, "price_change": round(100.0 * (last / low - 1.0), 4)}


def _rho(q: SimOptionQuote) -> float:
    """Black-Scholes rho in USD per rate point at the mark IV (the model's rate is 0; Deribit still shows it)."""
    sd = q.mark_iv * math.sqrt(q.years)
    d2 = math.log(q.underlying_price / q.option.strike) / sd - 0.5 * sd
    n2 = 0.5 * math.erfc(-d2 / math.sqrt(2.0)) if q.option.is_call else -0.5 * math.erfc(d2 / math.sqrt(2.0))
    return q.option.strike * q.years * n2 / 100.0


def _trade_row(t: OptionTrade) -> dict[str, Any]:
    """A ``get_last_trades_by_currency`` row: ``amount`` in coins, ``contracts`` in contracts, ``price`` and
    ``mark_price`` in the quote currency per coin, ``iv`` in percent; blocks carry ``block_trade_id``."""
    buy = t.direction == "buy"
    row: dict[str, Any] = {
        "trade_seq": int(t.trade_id) // 100, "trade_id": t.trade_id, "timestamp": t.ts_ms,
        "tick_direction": 0 if buy else 2, "price": t.price, "mark_price": t.mark_price, "iv": t.iv,
        "instrument_name": t.instrument, "index_price": t.index_price, "direction": t.direction,
        "amount": t.amount * t.option.contract_size, "contracts": t.amount,
    }
    if t.block_trade_id is not None:
        row |= {"block_trade_id": t.block_trade_id, "block_trade_leg_count": 1}
    return row


def _chunks(start: int, end: int, *, newest_first: bool, step: int = HOUR_MS) -> Iterator[tuple[int, int]]:
    """``[start, end]`` cut into closed windows of ``step`` (the last may be shorter), newest first or oldest
    first: a page of trades is found without walking the whole window."""
    if start > end:
        return
    if newest_first:
        hi = end
        while hi >= start:
            yield max(start, hi - step + 1), hi
            hi -= step
    else:
        lo = start
        while lo <= end:
            yield lo, min(end, lo + step - 1)
            lo += step


class DeribitSim:
    """The simulated Deribit endpoints over one market model."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self.options = OptionsModel(model)
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

    def _listed(self, req: SimRequest, *, allow_any: bool) -> tuple[list[Contract], list[SimOption]]:
        """The contracts and the options matching the ``currency`` (settlement currency; optional where
        ``allow_any``: absent is "any") and ``kind`` parameters (no kind: every kind)."""
        if allow_any:
            currency = _choice(req, "currency", (*CURRENCIES, "any"), required=False) or "any"
        else:
            currency = _required(req, "currency", CURRENCIES)
        kind = _choice(req, "kind", KINDS, required=False)
        contracts = [c for c in self.contracts(req.now_ms).values() if currency in ("any", _settle(c))] \
            if kind in (None, "future") else []
        options = [o for m in self.options.markets(VENUE) if currency in ("any", m.settle)
                   for o in self.options.listed(VENUE, m.asset, req.now_ms)] if kind in (None, "option") else []
        return contracts, options  # no spot or combos in the simulated market

    # --- public/get_instruments ---------------------------------------------------------------

    def instruments(self, req: SimRequest) -> dict[str, Any]:
        """``get_instruments?[currency=][&kind=][&expired=]``: the specs of the perpetuals, futures and options
        (every currency when ``currency`` is absent)."""
        expired = req.query.get("expired", "false")
        contracts, options = self._listed(req, allow_any=True)
        if expired == "true":
            return _ok(req, [])
        return _ok(req, [self._spec(c, i) for i, c in enumerate(contracts)] + [_option_spec(o) for o in options])

    def _spec(self, contract: Contract, i: int) -> dict[str, Any]:
        inverse = contract.margin == "inverse"
        if isinstance(contract, SimFuture):  # listed some weeks before expiry, ids after the perpetuals'
            period, expiry = _settlement_period(contract), contract.expiry_ms
            created, instrument_id = expiry - (28 if period == "week" else 91) * DAY_MS, 300_000 + i
        else:
            period, expiry = "perpetual", PERPETUAL_EXPIRY_MS
            created, instrument_id = PERPETUALS_LISTED_MS + i * DAY_MS, 124_972 + i
        return {
            "tick_size": _tick(contract),
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

    def currencies(self, req: SimRequest) -> dict[str, Any]:
        """``get_currencies``: the currencies Deribit settles in, with their deposit/withdrawal terms."""
        rows = []
        for currency, (coin_type, long, decimals, network, fee) in CURRENCY_ROWS.items():
            rows.append({"coin_type": coin_type, "currency": currency, "currency_long": long,
                         "fee_precision": 4, "min_confirmations": 1 if currency == "BTC" else 4,
                         "min_withdrawal_fee": fee, "withdrawal_fee": fee, "withdrawal_priorities": [],
                         "decimals": decimals, "in_cross_collateral_pool": True, "network_fee": fee,
                         "network_currency": network})
        return _ok(req, rows)

    def book_summary_by_instrument(self, req: SimRequest) -> dict[str, Any]:
        """``get_book_summary_by_instrument?instrument_name=``: the one row its currency's summary has."""
        option = self.options.find(VENUE, req.query.get("instrument_name", ""), req.now_ms)
        if option is not None:
            return _ok(req, [self._option_summary_row(self.options.quote(option, req.now_ms))])
        return _ok(req, [self._summary_row(self._named(req, self.contracts(req.now_ms)), req.now_ms)])

    def order_book(self, req: SimRequest) -> dict[str, Any]:
        """``get_order_book?instrument_name=[&depth=]``: the book (``depth`` levels a side, default 20) with the
        ticker's fields; best bid and ask from the book."""
        depth = _integer(req, "depth") if "depth" in req.query else 20
        if depth not in BOOK_DEPTHS:
            raise _invalid(req, "depth", f"must be one of {', '.join(map(str, BOOK_DEPTHS))}")
        option = self.options.find(VENUE, req.query.get("instrument_name", ""), req.now_ms)
        if option is not None:
            q = self.options.quote(option, req.now_ms)
            ticker = self._option_ticker(q)
            size = option.contract_size
            bids = [[q.bid_price, q.bid_size * size]] if q.bid_price is not None else []
            asks = [[q.ask_price, q.ask_size * size]]
        else:
            contract = self._named(req, self.contracts(req.now_ms))
            ticker = self.ticker(req)["result"]
            tick, size = _tick(contract), contract.contract_size
            raw_bids, raw_asks = self.model.book(contract, req.now_ms, depth, tick)

            def amount(price: float, base: float) -> float:
                held = base * price if contract.margin == "inverse" else base  # USD or coins
                return round(max(1, round(held / size)) * size, 10)

            bids = [[p, amount(p, b)] for p, b in raw_bids]
            asks = [[p, amount(p, b)] for p, b in raw_asks]
        best = {"best_bid_price": bids[0][0] if bids else 0.0, "best_bid_amount": bids[0][1] if bids else 0.0,
                "best_ask_price": asks[0][0] if asks else 0.0, "best_ask_amount": asks[0][1] if asks else 0.0}
        return _ok(req, {**ticker, **best, "change_id": req.now_ms // 10, "bids": bids, "asks": asks})

    def book_summary(self, req: SimRequest) -> dict[str, Any]:
        """``get_book_summary_by_currency?currency=&kind=``: one row per listed perpetual, future and option."""
        contracts, options = self._listed(req, allow_any=False)
        rows = [self._summary_row(c, req.now_ms) for c in contracts]
        if options:
            assets = {o.asset for o in options}
            quotes = [q for a in sorted(assets) for q in self.options.chain(VENUE, a, req.now_ms)]
            rows += [self._option_summary_row(q) for q in quotes]
        return _ok(req, rows)

    def _underlying_index(self, option: SimOption, now: int) -> str:
        """The future an option's expiry prices against (``BTC-25DEC26``), or Deribit's synthetic one
        (``SYN.BTC-20NOV26``) when no future expires with it."""
        future = f"{option.asset}-{cal.dmy(option.expiry_ms)}"
        listed = {f.symbol for f in self.model.futures(VENUE, now, HOST)}
        return future if future in listed else f"SYN.{future}"

    def _option_summary_row(self, q: SimOptionQuote) -> dict[str, Any]:
        """An option's book-summary row: prices in the quote currency, IV in percent, OI and volume in coins;
        no trade in 24 h: null ``last``, ``high``, ``low``, ``price_change``; no bid: null ``bid_price``."""
        o = q.option
        stats = _option_stats(q)
        volume = q.volume_24h * o.contract_size
        return {
            "volume_usd": volume * q.mark_price_usd, "volume": volume, "underlying_price": q.underlying_price,
            "underlying_index": self._underlying_index(o, q.ts_ms), "quote_currency": _quote_currency(o),
            "price_change": stats["price_change"], "open_interest": q.open_interest * o.contract_size,
            "mid_price": None if q.bid_price is None else (q.bid_price + q.ask_price) / 2,
            "mark_price": q.mark_price, "mark_iv": 100.0 * q.mark_iv, "low": stats["low"], "last": stats["last"],
            "interest_rate": 0.0, "instrument_name": o.instrument, "high": stats["high"],
            "estimated_delivery_price": q.index_price, "creation_timestamp": q.ts_ms, "bid_price": q.bid_price,
            "base_currency": o.asset, "ask_price": q.ask_price,
        }

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
        """``ticker?instrument_name=``: one perpetual's, future's or option's ticker."""
        option = self.options.find(VENUE, req.query.get("instrument_name", ""), req.now_ms)
        if option is not None:
            return _ok(req, self._option_ticker(self.options.quote(option, req.now_ms)))
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

    def _option_ticker(self, q: SimOptionQuote) -> dict[str, Any]:
        """An option's ticker: the book-summary numbers plus greeks (Deribit's units: delta, gamma per USD, vega
        USD per vol point, theta USD per day, rho USD per rate point), bid/ask IV and the best book levels (0
        for an empty side)."""
        o = q.option
        stats = _option_stats(q)
        volume = q.volume_24h * o.contract_size
        tick = o.tick_size
        return {
            "underlying_price": q.underlying_price, "underlying_index": self._underlying_index(o, q.ts_ms),
            "timestamp": q.ts_ms,
            "stats": {"volume": volume, "volume_usd": volume * q.mark_price_usd,
                      "price_change": stats["price_change"], "low": stats["low"], "high": stats["high"]},
            "state": "open", "settlement_price": q.mark_price, "open_interest": q.open_interest * o.contract_size,
            "min_price": tick, "max_price": _on_tick(max(2.0 * q.ask_price, q.mark_price + 0.01), tick),
            "mark_price": q.mark_price, "mark_iv": 100.0 * q.mark_iv, "last_price": stats["last"],
            "interest_rate": 0.0, "instrument_name": o.instrument, "index_price": q.index_price,
            "greeks": {"vega": q.vega, "theta": q.theta, "rho": _rho(q), "gamma": q.gamma, "delta": q.delta},
            "estimated_delivery_price": q.index_price,
            "bid_iv": 0.0 if q.bid_iv is None else 100.0 * q.bid_iv, "best_bid_price": q.bid_price or 0.0,
            "best_bid_amount": q.bid_size * o.contract_size, "best_ask_price": q.ask_price,
            "best_ask_amount": q.ask_size * o.contract_size, "ask_iv": 100.0 * q.ask_iv,
        }

    # --- public/get_last_trades_by_currency -------------------------------------------------------

    def last_trades(self, req: SimRequest) -> dict[str, Any]:
        """``get_last_trades_by_currency?currency=&kind=&start_timestamp=&end_timestamp=&count=&sorting=``:
        option trades of the currency with start <= time <= end (and <= now), the newest ``count``
        (``sorting=desc`` or ``default``, newest first) or the oldest (``asc``), ``has_more`` when the window
        holds more. Without ``start_timestamp`` the window opens ``TRADES_LOOKBACK_MS`` before its end."""
        currency = _required(req, "currency", CURRENCIES)
        kind = _choice(req, "kind", TRADE_KINDS, required=False) or "any"
        sorting = _choice(req, "sorting", ("asc", "desc", "default"), required=False) or "default"
        count = _integer(req, "count") if "count" in req.query else TRADES_DEFAULT_COUNT
        if not 1 <= count <= TRADES_MAX_COUNT:
            raise _invalid(req, "count", f"must be between 1 and {TRADES_MAX_COUNT}")
        end = min(_integer(req, "end_timestamp") if "end_timestamp" in req.query else req.now_ms, req.now_ms)
        start = _integer(req, "start_timestamp") if "start_timestamp" in req.query else end - TRADES_LOOKBACK_MS
        assets = [m.asset for m in self.options.markets(VENUE) if m.settle == currency] \
            if kind in ("option", "any") else []  # the simulated market has option trades only
        picked: list[OptionTrade] = []
        for chunk in _chunks(start, end, newest_first=sorting != "asc"):
            found = [t for a in assets for t in self.options.trades(VENUE, a, *chunk)]
            picked += sorted(found, key=lambda t: (t.ts_ms, t.trade_id), reverse=sorting != "asc")
            if len(picked) > count:
                break
        return _ok(req, {"trades": [_trade_row(t) for t in picked[:count]], "has_more": len(picked) > count})

    # --- public/get_volatility_index_data, public/get_historical_volatility ------------------------

    def vol_index(self, req: SimRequest) -> dict[str, Any]:
        """DVOL candles ``[ts, open, high, low, close]`` (percent points) opening in ``[start, min(end, now)]``,
        ascending; past ``VOL_CAP`` (or its ``Faults.page_caps`` cap) the newest, with ``continuation`` = the open of
        the candle before them (the ``end_timestamp`` of the request for the rest), else null."""
        currency = _required(req, "currency", VOL_CURRENCIES)
        start, end = _integer(req, "start_timestamp"), _integer(req, "end_timestamp")
        step = VOL_RESOLUTIONS[_required(req, "resolution", tuple(VOL_RESOLUTIONS))] * 1000
        first, last = -(-start // step) * step, min(end, req.now_ms) // step * step
        continuation = None
        cap = req.faults.page_cap(VENUE, req.path, VOL_CAP)
        if (last - first) // step + 1 > cap:
            first = last - (cap - 1) * step
            continuation = first - step
        candles = self.options.dvol_candles(currency, first, end, step // 1000) if first <= last else []
        return _ok(req, {"data": [list(c) for c in candles], "continuation": continuation})

    def historical_volatility(self, req: SimRequest) -> dict[str, Any]:
        """``get_historical_volatility?currency=``: ``[[hour ms, percent], ...]`` over the last ``HV_DAYS`` days."""
        currency = _required(req, "currency", VOL_CURRENCIES)
        points = self.options.historical_volatility(currency, req.now_ms - HV_DAYS * DAY_MS, req.now_ms)
        return _ok(req, [[t, v] for t, v in points])

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
        cap = req.faults.page_cap(VENUE, req.path, CHART_CAP)
        ticks = range(-(-start // length) * length, min(end, req.now_ms) + 1, length)[-cap:]
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
        oldest rows are kept, or the newest with ``Faults.newest_past_cap`` (the cap: ``Faults.page_caps``).
        """
        perp = self._perp(req)
        start, end = _integer(req, "start_timestamp"), _integer(req, "end_timestamp")
        first = (start // HOUR_MS + 1) * HOUR_MS
        last = min(end, req.now_ms) // HOUR_MS * HOUR_MS
        hours = range(first, last + 1, HOUR_MS)
        cap = req.faults.page_cap(VENUE, req.path, HISTORY_CAP)
        kept = hours[-cap:] if req.faults.keeps_newest(VENUE, req.path) else hours[:cap]
        return _ok(req, [self._history_row(perp, h) for h in kept])

    def funding_value(self, req: SimRequest) -> dict[str, Any]:
        """``get_funding_rate_value?instrument_name=&start_timestamp=&end_timestamp=``: funding accrued over the
        window, the sum of ``interest_1h`` of the whole hours H with start < H <= end (and H <= now); nothing accrued
        before the perpetuals were listed (2018-08-13, BTC-PERPETUAL's ``creation_timestamp``)."""
        perp = self._perp(req)
        start, end = max(_integer(req, "start_timestamp"), PERPETUALS_LISTED_MS), _integer(req, "end_timestamp")
        hours = range((start // HOUR_MS + 1) * HOUR_MS, min(end, req.now_ms) // HOUR_MS * HOUR_MS + 1, HOUR_MS)
        return _ok(req, sum(self.interest_1h(perp, h) for h in hours))

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
        "get_currencies": sim.currencies,
        "get_instruments": sim.instruments,
        "get_book_summary_by_instrument": sim.book_summary_by_instrument,
        "get_order_book": sim.order_book,
        "get_funding_rate_value": sim.funding_value,
        "get_book_summary_by_currency": sim.book_summary,
        "ticker": sim.ticker,
        "get_funding_rate_history": sim.funding_history,
        "get_index_price": sim.index_price,
        "get_tradingview_chart_data": sim.chart,
        "get_last_trades_by_currency": sim.last_trades,
        "get_volatility_index_data": sim.vol_index,
        "get_historical_volatility": sim.historical_volatility,
    }
    for method, handler in handlers.items():
        routes.add(VENUE, HOST, "GET", PREFIX + method, handler)
    routes.on_error(VENUE, fault_answer)
