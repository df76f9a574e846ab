"""``dtrack liqprice`` end to end against the simulated venues: the real adapters read each venue's tier endpoint in
its real format over loopback, and the figures are recomputed here from the sim's own tables (its source data,
with the deductions rebuilt by the continuity rule in a plain loop) and a bisection on the price."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from typing import Any

import jsonschema
import pytest

from clirun import dtrack
from dtrack.sim.venues import binance as sim_binance
from dtrack.sim.venues import okx as sim_okx
from dtrack.venues import VENUES

pytestmark = pytest.mark.usefixtures("private_dirs")

SCHEMA = json.loads(resources.files("dtrack.schemas").joinpath("liqprice.json").read_text(encoding="utf-8"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    got = dtrack(capsys, "liqprice", *argv, "--sim", "--format", "json")
    assert got.code == 0, got.err
    doc: dict[str, Any] = got.json()
    jsonschema.validate(doc, SCHEMA)
    return doc


def bisect_linear(side: int, entry: float, q: float, margin: float, mm: Callable[[float], float],
                  fee: float = 0.0) -> float:
    """The price where margin + s·Q·(P − EP) = MM(P) + fee·Q·P."""
    def gap(p: float) -> float:
        return margin + side * q * (p - entry) - mm(q * p) - fee * q * p

    lo, hi = (entry * 1e-6, entry) if side > 0 else (entry, entry * 50)
    flo = gap(lo)
    for _ in range(200):
        mid = (lo + hi) / 2
        if (gap(mid) > 0) == (flo > 0):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def binance_mm(notional: float) -> float:
    """Maintenance margin from the sim's BTC USDⓈ-M brackets, the maintenance amount rebuilt here."""
    floor, cum, prev = Decimal(0), Decimal(0), Decimal(0)
    for cap, rate, _ in sim_binance.BRACKETS[("usdm", "BTC")]:
        mmr = Decimal(rate)
        cum += floor * (mmr - prev)
        if notional < cap:
            return notional * float(mmr) - float(cum)
        floor, prev = Decimal(cap), mmr
    raise AssertionError("beyond the brackets")


def test_bybit_documented_example_through_the_sim(capsys: pytest.CaptureFixture[str]) -> None:
    """Bybit's worked example (long 1 BTC at 20,000, 50x, MMR 0.5 % -> 19,700) with the tier read from the sim's
    risk-limit endpoint (BTCUSDT tier 1: 0.5 %)."""
    doc = run(capsys, "--venue", "bybit", "--symbol", "BTCUSDT", "--side", "long", "--entry", "20000", "--size", "1",
              "--leverage", "50")
    liq = doc["liquidation"]
    assert liq["price"] == pytest.approx(19_700.0, abs=1e-6)
    assert liq["distance"] == pytest.approx(0.015) and liq["move"] == pytest.approx(-0.015)
    assert liq["risk_level"] == "high" and liq["converged"] is True
    assert doc["tier"]["tier"] == 1 and doc["tier"]["mmr"] == 0.005 and doc["tier"]["unit"] == "usd"
    assert doc["formula"]["name"] == "bybit-classic-linear" and doc["formula"]["tier_at"] == "entry"
    assert doc["entry_source"] == "given"
    assert doc["rows"][0]["price"] == liq["price"]


def test_binance_bracket_iterated_across_a_boundary(capsys: pytest.CaptureFixture[str]) -> None:
    """3.2 BTC at 100,000 = 320,000 USD (bracket 2), 10x: at the liquidation price the notional is below 300,000,
    bracket 1; the price is the one where margin meets maintenance on the continuous bracket table."""
    doc = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--entry", "100000", "--size",
              "3.2", "--leverage", "10")
    liq = doc["liquidation"]
    assert [s["tier"] for s in liq["steps"]] == [2, 1] and doc["tier"]["tier"] == 1
    ref = bisect_linear(1, 100_000.0, 3.2, 32_000.0, binance_mm)
    assert liq["price"] == pytest.approx(ref, rel=1e-10)
    assert liq["price"] * 3.2 < 300_000
    assert doc["tier"]["official"] is False
    assert any("unofficial" in n for n in doc["notes"])
    # a short goes up a bracket instead: 2.9 BTC (290,000) at 10x liquidates above 300,000
    short = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "short", "--entry", "100000",
                "--size", "2.9", "--leverage", "10")
    assert [s["tier"] for s in short["liquidation"]["steps"]] == [1, 2]
    assert short["liquidation"]["price"] == pytest.approx(bisect_linear(-1, 100_000.0, 2.9, 29_000.0, binance_mm),
                                                          rel=1e-10)


def test_okx_tier_by_contracts_and_fee_in_formula(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run(capsys, "--venue", "okx", "--symbol", "BTC-USDT-SWAP", "--side", "short", "--entry", "90000",
              "--size", "15", "--leverage", "20")
    coins_per_contract = doc["instrument"]["contract_size"] * doc["instrument"]["multiplier"]
    contracts = 15 / coins_per_contract
    step, rates, _ = sim_okx.TIER_TABLES["BTC-USDT"]
    mmr = float(rates[math.ceil(contracts / step) - 1])
    fee = VENUES["okx"].taker_fee_pct / 100
    assert doc["tier"]["mmr"] == mmr and doc["tier"]["unit"] == "contracts"
    assert doc["formula"]["fee_rate"] == pytest.approx(fee) and doc["formula"]["tier_at"] == "size"
    ref = bisect_linear(-1, 90_000.0, 15.0, 15 * 90_000 / 20, lambda n: n * mmr, fee)
    assert doc["liquidation"]["price"] == pytest.approx(ref, rel=1e-10)


def test_target_distance_and_sizing(capsys: pytest.CaptureFixture[str]) -> None:
    """No leverage given: the highest keeping 30 % is searched and the position computed at it; the risk-based
    size (2 % of 100,000 with a 5 % stop = 40,000 USD) is used as the size."""
    doc = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--entry", "40000",
              "--target-distance", "30", "--risk", "2", "--stop", "5", "--capital", "100000")
    assert doc["sizing"]["size_usd"] == pytest.approx(40_000.0) and doc["position"]["size_base"] == pytest.approx(1.0)
    lev = doc["target"]["leverage"]
    q, entry = 1.0, 40_000.0

    def dist(x: float) -> float:
        return 1 - bisect_linear(1, entry, q, q * entry / x, binance_mm) / entry

    assert dist(lev) >= 0.30 > dist(lev + 0.01)
    assert doc["position"]["leverage"] == lev and doc["liquidation"]["risk_level"] == "low"
    assert doc["sizing"]["stop_before_liquidation"] is True and [r["scenario"] for r in doc["rows"]] == ["position",
                                                                                                       "target"]


def test_entry_defaults_to_the_mark_and_the_table_renders(capsys: pytest.CaptureFixture[str]) -> None:
    got = dtrack(capsys, "liqprice", "--venue", "hyperliquid", "--symbol", "BTC", "--side", "long", "--size", "2",
                 "--leverage", "10", "--sim")
    assert got.code == 0, got.err
    assert "the contract's current mark price" in got.out and "Liq. price" in got.out and "Tier used" in got.out
    doc = run(capsys, "--venue", "hyperliquid", "--symbol", "BTC", "--side", "long", "--size", "2", "--leverage",
              "10")
    entry, mmr, d = doc["position"]["entry"], doc["tier"]["mmr"], doc["tier"]["deduction"]
    assert doc["tier"]["max_leverage"] == pytest.approx(1 / (2 * mmr))  # Hyperliquid: MMR = half the IM at max lev.
    ref = bisect_linear(1, entry, 2.0, 2 * entry / 10, lambda n: n * mmr - d)
    assert doc["liquidation"]["price"] == pytest.approx(ref, rel=1e-9)


def test_table_shows_the_target_and_the_deduction_with_their_units(capsys: pytest.CaptureFixture[str]) -> None:
    """A target of 12.5 % is labelled 12.5 % (it was rounded to "12%": a distance the user did not ask for), and
    the tiers' deduction column says its currency (USD for a linear contract, coins for an inverse one)."""
    base = ("liqprice", "--side", "long", "--size", "1", "--entry", "40000", "--sim")
    got = dtrack(capsys, *base, "--venue", "binance", "--symbol", "BTCUSDT", "--target-distance", "12.5")
    assert got.code == 0, got.err
    assert "max for 12.5% away" in got.out and "max for 12% away" not in got.out
    assert "Deduction (USD)" in got.out
    inverse = dtrack(capsys, *base, "--venue", "bybit", "--symbol", "BTCUSD", "--leverage", "10")
    assert inverse.code == 0, inverse.err
    assert "Deduction (coins)" in inverse.out


@pytest.mark.parametrize(("argv", "needle"), [
    (("--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--size", "1", "--entry", "100000",
      "--leverage", "200"), "above the 150x"),
    (("--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--size", "-1", "--leverage", "5"),
     "bad --size"),
    (("--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--size", "1", "--leverage", "5", "--margin",
      "100"), "not both"),
    (("--venue", "kraken", "--symbol", "BTCUSDT", "--side", "long", "--size", "1", "--leverage", "5"),
     "unknown venue"),
    (("--venue", "binance", "--symbol", "NOPEUSDT", "--side", "long", "--size", "1", "--leverage", "5"),
     "NOPEUSDT"),
])
def test_bad_input_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], needle: str) -> None:
    got = dtrack(capsys, "liqprice", *argv, "--sim")
    assert got.code == 2, got.err
    assert needle in got.err and got.err.count("\n") == 1 and "Traceback" not in got.err
