"""Deribit parsers on the real payloads in tests/payloads (exact values), plus malformed input."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_with_pool

from dtrack.config import Settings
from dtrack.errors import ParseError, RateLimited, VenueError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.venues.deribit.adapter import DeribitAdapter
from dtrack.venues.deribit.parse import (
    INTERVAL_SOURCE,
    history_points,
    parse_book_summary,
    parse_funding_history,
    parse_instruments,
    parse_ticker,
)
from dtrack.venues.pool import VenuePool

Payload = Callable[[str], dict[str, Any]]
ENDPOINT = DeribitAdapter.instruments_endpoint
RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def btc_perp() -> Instrument:
    return Instrument(venue="deribit", symbol="BTC-PERPETUAL", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
                      margin=Margin.INVERSE,
                      contract_size=10.0, contract_unit=Unit.USD)


# --- public/get_instruments ---------------------------------------------------------------------


def test_instruments_docs_example(payload: Payload) -> None:
    body = payload("deribit__rest_get_instruments__docs.json")["cases"][0]["raw"]
    dated, perp = parse_instruments(body).instruments
    assert perp == Instrument(venue="deribit", symbol="BTC-PERPETUAL", asset="BTC", quote="USD", settle="BTC",
                              kind=Kind.PERP, margin=Margin.INVERSE,
                              multiplier=1.0, contract_size=10.0, contract_unit=Unit.USD, expiry=None, market="BTC")
    assert perp.normalized_id == "BTC-USD-PERP"
    assert dated.symbol == "BTC-29SEP23" and dated.kind is Kind.FUTURE
    assert dated.expiry == ms(1695974400000)
    assert (dated.margin, dated.settle, dated.contract_size, dated.contract_unit) == (
        Margin.INVERSE, "BTC", 10.0, Unit.USD)


def test_instruments_real_capture_without_instrument_type(payload: Payload) -> None:
    """The 2021 capture lists options too and has no instrument_type / settlement_currency."""
    btc_case, eth_case = payload("deribit__rest_get_instruments__capture.json")["cases"]
    btc = parse_instruments(btc_case["raw"]).instruments
    assert {i.symbol for i in btc} == {"BTC-PERPETUAL", "BTC-23JUL21", "BTC-30JUL21", "BTC-27AUG21",
                                       "BTC-24SEP21", "BTC-31DEC21", "BTC-25MAR22", "BTC-24JUN22"}
    assert all(i.margin is Margin.INVERSE and i.settle == "BTC" and i.quote == "USD" for i in btc)
    assert all(i.contract_size == 10.0 and i.contract_unit is Unit.USD for i in btc)
    (perp,) = [i for i in btc if i.kind is Kind.PERP]
    assert perp.symbol == "BTC-PERPETUAL" and perp.expiry is None and perp.asset == "BTC"
    eth_perps = [i for i in parse_instruments(eth_case["raw"]).instruments if i.kind is Kind.PERP]
    assert eth_perps == [Instrument(venue="deribit", symbol="ETH-PERPETUAL", asset="ETH", quote="USD", settle="ETH",
                                    kind=Kind.PERP, margin=Margin.INVERSE,
                                    contract_size=1.0, contract_unit=Unit.USD, market="ETH")]


def test_instruments_skip_odd_rows_nobody_asked(payload: Payload) -> None:
    """Unrelated rows that do not parse (a future of an unknown type, a malformed dated future, a combo)
    sit next to the docs rows: they are skipped; the same fault in an asked perpetual is a ParseError."""
    body = copy.deepcopy(payload("deribit__rest_get_instruments__docs.json")["cases"][0]["raw"])
    dated, perp = body["result"]
    unknown_type = {**perp, "instrument_name": "XRP_USDC-PERPETUAL", "base_currency": "XRP",
                    "instrument_type": "quanto"}
    no_size = {k: v for k, v in dated.items() if k != "contract_size"}
    combo = {**dated, "kind": "future_combo", "instrument_name": "BTC-FS-29SEP23_PERP", "instrument_type": None}
    body["result"] = [unknown_type, no_size, combo, dated, perp]
    expected = parse_instruments(payload("deribit__rest_get_instruments__docs.json")["cases"][0]["raw"]).instruments
    expected_perps = [i for i in expected if i.kind is Kind.PERP]
    listing = parse_instruments(body)
    assert listing.for_assets("deribit", ENDPOINT, {"BTC"}) == expected_perps  # the dated BTC future is no perp
    assert listing.instruments == expected

    # a perpetual without base_currency: whether it was asked is read from its name, ETH-PERPETUAL
    baseless = {k: v for k, v in perp.items() if k != "base_currency"}
    body["result"].append({**baseless, "instrument_name": "ETH-PERPETUAL"})
    listing = parse_instruments(body)
    assert listing.instruments == expected
    assert listing.for_assets("deribit", ENDPOINT, {"BTC"}) == expected_perps
    with pytest.raises(ParseError, match="base_currency"):
        listing.for_assets("deribit", ENDPOINT, {"ETH"})


# --- public/get_book_summary_by_currency ----------------------------------------------------------


def test_book_summary_docs_example_has_no_perpetual(payload: Payload) -> None:
    """The docs example is one option row: no perpetual, and a row without funding_8h gives no rate."""
    body = payload("deribit__rest_get_book_summary_by_currency__docs.json")["cases"][0]["raw"]
    assert parse_book_summary(body, {"BTC-PERPETUAL": btc_perp()}, RECEIVED) == {}
    option_as_wanted = Instrument(venue="deribit", symbol="ETH-22FEB19-140-P", asset="ETH", quote="USD", settle="ETH",
                                  kind=Kind.PERP, margin=Margin.INVERSE)
    assert parse_book_summary(body, {option_as_wanted.symbol: option_as_wanted}, RECEIVED) == {}


def test_book_summary_reads_only_the_wanted_rows(payload: Payload) -> None:
    """A book summary with the ticker example's BTC-PERPETUAL row next to garbage rows of other
    instruments (no name, a non-numeric mark): only the wanted row is read."""
    row = payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"]["result"]
    garbage = [{"funding_8h": "?"}, {"instrument_name": "ETH-PERPETUAL", "mark_price": "n/a", "funding_8h": 1}]
    body = {"jsonrpc": "2.0", "result": [*garbage, row]}
    (fr,) = parse_book_summary(body, {"BTC-PERPETUAL": btc_perp()}, RECEIVED).values()
    assert fr.rate == pytest.approx(0.00002203, rel=1e-12)
    assert fr.index_price == pytest.approx(36297.02, rel=1e-12)  # estimated_delivery_price
    eth = Instrument(venue="deribit", symbol="ETH-PERPETUAL", asset="ETH", quote="USD", settle="ETH", kind=Kind.PERP,
                     margin=Margin.INVERSE)
    with pytest.raises(ParseError, match="mark_price"):
        parse_book_summary(body, {"ETH-PERPETUAL": eth}, RECEIVED)  # the wanted row is malformed


# --- public/ticker ----------------------------------------------------------------------------


def test_ticker_docs_example_btc_perpetual(payload: Payload) -> None:
    body = payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"]
    fr = parse_ticker(body, btc_perp(), RECEIVED)
    assert fr.rate == pytest.approx(0.00002203, rel=1e-12)
    assert fr.interval_hours == 8.0 and fr.interval_source == INTERVAL_SOURCE
    assert fr.rate_8h == pytest.approx(0.00002203, rel=1e-12)  # already the 8 h-equivalent
    assert fr.next_funding_time is None and fr.predicted_rate is None
    assert fr.mark_price == pytest.approx(36288.31, rel=1e-12)
    assert fr.index_price == pytest.approx(36297.02, rel=1e-12)
    assert fr.open_interest_usd == pytest.approx(502231260.0, rel=1e-12)  # inverse perp: OI is USD
    assert (fr.time, fr.received_at) == (ms(1623059681955), RECEIVED)
    assert "continuously" in fr.note and "index_price" in fr.note and "USD, inverse" in fr.note


def test_ticker_real_spot_capture_is_not_a_perpetual(payload: Payload) -> None:
    """ccxt's capture is the BTC_USDT spot ticker (numbers re-serialised as strings): no funding_8h."""
    body = payload("deribit__ccxt_fetchTicker.json")["cases"][0]["raw"]
    spot = Instrument(venue="deribit", symbol="BTC_USDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR)
    with pytest.raises(ParseError, match="funding_8h") as err:
        parse_ticker(body, spot, RECEIVED)
    assert (err.value.venue, err.value.endpoint) == ("deribit", "public/ticker")


# --- public/get_funding_rate_history ------------------------------------------------------------


def test_funding_history_docs_example(payload: Payload) -> None:
    body = payload("deribit__rest_get_funding_rate_history__docs.json")["cases"][0]["raw"]
    points = history_points(parse_funding_history(body), symbol="BTC-PERPETUAL", received=RECEIVED)
    assert {(p.venue, p.symbol, p.received_at) for p in points} == {("deribit", "BTC-PERPETUAL", RECEIVED)}
    assert [p.time for p in points] == [ms(t) for t in (1569891600000, 1569895200000, 1569898800000,
                                                        1569902400000)]
    expected = [-0.00009234260068476106, -0.00006720918180255509, -0.00003544496169694662,
                -0.00001404147515584998]
    assert [p.rate for p in points] == pytest.approx(expected, rel=1e-12)
    assert all(p.interval_hours == 8.0 for p in points)
    # hourly samples of an 8 h-equivalent: per-8h is the sample itself, not 8x it
    assert points[0].rate_8h == pytest.approx(-0.00009234260068476106, rel=1e-12)


# --- malformed payloads and error envelopes ---------------------------------------------------------


def test_malformed_payloads_raise_parse_error(payload: Payload) -> None:
    with pytest.raises(ParseError, match="'result' missing") as err:
        parse_book_summary({"jsonrpc": "2.0"}, {}, RECEIVED)
    assert (err.value.venue, err.value.endpoint) == ("deribit", "public/get_book_summary_by_currency")

    history = copy.deepcopy(payload("deribit__rest_get_funding_rate_history__docs.json")["cases"][0]["raw"])
    history["result"][2]["interest_8h"] = "n/a"
    with pytest.raises(ParseError, match="interest_8h") as err:
        parse_funding_history(history)
    assert err.value.endpoint == "public/get_funding_rate_history"

    instruments = copy.deepcopy(payload("deribit__rest_get_instruments__docs.json")["cases"][0]["raw"])
    instruments["result"][1]["instrument_type"] = "quanto"  # BTC-PERPETUAL
    listing = parse_instruments(instruments)
    with pytest.raises(ParseError, match="instrument_type") as err:
        listing.for_assets("deribit", ENDPOINT, {"BTC"})
    assert err.value.endpoint == "public/get_instruments"
    # not asked (an ETH query, or the plain instrument list): the odd row is skipped, the rest kept
    assert listing.for_assets("deribit", ENDPOINT, {"ETH"}) == []
    assert [i.symbol for i in listing.instruments] == ["BTC-29SEP23"]

    ticker = copy.deepcopy(payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"])
    del ticker["result"]["mark_price"]
    with pytest.raises(ParseError, match="mark_price"):
        parse_ticker(ticker, btc_perp(), RECEIVED)


def test_check_maps_error_envelopes(tmp_path: Path) -> None:
    async def check(pool: VenuePool) -> list[BaseException]:
        adapter = pool.adapter("deribit")
        adapter.check({"jsonrpc": "2.0", "result": []})  # no error member: nothing raised
        raised: list[BaseException] = []
        for code, message in ((10028, "too_many_requests"), (-32602, "Invalid params")):
            try:
                adapter.check({"jsonrpc": "2.0", "error": {"code": code, "message": message}})
            except VenueError as exc:
                raised.append(exc)
        return raised

    limited, invalid = run_with_pool(Settings(cache_dir=tmp_path / "c", state_dir=tmp_path / "s"), check)
    assert isinstance(limited, RateLimited) and limited.code == "10028" and limited.retry_after is None
    assert type(invalid) is VenueError and invalid.code == "-32602" and "Invalid params" in str(invalid)
