"""OKX option parsing on the real instrument capture (okx__rest_public_instruments__capture.json, recorded by
cryptofeed in May 2022: 346 BTC-USD and 350 ETH-USD options): contract sizes from ctVal x ctMult, expiries at
08:00 UTC, strikes, types, terms read back from the names, and malformed rows. OKX sends its option IVs as
fractions and prices in the coin; no real opt-summary, option ticker or option trade capture exists, so those
conversions are checked against the simulator's model in test_okx_options_sim.py.

Exact values: strikes and expiry times are integers in the payload and compare exactly; contract sizes are
products of two decimal strings (1 x 0.1) and compare to 1e-15 relative.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack.errors import ParseError
from dtrack.venues.okx.parse import (
    option_family,
    parse_option_instruments,
    parse_option_trades,
    spec_from_name,
)

CAPTURE = "okx__rest_public_instruments__capture.json"
EXPIRIES = [datetime(2022, m, d, 8, tzinfo=UTC) for m, d in ((5, 14), (5, 15), (5, 20), (5, 27), (6, 3), (6, 24),
                                                           (7, 29), (9, 30))]


def _raw(payload: Any, url_part: str) -> dict[str, Any]:
    doc = payload(CAPTURE)
    return next(c["raw"] for c in doc["cases"] if url_part in c["input"]["url"])


@pytest.mark.parametrize(("family", "count", "size", "first", "last"), [
    ("BTC-USD", 346, 0.1, ("BTC-USD-220514-22000-C", 22000.0, True), ("BTC-USD-220930-120000-P", 120000.0, False)),
    ("ETH-USD", 350, 1.0, ("ETH-USD-220514-1300-C", 1300.0, True), ("ETH-USD-220930-8000-P", 8000.0, False)),
])
def test_real_option_rows(payload: Any, family: str, count: int, size: float, first: tuple[str, float, bool],
                          last: tuple[str, float, bool]) -> None:
    raw = _raw(payload, f"instType=OPTION&uly={family}")
    listing = parse_option_instruments(raw)
    asset = family.split("-")[0]
    assert listing.broken == () and len(listing.specs) == count
    specs = list(listing.specs.values())
    assert (specs[0].symbol, specs[0].strike, specs[0].is_call) == first
    assert (specs[-1].symbol, specs[-1].strike, specs[-1].is_call) == last
    assert specs[0].expiry == EXPIRIES[0] and specs[-1].expiry == EXPIRIES[-1]
    # every option: contract of ctVal 1 x ctMult (0.1 BTC, 1 ETH), settled in the coin, expiring at 08:00 UTC
    for spec, row in zip(specs, raw["data"], strict=True):
        assert spec.contract_size == pytest.approx(size, rel=1e-15)
        assert spec.contract_size == pytest.approx(float(row["ctVal"]) * float(row["ctMult"]), rel=1e-15)
        assert (spec.asset, spec.settle) == (asset, asset)
        assert spec.strike == float(row["stk"]) and spec.is_call == (row["optType"] == "C")
        assert spec.expiry == datetime.fromtimestamp(int(row["expTime"]) / 1000, UTC)
    assert sorted({s.expiry for s in specs}) == EXPIRIES
    # a call and a put at every listed strike of every expiry
    pairs = Counter((s.expiry, s.strike) for s in specs)
    assert set(pairs.values()) == {2}
    assert option_family(asset) == family


def test_names_carry_the_terms(payload: Any) -> None:
    """Every real option's expiry, strike and type read from its name equal those of its row (the fallback
    for trades of options that have left the list)."""
    for family in ("BTC-USD", "ETH-USD"):
        for spec in parse_option_instruments(_raw(payload, f"uly={family}")).specs.values():
            assert spec_from_name(spec.symbol, spec.contract_size, spec.settle) == spec
    assert spec_from_name("BTC-USD-SWAP", 0.1, "BTC") is None
    assert spec_from_name("BTC-USD-221399-20000-C", 0.1, "BTC") is None  # no 99th day
    assert spec_from_name("BTC-USD-220527", 0.1, "BTC") is None


def test_swap_and_futures_answers_hold_no_options(payload: Any) -> None:
    for part in ("instType=SWAP", "instType=FUTURES"):
        listing = parse_option_instruments(_raw(payload, part))
        assert listing.specs == {} and listing.broken == ()


def test_malformed_rows_are_set_aside(payload: Any) -> None:
    raw = copy.deepcopy(_raw(payload, "uly=BTC-USD"))
    rows = raw["data"]
    rows[0]["ctValCcy"] = "USD"  # a USD-valued option: not the coin contract dtrack reads
    rows[1]["optType"] = "X"
    rows[2]["stk"] = ""
    rows[3]["state"] = "suspend"  # skipped, not broken
    listing = parse_option_instruments(raw)
    assert len(listing.specs) == 346 - 4
    assert [b.split(":")[0] for b in listing.broken] == [r["instId"] for r in rows[:3]]
    assert "ctValCcy is 'USD'" in listing.broken[0] and "optType is 'X'" in listing.broken[1]
    for row in rows:
        row["ctVal"] = "one"
    with pytest.raises(ParseError, match="no option parsed"):
        parse_option_instruments(raw)
    with pytest.raises(ParseError, match="field 'data' missing"):
        parse_option_instruments({"code": "0", "msg": ""})


def test_trade_of_an_option_no_longer_listed_takes_its_terms_from_the_name(payload: Any) -> None:
    """The fallback logic (not the wire format: a row with OKX's documented field names, made up here) for a
    trade of an option the real list lacks: terms from the name, contract size from the family's real rows;
    px (coin) x fwdPx gives the USD price; fillVol is already a fraction; a bad row goes to the errors."""
    specs = parse_option_instruments(_raw(payload, "uly=BTC-USD")).specs
    row = {"fillVol": "0.65", "fwdPx": "30250.5", "idxPx": "30200", "instFamily": "BTC-USD",
           "instId": "BTC-USD-220513-30000-C", "markPx": "0.011", "optType": "C", "px": "0.0105", "side": "buy",
           "sz": "25", "tradeId": "7", "ts": "1652428800000"}
    received = datetime(2022, 5, 13, 1, tzinfo=UTC)
    trades, errors = parse_option_trades({"code": "0", "msg": "", "data": [row, {**row, "side": "both"}]}, specs,
                                         received)
    assert len(trades) == 1 and len(errors) == 1 and "side is 'both'" in str(errors[0])
    t = trades[0]
    assert (t.symbol, t.expiry, t.strike, t.is_call) == ("BTC-USD-220513-30000-C", datetime(2022, 5, 13, 8, tzinfo=UTC),
                                                         30000.0, True)
    assert t.contract_size == pytest.approx(0.1, rel=1e-15) and t.amount == 25.0
    assert t.price_usd == pytest.approx(0.0105 * 30250.5, rel=1e-15) and t.index_price == 30200.0
    assert t.iv == pytest.approx(0.65, rel=1e-15) and t.side == "buy" and not t.block
    assert t.premium_usd == pytest.approx(0.0105 * 30250.5 * 25 * 0.1, rel=1e-12)
    assert (t.time, t.received_at) == (datetime(2022, 5, 13, 8, tzinfo=UTC), received)
