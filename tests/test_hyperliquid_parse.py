"""Hyperliquid parsers on the venue's published example answers (copied into tests/payloads).

Hyperliquid has no real captures of these endpoints in the corpus: the payloads are the venue's
documentation examples (see INDEX.md), values exact as published. Floats: rel=1e-12.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack.errors import ParseError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.venues.fields import HOUR_MS
from dtrack.venues.hyperliquid import parse

Payload = Callable[[str], dict[str, Any]]
RECEIVED = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
NEXT_HOUR = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
EXACT = 1e-12


def _raw(payload: Payload, name: str, case: int = 0) -> Any:
    return copy.deepcopy(payload(f"hyperliquid__rest_info_{name}__docs.json")["cases"][case]["raw"])


def test_meta_main_dex(payload: Payload) -> None:
    meta = _raw(payload, "metaAndAssetCtxs", 0)[0]
    insts = parse.parse_meta(meta).instruments
    assert [i.symbol for i in insts] == ["BTC", "ETH", "HPOS"]
    btc = insts[0]
    assert (btc.venue, btc.asset, btc.quote, btc.settle) == ("hyperliquid", "BTC", "USDC", "USDC")
    assert (btc.kind, btc.margin, btc.multiplier) == (Kind.PERP, Margin.LINEAR, 1.0)
    assert (btc.contract_size, btc.contract_unit) == (1.0, Unit.BASE)
    assert btc.normalized_id == "BTC-USDC-PERP"


def test_meta_skips_hip3_dex_coins(payload: Payload) -> None:
    # The second example is a builder-deployed DEX's universe: every name is "xyz:COIN".
    meta = _raw(payload, "metaAndAssetCtxs", 1)[0]
    assert [e["name"] for e in meta["universe"]] == ["xyz:XYZ100", "xyz:TSLA", "xyz:NVDA"]
    assert parse.parse_meta(meta).instruments == ()


def test_meta_skips_delisted_and_splits_k_prefix(payload: Payload) -> None:
    meta = _raw(payload, "metaAndAssetCtxs", 0)[0]
    meta["universe"][1]["isDelisted"] = True
    meta["universe"][2]["name"] = "kPEPE"
    insts = parse.parse_meta(meta).instruments
    assert [(i.symbol, i.asset, i.multiplier) for i in insts] == [("BTC", "BTC", 1.0), ("kPEPE", "PEPE", 1000.0)]


def test_funding_rates_main_dex(payload: Payload) -> None:
    body = _raw(payload, "metaAndAssetCtxs", 0)
    insts = parse.parse_meta(body[0]).instruments
    rates, missing = parse.funding_rates(body, insts, {}, RECEIVED)
    assert missing == []
    by = {r.instrument.symbol: r for r in rates}
    btc = by["BTC"]
    assert btc.rate == pytest.approx(0.0000125, rel=EXACT)
    assert (btc.interval_hours, btc.interval_source) == (1.0, "hourly (venue docs)")
    assert btc.predicted_rate is None
    assert btc.next_funding_time == NEXT_HOUR
    assert (btc.time, btc.received_at) == (None, RECEIVED)  # an asset context has no time: never the receive time
    assert btc.mark_price == pytest.approx(14.3161, rel=EXACT)
    assert btc.index_price == pytest.approx(14.32, rel=EXACT)
    # openInterest is in coins: USD = 688.11 BTC x mark 14.3161, not 688.11 "dollars".
    assert btc.open_interest_usd == pytest.approx(688.11 * 14.3161, rel=EXACT)
    assert "openInterest (BTC, one side) x markPx" in btc.note
    assert btc.rate_8h == pytest.approx(0.0001, rel=EXACT)
    eth, hpos = by["ETH"], by["HPOS"]
    assert eth.mark_price == pytest.approx(6.0436, rel=EXACT)
    assert eth.index_price == pytest.approx(6.0457, rel=EXACT)
    assert eth.open_interest_usd == pytest.approx(1882.55 * 6.0436, rel=EXACT)
    assert hpos.open_interest_usd == pytest.approx(2912.05 * 8.4542, rel=EXACT)


def test_funding_aligns_by_position_and_reads_null_premium(payload: Payload) -> None:
    # HIP-3 coins are skipped by parse_meta; the alignment and the nulls are read all the same.
    body = _raw(payload, "metaAndAssetCtxs", 1)
    ctxs = parse.asset_ctxs(body)
    assert list(ctxs) == ["xyz:XYZ100", "xyz:TSLA", "xyz:NVDA"]
    tsla = Instrument(venue="hyperliquid", symbol="xyz:TSLA", asset="TSLA", quote="USDC", settle="USDC",
                      kind=Kind.PERP, margin=Margin.LINEAR)
    rate = parse.funding_rate(tsla, ctxs["xyz:TSLA"], None, RECEIVED)
    assert ctxs["xyz:TSLA"]["premium"] is None
    assert rate.rate == 0.0
    assert rate.mark_price == pytest.approx(465.13, rel=EXACT)
    assert rate.index_price == pytest.approx(450.78, rel=EXACT)
    assert rate.open_interest_usd == pytest.approx(12.208 * 465.13, rel=EXACT)
    xyz = parse.funding_rate(tsla, ctxs["xyz:XYZ100"], None, RECEIVED)
    assert xyz.rate == pytest.approx(0.0002110251, rel=EXACT)
    assert xyz.open_interest_usd == pytest.approx(0.0854 * 25451.0, rel=EXACT)


def test_funding_rates_report_missing_symbols(payload: Payload) -> None:
    body = _raw(payload, "metaAndAssetCtxs", 0)
    gone = parse.instrument("DOGE")
    rates, missing = parse.funding_rates(body, [parse.instrument("BTC"), gone], {}, RECEIVED)
    assert [r.instrument.symbol for r in rates] == ["BTC"]
    assert missing == ["DOGE"]


def test_kpepe_prices_per_pepe(payload: Payload) -> None:
    body = _raw(payload, "metaAndAssetCtxs", 0)
    body[0]["universe"][1]["name"] = "kPEPE"
    insts = parse.parse_meta(body[0]).instruments
    rates, _ = parse.funding_rates(body, insts, {}, RECEIVED)
    kpepe = next(r for r in rates if r.instrument.symbol == "kPEPE")
    assert kpepe.mark_price == pytest.approx(6.0436 / 1000, rel=EXACT)
    assert kpepe.index_price == pytest.approx(6.0457 / 1000, rel=EXACT)
    assert kpepe.open_interest_usd == pytest.approx(1882.55 * 6.0436, rel=EXACT)
    assert "kPEPE = 1000 PEPE" in kpepe.note


def test_predicted_fundings(payload: Payload) -> None:
    got = parse.parse_predicted(_raw(payload, "predictedFundings"), {"AVAX", "BTC"})
    assert list(got) == ["AVAX"]
    avax = got["AVAX"]
    assert avax.rate == pytest.approx(0.0000125, rel=EXACT)  # HlPerp, not BinPerp's 0.0001
    assert avax.next_time == datetime(2024, 12, 11, 23, 0, tzinfo=UTC)
    assert avax.interval_hours is None  # the docs example predates fundingIntervalHours


def test_predicted_null_entries(payload: Payload) -> None:
    raw = _raw(payload, "predictedFundings")
    venues = raw[0][1]
    venues[1][1] = None  # a venue without a prediction is sent as [venue, null]
    assert parse.parse_predicted(raw, {"AVAX"}) == {}
    venues[1][1] = {"fundingRate": "0.00002", "nextFundingTime": 1733958000000, "fundingIntervalHours": 1}
    venues[0][1] = None
    assert parse.parse_predicted(raw, {"AVAX"})["AVAX"] == parse.Predicted(
        0.00002, datetime(2024, 12, 11, 23, 0, tzinfo=UTC), 1.0)


def test_predicted_reads_only_asked_coins_and_hl_entries(payload: Payload) -> None:
    # One garbage coin entry and one odd foreign-venue entry next to good ones: neither is read.
    raw = _raw(payload, "predictedFundings")
    raw[0][1][0] = ["BinPerp", {"fundingRate": "n/a", "nextFundingTime": "soon"}, "extra"]
    raw.insert(0, ["JUNK", [["HlPerp", {"fundingRate": [], "nextFundingTime": 17}]]])
    raw.insert(0, 42)
    got = parse.parse_predicted(raw, {"AVAX"})
    assert list(got) == ["AVAX"]
    assert got["AVAX"].rate == pytest.approx(0.0000125, rel=EXACT)
    # A coin not asked for is not parsed at all; the same junk under an asked coin is a ParseError.
    assert parse.parse_predicted(raw, {"ETH"}) == {}
    with pytest.raises(ParseError, match="fundingRate"):
        parse.parse_predicted(raw, {"JUNK"})


def test_next_funding_time_is_the_venues_word(payload: Payload) -> None:
    # The docs' HlPerp nextFundingTime is 2024-12-11 23:00. Received 50 ms after it by the local clock
    # (clock skew, or the prediction lags the settlement): the venue's word wins over "next whole hour",
    # which would say 2024-12-12 00:00.
    raw = _raw(payload, "predictedFundings")
    raw[0][0] = "BTC"
    predicted = parse.parse_predicted(raw, {"BTC"})
    body = _raw(payload, "metaAndAssetCtxs", 0)
    received = datetime(2024, 12, 11, 23, 0, 0, 50000, tzinfo=UTC)
    rates, _ = parse.funding_rates(body, [parse.instrument("BTC"), parse.instrument("ETH")], predicted, received)
    by = {r.instrument.symbol: r for r in rates}
    assert by["BTC"].next_funding_time == datetime(2024, 12, 11, 23, 0, tzinfo=UTC)
    assert by["BTC"].predicted_rate == pytest.approx(0.0000125, rel=EXACT)
    # ETH has no prediction: the next whole hour after the receive time.
    assert by["ETH"].next_funding_time == datetime(2024, 12, 12, 0, 0, tzinfo=UTC)
    # A prediction without nextFundingTime also falls back (on its interval's grid).
    pred = {"BTC": parse.Predicted(0.00002, None, 4.0)}
    rates, _ = parse.funding_rates(body, [parse.instrument("BTC")], pred, RECEIVED)
    assert rates[0].next_funding_time == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    pred = {"BTC": parse.Predicted(0.00002, datetime(2026, 11, 20, 15, 0, tzinfo=UTC), 1.0)}
    rates, _ = parse.funding_rates(body, [parse.instrument("BTC")], pred, RECEIVED)
    assert rates[0].next_funding_time == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", [1733958000, 1733958000000000, "1733958000"])
def test_next_funding_time_out_of_ms_range_is_a_parse_error(payload: Payload, bad: object) -> None:
    # Seconds or microseconds are not read as dates in 1970 or the year 56000.
    raw = _raw(payload, "predictedFundings")
    raw[0][1][1][1]["nextFundingTime"] = bad
    with pytest.raises(ParseError, match=r"nextFundingTime.*epoch milliseconds"):
        parse.parse_predicted(raw, {"AVAX"})


@pytest.mark.parametrize("bad", [1683849600, 1683849600076000])
def test_history_time_out_of_ms_range_is_a_parse_error(payload: Payload, bad: int) -> None:
    raw = _raw(payload, "fundingHistory")
    raw[0]["time"] = bad
    with pytest.raises(ParseError, match=r"'time'.*epoch milliseconds"):
        parse.parse_funding_history(raw, "xyz:XYZ100")


def test_meta_skips_a_garbage_row(payload: Payload) -> None:
    meta = _raw(payload, "metaAndAssetCtxs", 0)[0]
    meta["universe"][1:1] = [{"szDecimals": 2}, "???", {"name": 7}]
    assert [i.symbol for i in parse.parse_meta(meta).instruments] == ["BTC", "ETH", "HPOS"]


def test_funding_rates_skip_a_garbage_row_of_another_coin(payload: Payload) -> None:
    body = _raw(payload, "metaAndAssetCtxs", 0)
    body[0]["universe"].insert(1, {"szDecimals": 2})  # unreadable universe entry, its slot kept
    body[1].insert(1, {"funding": "n/a"})
    body[1][2] = "garbage"  # ETH's context: ETH is not asked for
    rates, missing = parse.funding_rates(body, [parse.instrument("BTC"), parse.instrument("HPOS")], {}, RECEIVED)
    assert missing == []
    by = {r.instrument.symbol: r for r in rates}
    assert by["BTC"].mark_price == pytest.approx(14.3161, rel=EXACT)  # alignment kept past the odd slots
    assert by["HPOS"].open_interest_usd == pytest.approx(2912.05 * 8.4542, rel=EXACT)
    # the asked-for coin with the garbage context is a ParseError
    with pytest.raises(ParseError, match="assetCtx of ETH"):
        parse.funding_rates(body, [parse.instrument("ETH")], {}, RECEIVED)


def test_predicted_feeds_rate_and_interval(payload: Payload) -> None:
    body = _raw(payload, "metaAndAssetCtxs", 0)
    pred = {"BTC": parse.Predicted(0.00002, None, 1.0)}
    rates, _ = parse.funding_rates(body, [parse.instrument("BTC")], pred, RECEIVED)
    assert rates[0].predicted_rate == pytest.approx(0.00002, rel=EXACT)
    assert rates[0].rate == pytest.approx(0.0000125, rel=EXACT)
    assert (rates[0].interval_hours, rates[0].interval_source) == (1.0, "predictedFundings HlPerp fundingIntervalHours")


def test_funding_history(payload: Payload) -> None:
    # The docs example asks about ETH but shows a row of the HIP-3 coin xyz:XYZ100; it is read as sent.
    rows = parse.parse_funding_history(_raw(payload, "fundingHistory"), "xyz:XYZ100")
    assert [t for t, _ in rows] == [datetime(2023, 5, 12, 0, 0, 0, 76000, tzinfo=UTC)]
    assert rows[0][1] == pytest.approx(-0.00022196, rel=EXACT)


def test_next_settlement_is_strictly_after() -> None:
    on_the_hour = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert parse.next_settlement(on_the_hour, 1.0) == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert parse.next_settlement(RECEIVED, 1.0) == NEXT_HOUR


@pytest.mark.parametrize(("name", "case", "mutate", "fn", "endpoint", "detail"), [
    ("metaAndAssetCtxs", 0, lambda b: b.pop(), lambda b: parse.asset_ctxs(b),
     "metaAndAssetCtxs", "expected [meta, assetCtxs]"),
    ("metaAndAssetCtxs", 0, lambda b: b[1].pop(), lambda b: parse.asset_ctxs(b),
     "metaAndAssetCtxs", "assetCtxs 2"),
    ("metaAndAssetCtxs", 0, lambda b: b[1][0].update(markPx="n/a"),
     lambda b: parse.funding_rates(b, [parse.instrument("BTC")], {}, RECEIVED), "metaAndAssetCtxs", "'markPx'"),
    ("metaAndAssetCtxs", 0, lambda b: b[1][0].pop("openInterest"),
     lambda b: parse.funding_rates(b, [parse.instrument("BTC")], {}, RECEIVED), "metaAndAssetCtxs", "openInterest"),
    ("metaAndAssetCtxs", 0, lambda b: b[0].pop("universe"), lambda b: parse.parse_meta(b[0]), "meta", "universe"),
    ("predictedFundings", 0, lambda b: b[0].pop(), lambda b: parse.parse_predicted(b, {"AVAX"}),
     "predictedFundings", "items"),
    ("predictedFundings", 0, lambda b: b[0][1][1][1].update(fundingIntervalHours=0),
     lambda b: parse.parse_predicted(b, {"AVAX"}), "predictedFundings", "fundingIntervalHours"),
    ("predictedFundings", 0, lambda b: b[0][1][1].append("extra"),
     lambda b: parse.parse_predicted(b, {"AVAX"}), "predictedFundings", "HlPerp entry of AVAX"),
    ("fundingHistory", 0, lambda b: b[0].pop("time"), lambda b: parse.parse_funding_history(b, "xyz:XYZ100"),
     "fundingHistory", "'time'"),
    ("fundingHistory", 0, lambda b: None, lambda b: parse.parse_funding_history(b, "ETH"),
     "fundingHistory", "xyz:XYZ100"),
])
def test_malformed_payloads(payload: Payload, name: str, case: int, mutate: Callable[[Any], object],
                            fn: Callable[[Any], object], endpoint: str, detail: str) -> None:
    body = _raw(payload, name, case)
    mutate(body)
    with pytest.raises(ParseError) as err:
        fn(body)
    assert err.value.venue == "hyperliquid"
    assert err.value.endpoint == f"POST /info {endpoint}"
    assert detail in str(err.value)


def test_null_answer_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="hyperliquid POST /info metaAndAssetCtxs"):
        parse.asset_ctxs(None)


# --- open interest and quotes (metaAndAssetCtxs) ----------------------------------------------------


def test_open_interest_is_coins_times_mark(payload: Payload) -> None:
    # openInterest is one side, in coins: USD = coins x markPx exactly (688.11 BTC x 14.3161 = 9851.051571),
    # never the coin figure shown as dollars (the trap that under-reported Hyperliquid OI ~4,500x).
    body = _raw(payload, "metaAndAssetCtxs", 0)
    insts = parse.parse_meta(body[0]).instruments
    ois, missing = parse.open_interests(body, insts, RECEIVED)
    assert missing == []
    by = {o.instrument.symbol: o for o in ois}
    btc = by["BTC"]
    assert (btc.amount, btc.unit) == (688.11, Unit.BASE)
    assert btc.base == pytest.approx(688.11, rel=EXACT)
    assert btc.price_used == pytest.approx(14.3161, rel=EXACT)
    assert btc.price_source == "mark"
    assert btc.usd == pytest.approx(9851.051571, rel=EXACT)
    assert btc.usd / btc.amount == pytest.approx(14.3161, rel=EXACT)  # dollars per coin = markPx, not 1
    assert (btc.time, btc.received_at) == (None, RECEIVED)
    assert btc.note == "openInterest is one side, in coins (BTC); USD = openInterest x markPx"
    assert by["ETH"].usd == pytest.approx(11377.37918, rel=EXACT)  # 1882.55 x 6.0436
    assert by["HPOS"].usd == pytest.approx(24619.05311, rel=EXACT)  # 2912.05 x 8.4542
    assert by["HPOS"].base == pytest.approx(2912.05, rel=EXACT)


def test_open_interest_of_hip3_contexts_and_missing_symbols(payload: Payload) -> None:
    body = _raw(payload, "metaAndAssetCtxs", 1)
    nvda = Instrument(venue="hyperliquid", symbol="xyz:NVDA", asset="NVDA", quote="USDC", settle="USDC",
                      kind=Kind.PERP, margin=Margin.LINEAR)
    ois, missing = parse.open_interests(body, [nvda, parse.instrument("BTC")], RECEIVED)
    assert missing == ["BTC"]
    assert ois[0].usd == pytest.approx(9.43 * 177.06, rel=EXACT)  # markPx, not oraclePx 188.15


def test_quotes_mark_oracle_mid(payload: Payload) -> None:
    body = _raw(payload, "metaAndAssetCtxs", 0)
    quotes, missing = parse.price_quotes(body, parse.parse_meta(body[0]).instruments, RECEIVED)
    assert missing == []
    got = {q.instrument.symbol: (q.mark_price, q.index_price, q.last_price, q.time, q.received_at) for q in quotes}
    assert got == {"BTC": (14.3161, 14.32, 14.314, None, RECEIVED), "ETH": (6.0436, 6.0457, 6.0431, None, RECEIVED),
                   "HPOS": (8.4542, 8.4585, 8.4557, None, RECEIVED)}


def test_quote_of_a_one_sided_book_has_no_last(payload: Payload) -> None:
    # xyz:NVDA's context has midPx null (thin book): the quote keeps mark and index, last is None.
    ctx = parse.asset_ctxs(_raw(payload, "metaAndAssetCtxs", 1))["xyz:NVDA"]
    nvda = Instrument(venue="hyperliquid", symbol="xyz:NVDA", asset="NVDA", quote="USDC", settle="USDC",
                      kind=Kind.PERP, margin=Margin.LINEAR)
    quote = parse.price_quote(nvda, ctx, RECEIVED)
    assert (quote.mark_price, quote.index_price, quote.last_price) == (177.06, 188.15, None)


# --- candles (candleSnapshot, real ccxt capture) -----------------------------------------------------


def _candles(payload: Payload, case: int) -> Any:
    return copy.deepcopy(payload("hyperliquid__ccxt_fetchOHLCV.json")["cases"][case]["raw"])


def test_candles_perp_1m(payload: Payload) -> None:
    # The capture re-serialised t/T/n as strings (INDEX.md caveat); the venue sends numbers. Both read.
    rows = parse.parse_candles(_candles(payload, 2), "BTC", "1m")
    # (open time, close, high, low) as sent; ccxt's reading of the same answer agrees
    assert rows == [(1710552360000, 69483.0, 69610.0, 69474.0), (1710552420000, 69497.0, 69497.0, 69465.0)]
    ccxt = payload("hyperliquid__ccxt_fetchOHLCV.json")["cases"][2]["ccxt_parsed"]
    assert [(k.open_ms, k.high, k.low, k.close) for k in rows] == [(t, h, lo, c) for t, _o, h, lo, c, _v in ccxt]
    raw = _candles(payload, 2)
    for row in raw:
        row["t"], row["T"], row["n"] = int(row["t"]), int(row["T"]), int(row["n"])
    assert parse.parse_candles(raw, "BTC", "1m") == rows


def test_candle_closes_as_price_points(payload: Payload) -> None:
    # PURR/USDC daily candles opening 2024-08-30 .. 2024-09-03; received at noon on 2024-09-03, when
    # the last one is still open: it is stamped with the receive time, the others at open + 1 day.
    purr = Instrument(venue="hyperliquid", symbol="PURR/USDC", asset="PURR", quote="USDC", settle="USDC",
                      kind=Kind.SPOT, margin=Margin.LINEAR)
    rows = parse.parse_candles(_candles(payload, 3), "PURR/USDC", "1d")
    received = datetime(2024, 9, 3, 12, 0, tzinfo=UTC)
    points = parse.price_points(rows, purr, 24 * HOUR_MS, received)
    assert [(p.time, p.price, p.high, p.low) for p in points] == [
        (datetime(2024, 8, 31, tzinfo=UTC), 0.13472, 0.1438, 0.12182),
        (datetime(2024, 9, 1, tzinfo=UTC), 0.14098, 0.147, 0.12851),
        (datetime(2024, 9, 2, tzinfo=UTC), 0.13689, 0.15401, 0.13686),
        (datetime(2024, 9, 3, tzinfo=UTC), 0.14315, 0.15091, 0.13685),
        (received, 0.14241, 0.14523, 0.14158)]  # the day still open: its high and low so far
    assert {(p.venue, p.symbol, p.received_at) for p in points} == {("hyperliquid", "PURR/USDC", received)}


def test_candle_points_ascending_and_deduplicated(payload: Payload) -> None:
    # Two pages that overlap by one candle, the later page first: one point per open time, ascending.
    ubtc = Instrument(venue="hyperliquid", symbol="@142", asset="UBTC", quote="USDC", settle="USDC", kind=Kind.SPOT,
                      margin=Margin.LINEAR)
    rows = parse.parse_candles(_candles(payload, 1), "@142", "1h")
    received = datetime(2025, 11, 1, tzinfo=UTC)
    points = parse.price_points(rows[1:] + rows, ubtc, HOUR_MS, received)
    assert [(p.time, p.price, p.high, p.low) for p in points] == [
        (datetime(2025, 10, 29, 10, 0, tzinfo=UTC), 113035.0, 113112.0, 112804.0),
        (datetime(2025, 10, 29, 11, 0, tzinfo=UTC), 113103.0, 113150.0, 112926.0)]


@pytest.mark.parametrize(("coin", "interval"), [("ETH", "1m"), ("BTC", "1h")])
def test_candles_of_another_coin_or_interval_are_a_parse_error(payload: Payload, coin: str, interval: str) -> None:
    with pytest.raises(ParseError, match=r"candle of 'BTC' '1m' in an answer about"):
        parse.parse_candles(_candles(payload, 2), coin, interval)


@pytest.mark.parametrize(("mutate", "detail"), [
    (lambda b: b[0].pop("c"), "'c'"),
    (lambda b: b[0].update(c="n/a"), "'c'"),
    (lambda b: b[0].update(t=1710552360), "epoch milliseconds"),
    (lambda b: b.__setitem__(0, "candle"), "candle is str"),
])
def test_malformed_candles(payload: Payload, mutate: Callable[[Any], object], detail: str) -> None:
    body = _candles(payload, 2)
    mutate(body)
    with pytest.raises(ParseError) as err:
        parse.parse_candles(body, "BTC", "1m")
    assert err.value.endpoint == "POST /info candleSnapshot"
    assert detail in str(err.value)
