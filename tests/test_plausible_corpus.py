"""No plausibility rule refuses a real payload: every parser that reads a payload of ``tests/payloads`` runs on it
(every case), received just after the latest time the answer carries, and nothing is ``Implausible``.

A rule that refused a real answer would drop real data; this is the corpus-wide check that the bounds of
``dtrack.venues.plausible`` (funding caps, the 5 % backstop, the time window, the 5-year expiry horizon, the
intrinsic-value floor of option marks) sit outside everything the venues have really sent. Each payload is
read by the parsers dtrack has for its endpoint, with the instruments of the real listings where a parser needs
one; a payload no dtrack parser reads is listed in ``UNREAD`` with the reason, and every payload is one or the
other. The shared corpus (``../shared/exchange-payloads``) is not read by any test any more: the payloads dtrack
parses are copied here (PROVENANCE.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import PAYLOADS, load_payload
from dtrack.errors import DtrackError, Implausible
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.binance import api as binance_api
from dtrack.venues.binance import parse as binance
from dtrack.venues.bybit import parse as bybit
from dtrack.venues.deribit import parse as deribit
from dtrack.venues.dydx import parse as dydx
from dtrack.venues.fields import MAX_MS, MIN_MS, Listing, Reader, ms_to_utc
from dtrack.venues.hyperliquid import parse as hyperliquid
from dtrack.venues.okx import parse as okx

#: when an answer that carries no time at all was "received" (no time rule can apply to it then)
UNDATED = datetime(2026, 12, 1, tzinfo=UTC)
#: the fields that stamp an answer (or a row of it) with the venue's time, epoch ms (Deribit's ``usOut`` is µs)
TIME_KEYS = frozenset({"time", "ts", "timestamp", "creation_timestamp", "T", "serverTime"})

#: What a reading yields: the records (or rows) it read, and the errors that did not stop it.
Outcome = tuple[Sequence[Any], Sequence[DtrackError]]
Reading = Callable[[Any, datetime], Outcome]


def _times(doc: Any) -> Iterator[float]:
    """Every epoch-ms venue time in ``doc`` (numbers or numeric strings under ``TIME_KEYS``; ``usOut`` in µs)."""
    if isinstance(doc, list):
        for item in doc:
            yield from _times(item)
    elif isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(value, dict | list):
                yield from _times(value)
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if key == "usOut":
                number /= 1000.0
            elif key not in TIME_KEYS:
                continue
            if MIN_MS <= number <= MAX_MS:
                yield number


def received_at(case: Mapping[str, Any]) -> datetime:
    """When a case was received: the capture's own ``recv_ts`` (websocket captures), else 5 s after the latest
    venue time in the answer, else ``UNDATED``."""
    given = case.get("input")
    if isinstance(given, dict) and given.get("recv_ts"):
        return datetime.fromtimestamp(float(given["recv_ts"]), UTC)
    latest = max(_times(case["raw"]), default=None)
    return UNDATED if latest is None else ms_to_utc(latest + 5_000)


def raws(name: str) -> list[Any]:
    return [case["raw"] for case in load_payload(name)["cases"]]


def within_horizon(listing: Listing, received: datetime) -> Outcome:
    """A listing's instruments, each expiry checked against the 5-year horizon (what every record of it meets)."""
    for inst in listing.instruments:
        plausible.Rules(inst.venue, "listing", inst.symbol).expiry(inst.expiry, received)
    return listing.instruments, ()


# --- instruments of the real listings ---------------------------------------------------------------------------


def binance_listing(host: str) -> dict[str, Instrument]:
    name = f"binance-{host}__rest_exchangeInfo__capture.json"
    return {i.symbol: i for i in binance.parse_exchange_info(raws(name)[0], host).instruments}


def bybit_contract(symbol: str, category: str, kind: Kind = Kind.PERP, expiry: datetime | None = None) -> Instrument:
    """A Bybit contract as instruments-info would list it (the corpus lists BTCUSDT only: the unit rule is all
    the parsers take from it). ``BTC-26DEC25`` (no quote in the name) is a USDC future."""
    stem = symbol.split("-")[0]
    quote = next((q for q in ("USDT", "USDC", "USD", "PERP") if stem.endswith(q) and stem != q), "")
    asset, multiplier = split_multiplier(stem.removesuffix(quote) if quote else stem)
    quote = quote or "USDC"
    inverse = category == "inverse"
    return Instrument(venue="bybit", symbol=symbol, asset=asset,
                      quote="USD" if inverse else quote.replace("PERP", "USDC"), settle=asset if inverse else "USDT",
                      kind=kind,
                      margin=Margin.INVERSE if inverse else Margin.LINEAR, multiplier=multiplier, contract_size=1.0,
                      contract_unit=Unit.USD if inverse else Unit.BASE, expiry=expiry, market=category)


def deribit_listing() -> dict[str, Instrument]:
    return {i.symbol: i for raw in raws("deribit__rest_get_instruments__capture.json")
            for i in deribit.parse_instruments(raw).instruments}


def deribit_option_specs() -> dict[str, deribit.DeribitOptionSpec]:
    return {s.symbol: s for raw in raws("deribit__rest_get_instruments__capture.json")
            for s in deribit.parse_option_instruments(raw).specs.values()}


def okx_listing() -> dict[str, Instrument]:
    return {i.symbol: i for raw in raws("okx__rest_public_instruments__capture.json")[:2]
            for i in okx.parse_instruments(raw).instruments}


# --- readings per payload ----------------------------------------------------------------------------------------


def _binance_premium(host: str, funding_info: str) -> Reading:
    def read(raw: Any, received: datetime) -> Outcome:
        listed = binance_listing(host)
        # the docs' delivery row BTCUSD_200925 has no spec in the 2021 capture: the September one's, re-dated
        listed.setdefault("BTCUSD_200925", replace(listed.get("BTCUSD_210924", next(iter(listed.values()))),
                                                   symbol="BTCUSD_200925", expiry=datetime(2020, 9, 25, 8, tzinfo=UTC)))
        intervals = binance.parse_funding_intervals(raws(funding_info)[0], host)
        table = binance.parse_premium_index(raw, host)
        out: list[Any] = []
        for symbol, row in table.rows.items():
            inst = listed[symbol]
            out.append(binance.price_quote(inst, row, None, received))
            if row.rate is not None and inst.kind is Kind.PERP:
                out.append(binance.funding_rate(inst, row, intervals, None, received))
        return out, list(table.bad.values())
    return read


def _binance_funding_info(host: str) -> Reading:
    def read(raw: Any, _received: datetime) -> Outcome:
        table = binance.parse_funding_intervals(raw, host)
        assert table.caps, "fundingInfo states each symbol's cap"
        return list(table.rows.items()), list(table.bad.values())
    return read


def _binance_block_trades(raw: Any, received: datetime) -> Outcome:
    # the rows carry no index; any positive index serves the rules (only index > 0 is checked of it)
    listing = binance.OptionListing({row["symbol"]: binance.option_of_symbol(row["symbol"], 1.0, "corpus")
                                     for row in raw})
    out: list[Any] = []
    errors: list[DtrackError] = []
    for asset in sorted({o.asset for o in listing.options.values()}):
        trades, failed = binance.parse_block_trades(raw, asset, listing, 1.0, datetime(2010, 1, 1, tzinfo=UTC),
                                                    received, received)
        out += trades
        errors += failed
    return out, errors


def _binance_marks(index: float | None) -> Reading:
    def read(raw: Any, received: datetime) -> Outcome:
        table = binance.parse_option_marks(raw)
        out: list[Any] = list(table.rows.values())
        if index is not None:  # the index the capture's own test states (the mark answer carries none)
            for symbol, mark in table.rows.items():
                option = binance.option_of_symbol(symbol, 1.0, "corpus")
                out.append(binance.option_quote(option, binance.IndexPrice(index, None), mark, None, None, received))
        return out, list(table.bad.values())
    return read


def _binance_option_tickers(raw: Any, _received: datetime) -> Outcome:
    table = binance.parse_option_tickers(raw)
    return list(table.rows.values()), list(table.bad.values())


def _binance_klines(raw: Any, _received: datetime) -> Outcome:
    return binance.parse_klines(raw, "usdm"), ()


def _binance_candles(raw: Any, received: datetime) -> Outcome:
    """ccxt's kline answers read by the candle parser: ``/fapi`` as USDⓈ-M BTCUSDT's, the COIN-M index-price rows
    (``/dapi``, the same row shape, volumes "0") as BTCUSD_PERP's, the spot ``/api/v3`` rows (the same shape; dtrack
    asks no spot candle) as USDⓈ-M BTCUSDT's."""
    query = asked("binance__ccxt_fetchOHLCV.json", raw)
    host, symbol = ("coinm", "BTCUSD_PERP") if query["path"].startswith("/dapi/") else ("usdm", "BTCUSDT")
    period = {name: seconds for seconds, name in binance_api.KLINE_INTERVALS.items()}[query["interval"]]
    return binance.parse_candles(raw, binance_listing(host)[symbol], period, received), ()


def _binance_oi_history(raw: Any, received: datetime) -> Outcome:
    return binance.parse_oi_history(raw, binance_listing("usdm")["BTCUSDT"], {"symbol": "BTCUSDT"}, received), ()


def _bybit_linear_tickers(raw: Any, received: datetime) -> Outcome:
    rows = raw["result"]["list"]
    category = raw["result"]["category"]
    wanted = {row["symbol"]: bybit_contract(row["symbol"], category) for row in rows}
    intervals = {s: 8.0 for s in wanted}  # rows without fundingIntervalHour (2024): instruments-info's 480 min
    return _bybit_ticker_rows(raw, wanted, received, intervals)


def _bybit_ticker_rows(raw: Any, wanted: dict[str, Any], received: datetime,
                       intervals: dict[str, float] | None) -> Outcome:
    """Funding, open interest and quotes read from one Bybit tickers answer."""
    errors: list[DtrackError] = []
    out: list[Any] = list(bybit.parse_tickers(raw, wanted, received, intervals, errors))
    for read in (bybit.parse_open_interest, bybit.parse_quotes):
        items, failed = read(raw, wanted, received)
        out += items
        errors += failed
    return out, errors


def _binance_ws_mark(raw: Any, received: datetime) -> Outcome:
    """A ``<symbol>@markPrice`` update, read by the stream parser in the ``!markPrice@arr@1s`` envelope (the same
    updates), with Binance's default 8 h interval as the REST side would give it."""
    from dtrack.records import DataKind, FundingRate
    from dtrack.venues.binance.stream import CHANNEL, MarkPriceStream

    inst = binance_listing("usdm")[raw["s"]]
    terms = {inst.symbol: FundingRate(instrument=inst, rate=0.0, interval_hours=8.0, interval_source="default",
                                      time=None, received_at=received)}
    stream = MarkPriceStream("usdm", [inst], terms, frozenset({DataKind.FUNDING, DataKind.QUOTES}))
    frame = stream.handle(json.dumps({"stream": CHANNEL, "data": [raw]}), received)
    return list(frame.records), list(frame.dropped)


def _bybit_ws(raw: Any, received: datetime) -> Outcome:
    """A websocket ticker snapshot, read as the REST tickers row it mirrors (same field names)."""
    data, topic = raw["data"], raw["topic"]
    symbol = data["symbol"]
    if "-" in symbol and symbol.count("-") >= 3:  # an option (BTC-6JAN23-17500-C)
        body = {"result": {"category": "option", "list": [data]}, "time": raw["ts"]}
        return bybit.parse_option_chain(body, symbol.split("-")[0], {}, received)
    if "lastPrice" in data and "markPrice" not in data:  # spot
        return bybit.parse_spot({"result": {"category": "spot", "list": [data]}, "time": raw["ts"]},
                                [symbol.removesuffix("USDT")], received)
    future = "-" in symbol
    inst = bybit_contract(symbol, "linear", Kind.FUTURE if future else Kind.PERP,
                          datetime.fromisoformat(data["deliveryTime"]) if future else None)
    body = {"result": {"category": "linear", "list": [data]}, "time": raw.get("ts")}
    assert topic == f"tickers.{symbol}"
    errors: list[DtrackError] = []
    out: list[Any] = [] if future else list(bybit.parse_tickers(body, {symbol: inst}, received, None, errors))
    for read in (bybit.parse_open_interest, bybit.parse_quotes):
        items, failed = read(body, {symbol: inst}, received)
        out += items
        errors += failed
    return out, errors


def _bybit_tickers_docs(raw: Any, received: datetime) -> Outcome:
    category = raw["result"]["category"]
    if category == "option":
        return bybit.parse_option_chain(raw, "BTC", {}, received)
    if category == "spot":
        return bybit.parse_spot(raw, ["BTC"], received)
    wanted = {row["symbol"]: bybit_contract(row["symbol"], category) for row in raw["result"]["list"]}
    return _bybit_ticker_rows(raw, wanted, received, None)


def _bybit_instruments(raw: Any, received: datetime) -> Outcome:
    if raw["result"]["category"] == "option":
        page = bybit.parse_option_instruments_page(raw)
        for terms in page.terms.values():
            plausible.Rules("bybit", "instruments-info", terms.symbol).expiry(terms.expiry, received)
        return list(page.terms.values()), [bybit.reader("instruments-info").fail(b) for b in page.broken]
    listing = bybit.parse_instruments_page(raw).listing
    return within_horizon(listing, received)[0], ()


def _bybit_oi_history(raw: Any, _received: datetime) -> Outcome:
    return bybit.parse_oi_history(raw, raw["result"]["symbol"]), ()


def _deribit_book_summary(raw: Any, received: datetime) -> Outcome:
    """The docs' book summary holds one option row (ETH-22FEB19-140-P), which no listing of the corpus holds:
    its terms are read from its name."""
    specs: dict[str, deribit.DeribitOptionSpec] = {}
    for row in raw["result"]:
        name = deribit.option_name(row["instrument_name"])
        assert name is not None
        specs[row["instrument_name"]] = deribit.DeribitOptionSpec(
            row["instrument_name"], name.asset, name.expiry, name.strike, name.is_call, 1.0, settle=name.asset,
            quote=name.quote)
    rows = deribit.parse_option_summary(raw, "ETH", specs, None, received)
    return rows.quotes, rows.errors


def _deribit_ticker(raw: Any, received: datetime) -> Outcome:
    inst = deribit_listing()[raw["result"]["instrument_name"]]
    return [deribit.parse_ticker(raw, inst, received)], ()


def _deribit_ws_ticker(raw: Any, received: datetime) -> Outcome:
    data = raw["params"]["data"]
    return [deribit.option_ticker_quote(data, deribit_option_specs()[data["instrument_name"]], received)], ()


def _deribit_trades(raw: Any, received: datetime) -> Outcome:
    page = deribit.parse_option_trades(raw, "BTC", received)
    return page.trades, page.errors


def _at(read: Callable[[Instrument, Any, datetime], Any], received: datetime, inst: Instrument, row: Any) -> Any:
    return read(inst, row, received)


def _dydx_markets(raw: Any, received: datetime) -> Outcome:
    listing = dydx.parse_listing(raw)
    errors: list[DtrackError] = []
    out: list[Any] = []
    reads: tuple[Callable[[Instrument, Any, datetime], Any], ...] = (
        dydx.funding_rate, dydx.open_interest, dydx.margin_tier)
    for read in reads:
        items, missing = dydx.per_market(raw, listing.instruments, partial(_at, read, received), errors)
        assert missing == []
        out += items
    return out, errors


def _dydx_candles(raw: Any, _received: datetime) -> Outcome:
    first = raw["candles"][0]
    return dydx.parse_candles(raw, first["ticker"], first["resolution"]), ()


def _hl_ctxs(raw: Any, received: datetime) -> Outcome:
    # every context, HIP-3 ``dex:COIN`` ones too (dtrack lists only the main DEX, but reads any asked context)
    instruments = [hyperliquid.instrument(u["name"]) for u in raw[0]["universe"]]
    errors: list[DtrackError] = []
    out: list[Any] = []
    for read in (lambda: hyperliquid.funding_rates(raw, instruments, {}, received, errors),
                 lambda: hyperliquid.open_interests(raw, instruments, received, errors),
                 lambda: hyperliquid.price_quotes(raw, instruments, received, errors)):
        items, missing = read()
        assert missing == []
        out += items
    for inst in instruments:  # each perp's margin tiers, from the universe entry's marginTableId
        out += hyperliquid.margin_tiers(raw[0], inst, received)
    return out, errors


def _hl_predicted(raw: Any, _received: datetime) -> Outcome:
    coins = {entry[0] for entry in raw}
    predicted = hyperliquid.parse_predicted(raw, coins)
    for coin, p in predicted.items():  # what ``funding_rate`` holds a prediction to
        cap = hyperliquid.funding_cap(p.interval_hours or 1.0)
        plausible.Rules("hyperliquid", "predictedFundings", coin).funding("predicted_rate", p.rate, cap)
    return list(predicted.values()), ()


def _hl_candles(raw: Any, _received: datetime) -> Outcome:
    return hyperliquid.parse_candles(raw, raw[0]["s"], raw[0]["i"]), ()


def _okx_oi(raw: Any, received: datetime) -> Outcome:
    listed = okx_listing()
    ids = {row["instId"] for row in raw["data"]}
    rows = okx.parse_open_interest(raw, ids)
    out: list[Any] = []
    for inst_id, row in rows.items():
        inst = listed.get(inst_id) or _okx_swap(inst_id)
        out.append(okx.open_interest(inst, row, None, received))
    return out, ()


def _okx_swap(inst_id: str) -> Instrument:
    """An OKX linear USDT swap of 0.01 coin (BTC-USDT-SWAP's terms; the 2022 capture lists coin-margined swaps)."""
    asset = inst_id.split("-")[0]
    return Instrument(venue="okx", symbol=inst_id, asset=asset, quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, contract_size=0.01, contract_unit=Unit.BASE, market="SWAP")


def _okx_tickers(raw: Any, received: datetime) -> Outcome:
    listed = okx_listing()
    out: list[Any] = []
    for inst_id, ticker in okx.parse_tickers(raw, {row["instId"] for row in raw["data"]}).items():
        if inst_id.count("-") == 1:  # a spot pair
            out.append(okx.spot_price(inst_id.split("-")[0], ticker, received))
        else:
            inst = listed.get(inst_id) or replace(_okx_swap(inst_id), quote=inst_id.split("-")[1])
            out.append(okx.price_quote(inst, received, None, None, ticker.last))
    return out, ()


def _okx_instruments(raw: Any, received: datetime) -> Outcome:
    if raw["data"][0]["instType"] == "OPTION":
        listing = okx.parse_option_instruments(raw)
        for spec in listing.specs.values():
            plausible.Rules("okx", "instruments", spec.symbol).expiry(spec.expiry, received)
        return list(listing.specs.values()), [Reader("okx", "instruments").fail(b) for b in listing.broken]
    return within_horizon(okx.parse_instruments(raw), received)


def _liquidations(frame: Callable[[Any], tuple[Any, str]]) -> Reading:
    """A liquidation payload read by its venue's stream parser (``frame``: the protocol and the frame text)."""
    def read(raw: Any, received: datetime) -> Outcome:
        protocol, text = frame(raw)
        handled = protocol.handle(text, received)
        return list(handled.records), list(handled.dropped)
    return read


def _force_order(host: str) -> Callable[[Any], tuple[Any, str]]:
    def frame(raw: Any) -> tuple[Any, str]:
        from dtrack.records import DataKind
        from dtrack.venues.binance.stream import FORCE_ORDER, MarkPriceStream

        listed = binance_listing(host)
        if "BTCUSD_210924" in listed:  # the COIN-M docs' BTCUSD_200925 is not in the 2021 capture: the September
            listed["BTCUSD_200925"] = replace(listed["BTCUSD_210924"], symbol="BTCUSD_200925",  # one's, re-dated
                                              expiry=datetime(2020, 9, 25, 8, tzinfo=UTC))
        stream = MarkPriceStream(host, [listed[raw["o"]["s"]]], {}, frozenset({DataKind.LIQUIDATIONS}))
        return stream, json.dumps({"stream": FORCE_ORDER, "data": raw})
    return frame


def _bybit_liquidation(raw: Any) -> tuple[Any, str]:
    from dtrack.records import DataKind
    from dtrack.venues.bybit.stream import TickerStream

    inst = bybit_contract(raw["data"][0]["s"], "linear")
    return TickerStream("linear", [inst], {}, frozenset({DataKind.LIQUIDATIONS})), json.dumps(raw)


def _okx_liquidation(raw: Any) -> tuple[Any, str]:
    from dtrack.records import DataKind
    from dtrack.venues.okx.stream import PublicStream

    inst = okx_listing()[raw["data"][0]["instId"]]
    return PublicStream([inst], frozenset({DataKind.LIQUIDATIONS})), json.dumps(raw)


def _deribit_liquidation(symbol: str, rows: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, str]]:
    def frame(raw: Any) -> tuple[Any, str]:
        from dtrack.records import DataKind
        from dtrack.venues.deribit.stream import TickerStream, trades_channel_of

        inst = deribit_listing().get(symbol) or Instrument(
            venue="deribit", symbol=symbol, asset="BTC", quote="USDC", settle="USDC", kind=Kind.PERP,
            margin=Margin.LINEAR, contract_size=0.001, market="BTC")
        channel = trades_channel_of(inst)
        text = json.dumps({"jsonrpc": "2.0", "method": "subscription",
                           "params": {"channel": channel, "data": rows(raw)}})
        return TickerStream([inst], frozenset({DataKind.LIQUIDATIONS})), text
    return frame


# --- order books, candles and margin tiers ----------------------------------------------------------------------


def asked(name: str, raw: Any) -> dict[str, str]:
    """The query parameters of the request of the case of ``name`` whose answer is ``raw`` (from its URL or ccxt
    endpoint), with ``path``: what an answer that does not name its instrument was asked for."""
    case = next(c for c in load_payload(name)["cases"] if c["raw"] == raw)
    given = case.get("input")
    url = case.get("endpoint") or (given.get("url", "") if isinstance(given, dict) else "")
    parts = urlsplit(url.split()[-1])
    return {"path": parts.path, **dict(parse_qsl(parts.query))}


def _binance_depth(name: str, host: str) -> Reading:
    """A ``depth`` answer read as the book of the contract asked; ccxt's spot ``/api/v3/depth`` answer (the same
    shape; dtrack asks no spot book) as the USDⓈ-M BTCUSDT book."""
    def read(raw: Any, received: datetime) -> Outcome:
        query = asked(name, raw)
        inst = binance_listing(host)[query["symbol"]]
        return [binance.parse_depth(raw, inst, int(query["limit"]), received)], ()
    return read


def _binance_ws_kline(raw: Any, received: datetime) -> Outcome:
    """A COIN-M ``<symbol>@kline_1m`` frame: its ``k`` written out as the REST kline row it stands for (the same
    fields in REST's order: t o h l c v T q n V Q B), read by the klines parser."""
    k = raw["data"]["k"]
    row = [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"], k["B"]]
    return binance.parse_candles([row], binance_listing("coinm")[k["s"]], 60, received), ()


def _binance_brackets(raw: Any, received: datetime) -> Outcome:
    listed = binance_listing("usdm")
    table = binance.parse_brackets(raw, "usdm")
    return [t for symbol in table.rows for t in binance.margin_tiers(table, listed[symbol], received)], ()


def _bybit_orderbook(raw: Any, received: datetime) -> Outcome:
    """An orderbook answer of BTCUSDT: the linear contract's; ccxt's spot one (the same shape; dtrack asks no spot
    book) read as that contract's too."""
    query = asked("bybit__ccxt_fetchOrderBook.json", raw)
    inst = bybit_contract(query["symbol"], "linear")
    return [bybit.parse_orderbook(raw, inst, int(query["limit"]), received)], ()


def _bybit_risk_limit(raw: Any, received: datetime) -> Outcome:
    category = raw["result"]["category"]
    out: list[Any] = []
    for symbol in sorted({row["symbol"] for row in raw["result"]["list"]}):
        page = bybit.parse_risk_limit(raw, symbol)
        out += bybit.margin_tiers(page.tiers, bybit_contract(symbol, category), None, received)
    return out, ()


def _okx_books(name: str) -> Reading:
    """A books answer (REST, or a WebSocket ``books`` snapshot: the same levels) read as the book of the instrument
    asked; a spot pair (dtrack asks no spot book) as one of 1-coin "contracts". An ``update`` frame is no book."""
    def read(raw: Any, received: datetime) -> Outcome:
        if raw.get("action") == "update":
            return [], ()
        inst_id = raw["arg"]["instId"] if "arg" in raw else asked(name, raw)["instId"]
        base, quote = inst_id.split("-")[:2]
        inst = okx_listing().get(inst_id) or Instrument(venue="okx", symbol=inst_id, asset=base, quote=quote,
                                                        settle=quote, kind=Kind.SPOT, margin=Margin.LINEAR,
                                                        market="SPOT")
        book = raw["data"][0]
        return [okx.parse_books(raw, inst, max(len(book["bids"]), len(book["asks"])), received)], ()
    return read


def _okx_position_tiers(raw: Any, received: datetime) -> Outcome:
    listed = okx_listing()
    families = sorted({row["instFamily"] or row["uly"] for row in raw["data"]})
    return [t for family in families for t in okx.parse_position_tiers(raw, listed[f"{family}-SWAP"], received)], ()


def _deribit_order_book(raw: Any, received: datetime) -> Outcome:
    inst = deribit_listing()[raw["result"]["instrument_name"]]
    return [deribit.parse_order_book(raw, inst, len(raw["result"]["bids"]), received)], ()


def _dydx_trades(name: str) -> Callable[[Any], tuple[Any, str]]:
    """A dYdX trades payload read by the ``v4_trades`` stream parser: a WebSocket message as it is; a REST trades
    answer (``{"trades": [...]}``) as the ``contents`` of the ``subscribed`` message (the same rows)."""
    def frame(raw: Any) -> tuple[Any, str]:
        from dtrack.venues.dydx.stream import TradesStream

        if "type" in raw:
            return TradesStream([dydx.instrument(raw["id"])]), json.dumps(raw)
        case = next(c for c in load_payload(name)["cases"] if c["raw"] == raw)
        ticker = case["input"]["ticker"] if isinstance(case["input"], dict) else "BTC-USD"
        return TradesStream([dydx.instrument(ticker)]), json.dumps(
            {"type": "subscribed", "channel": "v4_trades", "id": ticker, "contents": raw})
    return frame


def _all(*readings: Reading) -> Reading:
    def read(raw: Any, received: datetime) -> Outcome:
        out: list[Any] = []
        errors: list[DtrackError] = []
        for reading in readings:
            items, failed = reading(raw, received)
            out += items
            errors += failed
        return out, errors
    return read


READINGS: dict[str, Reading] = {
    "binance-coinm__rest_exchangeInfo__capture.json":
        lambda raw, received: within_horizon(binance.parse_exchange_info(raw, "coinm"), received),
    "binance-usdm__rest_exchangeInfo__capture.json":
        lambda raw, received: within_horizon(binance.parse_exchange_info(raw, "usdm"), received),
    "binance-coinm__rest_fundingInfo__docs.json": _binance_funding_info("coinm"),
    "binance-usdm__rest_fundingInfo__docs.json": _binance_funding_info("usdm"),
    "binance-usdm__rest_fundingInfo_issue_capture__docs.json": _binance_funding_info("usdm"),
    "binance-coinm__rest_premiumIndex__docs.json":
        _binance_premium("coinm", "binance-coinm__rest_fundingInfo__docs.json"),
    "binance-usdm__rest_premiumIndex__docs.json":
        _binance_premium("usdm", "binance-usdm__rest_fundingInfo_issue_capture__docs.json"),
    "binance-usdm__rest_fundingRate_history__docs.json":
        lambda raw, _r: (binance.parse_funding_history(raw, "usdm", "BTCUSDT"), ()),
    "binance-usdm__rest_openInterestHist_hexdocs__docs.json": _binance_oi_history,
    "binance__ccxt_fetchOHLCV.json": _all(_binance_klines, _binance_candles),
    "binance-options__rest_blockTrades__docs.json": _binance_block_trades,
    # the docs' mark row carries no index, and none is stated for it: its raw fields are read
    "binance-options__rest_mark__docs.json": _binance_marks(None),
    # the index test_binance_options_parse states for this capture (2400; it carries none)
    "binance__ccxt_fetchAllGreeks.json": _binance_marks(2400.0),
    "binance-options__rest_openInterest__docs.json":
        lambda raw, _r: (list(binance.parse_option_open_interest(raw, "ETH").items()), ()),
    "binance-options__rest_ticker__docs.json": _binance_option_tickers,
    "bybit__ccxt_fetchAllGreeks.json": lambda raw, received: bybit.parse_option_chain(raw, "BTC", {}, received),
    "bybit__ccxt_fetchTickers.json": lambda raw, received: bybit.parse_option_chain(raw, "BTC", {}, received),
    "bybit__ccxt_fetchFundingRate.json": _bybit_linear_tickers,
    "bybit__ccxt_fetchFundingRates.json": _bybit_linear_tickers,
    "bybit__ccxt_fetchTicker.json": _bybit_linear_tickers,
    "bybit__rest_tickers__docs.json": _bybit_tickers_docs,
    "bybit__ws_tickers__docs.json": _bybit_ws,
    "binance-usdm__ws_markPrice__docs.json": _binance_ws_mark,
    "binance-usdm__ws_forceOrder__docs.json": _liquidations(_force_order("usdm")),
    "binance-coinm__ws_forceOrder__docs.json": _liquidations(_force_order("coinm")),
    "bybit__ws_allLiquidation__docs.json": _liquidations(_bybit_liquidation),
    "okx__ws_liquidation_orders__docs.json": _liquidations(_okx_liquidation),
    "deribit__ws_user_trades__docs.json":
        _liquidations(_deribit_liquidation("BTC-PERPETUAL", lambda raw: raw["data"])),
    "deribit__ccxt_fetchTrades.json":  # a trade row as a linear (USDC) perpetual's: amounts in the coin
        _liquidations(_deribit_liquidation("BTC_USDC-PERPETUAL", lambda raw: raw["result"]["trades"])),
    "bybit__ccxt_fetchOHLCV.json": lambda raw, _r: (bybit.parse_klines(raw, raw["result"]["symbol"]), ()),
    "bybit__ccxt_fetchOpenInterest.json": _bybit_oi_history,
    "bybit__rest_open_interest__docs.json": _bybit_oi_history,
    "bybit__rest_account_ratio__docs.json": lambda raw, _r: ([bybit.parse_account_ratio(raw, "BTCUSDT")], ()),
    "bybit__rest_funding_history__docs.json": lambda raw, _r: (bybit.parse_funding_history(raw, "ETHPERP"), ()),
    "bybit__rest_historical_volatility__docs.json":
        lambda raw, received: (bybit.parse_historical_volatility(raw, "ETH", 30, received), ()),
    "bybit__rest_instruments_info__docs.json": _bybit_instruments,
    "deribit__ccxt_fetchOHLCV.json": lambda raw, _r: (deribit.parse_chart(raw), ()),
    "deribit__rest_get_book_summary_by_currency__docs.json": _deribit_book_summary,
    "deribit__rest_get_funding_rate_history__docs.json": lambda raw, _r: (deribit.parse_funding_history(raw), ()),
    "deribit__rest_get_historical_volatility__docs.json":
        lambda raw, received: (deribit.parse_historical_volatility(raw, "BTC", received), ()),
    "deribit__rest_get_instruments__capture.json": _all(
        lambda raw, received: within_horizon(deribit.parse_instruments(raw), received),
        lambda raw, received: (list(deribit.parse_option_instruments(raw).specs.values()), ())),
    "deribit__rest_get_instruments__docs.json":
        lambda raw, received: within_horizon(deribit.parse_instruments(raw), received),
    "deribit__rest_get_last_trades_by_currency__docs.json": _deribit_trades,
    "deribit__rest_get_volatility_index_data__docs.json": lambda raw, _r: (deribit.parse_vol_index(raw)[0], ()),
    "deribit__rest_ticker__docs.json": _deribit_ticker,
    "deribit__ws_ticker__capture.json": _deribit_ws_ticker,
    "dydx__ccxt_fetchFundingRateHistory.json":
        lambda raw, _r: (dydx.parse_funding_history(raw, raw["historicalFunding"][0]["ticker"]), ()),
    "dydx__ccxt_fetchMarkets.json": _dydx_markets,
    "dydx__ccxt_fetchOHLCV.json": _dydx_candles,
    "dydx__ccxt_fetchTrades.json": _liquidations(_dydx_trades("dydx__ccxt_fetchTrades.json")),
    "dydx__rest_trades_liquidated__capture.json":
        _liquidations(_dydx_trades("dydx__rest_trades_liquidated__capture.json")),
    "dydx__ws_v4_trades__docs.json": _liquidations(_dydx_trades("dydx__ws_v4_trades__docs.json")),
    "dydx__ccxt_fetchOrderBook.json": _all(
        lambda raw, _r: ([dydx.parse_book(raw, "BTC-USD")], ()),
        lambda raw, received: ([dydx.parse_order_book(raw, dydx.instrument("BTC-USD"), received)], ())),
    "hyperliquid__ccxt_fetchOHLCV.json": _hl_candles,
    "hyperliquid__rest_info_fundingHistory__docs.json":
        lambda raw, _r: (hyperliquid.parse_funding_history(raw, raw[0]["coin"]), ()),
    "hyperliquid__rest_info_metaAndAssetCtxs__docs.json": _hl_ctxs,
    "hyperliquid__rest_info_predictedFundings__docs.json": _hl_predicted,
    "okx__ccxt_fetchOHLCV.json": lambda raw, _r: (okx.parse_candles(raw, "/api/v5/market/history-candles"), ()),
    "okx__ccxt_fetchOpenInterest.json": _okx_oi,
    "okx__ccxt_fetchTicker.json": _okx_tickers,
    "okx__ws_tickers__capture.json": _okx_tickers,
    "okx__rest_public_instruments__capture.json": _okx_instruments,
    "binance-usdm__rest_depth__capture.json": _binance_depth("binance-usdm__rest_depth__capture.json", "usdm"),
    "binance-coinm__rest_depth__capture.json": _binance_depth("binance-coinm__rest_depth__capture.json", "coinm"),
    "binance__ccxt_fetchOrderBook.json": _binance_depth("binance__ccxt_fetchOrderBook.json", "usdm"),
    "binance-coinm__ws_kline_1m__capture.json": _binance_ws_kline,
    "binance-web__rest_brackets__capture.json": _binance_brackets,
    "bybit__ccxt_fetchOrderBook.json": _bybit_orderbook,
    "bybit__rest_risk_limit__docs.json": _bybit_risk_limit,
    "bybit__rest_risk_limit__testnet.json": _bybit_risk_limit,
    "deribit__rest_get_order_book__docs.json": _deribit_order_book,
    "hyperliquid__rest_info_l2Book__docs.json":
        lambda raw, received: ([hyperliquid.parse_l2_book(raw, hyperliquid.instrument(raw["coin"]), received)], ()),
    # a marginTable answer names no coin: table 56 is BTC's (meta's marginTableId, test_hyperliquid_book)
    "hyperliquid__rest_info_marginTable__docs.json":
        lambda raw, received: (hyperliquid.table_tiers(raw, "BTC", received, source="margin table 56"), ()),
    "okx__ccxt_fetchOrderBook.json": _okx_books("okx__ccxt_fetchOrderBook.json"),
    "okx__ws_books__capture.json": _okx_books("okx__ws_books__capture.json"),
    "okx__rest_position_tiers__capture.json": _okx_position_tiers,
}

#: Cases in which dtrack reads nothing by design, and why (the parser still runs on them).
EMPTY_CASES: dict[tuple[str, int], str] = {
    ("bybit__rest_instruments_info__docs.json", 1): "a pre-launch contract only: nothing trades, nothing is listed",
    ("bybit__rest_instruments_info__docs.json", 3): "the spot tab: dtrack lists contracts, not spot pairs",
    ("deribit__ws_user_trades__docs.json", 0): "no trade of it is flagged liquidation: none is a liquidation",
    ("deribit__ccxt_fetchTrades.json", 0): "its trade is not flagged liquidation: not a liquidation",
    ("dydx__ccxt_fetchTrades.json", 0): "a LIMIT trade: not a liquidation",
    ("dydx__rest_trades_liquidated__capture.json", 1): "a LIMIT trade: not a liquidation",
    ("dydx__ws_v4_trades__docs.json", 0): "a LIMIT trade: not a liquidation",
    ("okx__ws_books__capture.json", 3): "an incremental update (size 0 deletes a level): not a book",
}

#: Payloads no dtrack parser reads, and why.
UNREAD: dict[str, str] = {
    "bybit__rest_recent_trade__docs.json": "a spot trade (BTCUSDT): dtrack reads option trades only",
    "deribit__ccxt_fetchTicker.json": "the BTC_USDT spot ticker: dtrack reads no Deribit spot",
    "okx__ccxt_fetchTrades.json": "a spot trade (BTC-USDT): dtrack reads option trades only",
}


def test_every_payload_is_read_or_said_why_not() -> None:
    files = {p.name for p in PAYLOADS.glob("*.json")}
    assert files == set(READINGS) | set(UNREAD)
    assert not set(READINGS) & set(UNREAD)


CASES = [(name, i) for name in sorted(READINGS) for i in range(len(load_payload(name)["cases"]))]


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n.removesuffix('.json')}[{i}]" for n, i in CASES])
def test_no_rule_refuses_a_real_payload(name: str, case: int) -> None:
    doc = load_payload(name)["cases"][case]
    received = received_at(doc)
    try:
        items, errors = READINGS[name](doc["raw"], received)
    except Implausible as exc:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"{name} case {case}, received {received.isoformat()}: {exc}")
    refused = [str(e) for e in errors if isinstance(e, Implausible)]
    assert refused == [], f"{name} case {case}, received {received.isoformat()}"
    if (name, case) in EMPTY_CASES:
        assert not items
    else:
        assert items, f"{name} case {case}: the reading read nothing, so it checked nothing"


def test_received_at_is_the_answer_time_or_the_capture_time() -> None:
    tickers = load_payload("bybit__rest_tickers__docs.json")["cases"][0]
    assert received_at(tickers) == ms_to_utc(json.loads(json.dumps(tickers["raw"]))["time"] + 5_000)
    ws = load_payload("deribit__ws_ticker__capture.json")["cases"][0]
    assert received_at(ws) == datetime.fromtimestamp(float(ws["input"]["recv_ts"]), UTC)
    assert received_at({"raw": {"markPx": "1"}}) == UNDATED
    assert received_at({"raw": {"usOut": 1_626_993_723_804_855}}) - ms_to_utc(1_626_993_723_804.855) \
        == timedelta(seconds=5)
