"""``dtrack oi`` and ``dtrack basis`` end to end against the simulated venues (real sockets, real adapters):
the checks the issue names (every venue answers, oi_usd follows from amount/unit/contract size/price_used,
shares sum to 1, annualized follows from basis and days, constant maturity between its neighbours), the
values against the market model, faults, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from clirun import dtrack
from dtrack.sim.server import settings_document

#: every active venue (dYdX and GMX since the DEX issue)
ACTIVE = {"binance", "bybit", "okx", "deribit", "hyperliquid", "dydx", "gmx"}
WITH_FUTURES = {"binance", "bybit", "okx", "deribit"}
#: venues publishing open-interest history (dYdX: its candles' startingOpenInterest)
WITH_HISTORY = {"binance", "bybit", "okx", "dydx"}


pytestmark = pytest.mark.usefixtures("private_dirs")


def run_json(*argv: str) -> dict[str, Any]:
    """``python -m dtrack ARGV --sim --format json`` in a subprocess (exit 0, no traceback)."""
    proc = subprocess.run([sys.executable, "-m", "dtrack", *argv, "--sim", "--format", "json"], capture_output=True,
                          text=True, timeout=180, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


@pytest.fixture(scope="module")
def oi_doc() -> dict[str, Any]:
    return run_json("oi", "BTC", "ETH", "--changes", "--divergence")


@pytest.fixture(scope="module")
def basis_doc() -> dict[str, Any]:
    return run_json("basis", "BTC", "ETH", "--min-yield", "0")


# --- oi -------------------------------------------------------------------------------------------


def test_oi_rows_from_every_venue_with_every_field(oi_doc: dict[str, Any]) -> None:
    assert oi_doc["errors"] == []
    rows = oi_doc["rows"]
    assert {r["venue"] for r in rows} == ACTIVE
    assert {r["venue"] for r in rows if r["kind"] == "future"} == WITH_FUTURES
    fields = ("venue", "asset", "symbol", "kind", "oi_amount", "oi_unit", "contract_size", "inverse", "oi_base",
              "oi_usd", "price_used", "share", "change_1h", "change_4h", "change_24h", "change_7d",
              "long_short_ratio", "long_share")
    for row in rows:
        assert all(f in row for f in fields), row


def test_oi_usd_follows_from_amount_unit_contract_size_and_price(oi_doc: dict[str, Any]) -> None:
    for r in oi_doc["rows"]:
        amount, size, mult, px = r["oi_amount"], r["contract_size"], r["multiplier"], r["price_used"]
        if r["oi_unit"] == "contracts":
            usd = amount * size if r["contract_unit"] == "usd" else amount * size * mult * px
        elif r["oi_unit"] in ("usd", "quote"):
            usd = amount
        else:
            usd = amount * mult * px
        assert r["oi_usd"] == pytest.approx(usd, rel=1e-9), r
        assert r["oi_base"] == pytest.approx(usd / px, rel=1e-9), r
        if r["oi_long_usd"] is not None:  # GMX: USD positions against a pool, linear; both sides shown
            assert r["venue"] == "gmx" and not r["inverse"] and r["oi_unit"] == "usd"
            assert r["oi_usd"] == pytest.approx(r["oi_long_usd"] + r["oi_short_usd"], rel=1e-12)
        else:
            assert r["inverse"] == (r["contract_unit"] == "usd" or r["oi_unit"] == "usd")
            assert r["oi_short_usd"] is None


def test_shares_sum_to_one_and_totals(oi_doc: dict[str, Any]) -> None:
    for s in oi_doc["summary"]:
        rows = [r for r in oi_doc["rows"] if r["asset"] == s["asset"]]
        assert sum(r["share"] for r in rows) == pytest.approx(1.0, abs=1e-9)
        assert s["total_oi_usd"] == pytest.approx(sum(r["oi_usd"] for r in rows), rel=1e-12)
        assert sum(v["share"] for v in s["venues"]) == pytest.approx(1.0, abs=1e-9)
        assert set(s["venues_with_history"]) == WITH_HISTORY
        for w in ("1h", "4h", "24h", "7d"):
            assert isinstance(s[f"change_{w}"], float)


def test_changes_where_history_exists_and_reasons_elsewhere(oi_doc: dict[str, Any]) -> None:
    for r in oi_doc["rows"]:
        if r["kind"] == "perp" and r["venue"] in WITH_HISTORY:
            assert all(isinstance(r[f"change_{w}"], float) for w in ("1h", "4h", "24h", "7d")), r
        else:
            assert r["change_7d"] is None and r["change_note"], r
    deribit = [r for r in oi_doc["rows"] if r["venue"] == "deribit"]
    assert all("Deribit" in r["change_note"] for r in deribit)


def test_long_short_where_published(oi_doc: dict[str, Any]) -> None:
    for s in oi_doc["summary"]:
        venues = {x["venue"] for x in s["long_short"]}
        assert venues == {"binance", "bybit", "okx"}
        for x in s["long_short"]:
            assert x["definition"]
            assert x["long_share"] == pytest.approx(x["ratio"] / (1 + x["ratio"]), rel=1e-3)


def test_divergence_per_venue_and_aggregate(oi_doc: dict[str, Any]) -> None:
    signals = {"bullish": "bullish (new longs)", "bearish": "bearish (new shorts)",
               "short_squeeze": "short squeeze / short covering", "long_liquidation": "long liquidation / capitulation",
               "neutral": "neutral"}
    for asset in ("BTC", "ETH"):
        items = {d["venue"]: d for d in oi_doc["divergence"] if d["asset"] == asset}
        assert set(items) == ACTIVE | {"all"}
        for v in WITH_HISTORY | {"all"}:
            assert items[v]["signal"] in signals and items[v]["window"] == "24h"
            assert items[v]["label"] == signals[items[v]["signal"]]
            assert 0.0 <= items[v]["confidence"] <= 1.0
        for v in ("deribit", "hyperliquid", "gmx"):
            assert items[v]["signal"] is None and items[v]["label"] is None and items[v]["note"]


def test_oi_values_match_the_market_model(oi_doc: dict[str, Any]) -> None:
    from dtrack.sim.model import MarketModel
    from dtrack.sim.venues.gmx import pool_state

    model = MarketModel(7)
    seen = set()
    for r in oi_doc["rows"]:
        if r["venue"] not in ("bybit", "hyperliquid", "dydx", "gmx") or r["kind"] != "perp":
            continue
        seen.add(r["venue"])
        as_of = r["time"] or r["received_at"]  # Hyperliquid, dYdX and GMX send no time: as of its receipt
        t = int(datetime.fromisoformat(as_of.replace("Z", "+00:00")).timestamp() * 1000)
        if r["venue"] == "gmx":  # "<chain>:<pool>": the pool's longs and shorts, USD
            chain, name = r["symbol"].split(":", 1)
            state = pool_state(model, next(p for p in model.perps("gmx", chain) if p.symbol == name), t)
            assert r["oi_long_usd"] == pytest.approx(state["long_usd"], rel=2e-3), r
            assert r["oi_short_usd"] == pytest.approx(state["short_usd"], rel=2e-3), r
            continue
        perp = model.perp(r["venue"], r["symbol"])
        assert perp is not None
        expected = model.open_interest_base(perp, t) * perp.multiplier
        assert r["oi_base"] == pytest.approx(expected, rel=2e-3), r  # the sim rounds amounts
    assert seen == {"bybit", "hyperliquid", "dydx", "gmx"}


# --- basis ----------------------------------------------------------------------------------------


def test_basis_rows_from_every_venue(basis_doc: dict[str, Any]) -> None:
    assert basis_doc["errors"] == []
    rows = basis_doc["rows"]
    assert {r["venue"] for r in rows} == ACTIVE
    assert {r["venue"] for r in rows if r["kind"] == "future"} == WITH_FUTURES
    for r in rows:
        for f in ("venue", "asset", "symbol", "kind", "expiry", "days_to_expiry", "price", "spot_price",
                  "index_price", "basis", "basis_usd", "annualized"):
            assert f in r, (f, r)


def test_annualized_follows_from_basis_and_days(basis_doc: dict[str, Any]) -> None:
    for r in basis_doc["rows"]:
        assert r["basis_usd"] == pytest.approx(r["price"] - r["spot_price"], rel=1e-9, abs=1e-9)
        assert r["basis"] == pytest.approx(r["basis_usd"] / r["spot_price"], rel=1e-9)
        if r["kind"] == "future":
            assert r["days_to_expiry"] > 0
            assert r["annualized"] == pytest.approx(r["basis"] * 365 / r["days_to_expiry"], rel=1e-9)


def test_constant_maturity_between_neighbouring_expiries(basis_doc: dict[str, Any]) -> None:
    for asset, cms in basis_doc["constant_maturity"].items():
        term = basis_doc["term_structure"][asset]
        by_day: dict[float, list[float]] = {}
        for t in term:
            by_day.setdefault(round(t["days_to_expiry"], 6), []).append(t["annualized"])
        nodes = sorted((d, sum(v) / len(v)) for d, v in by_day.items())
        for c in cms:
            if c["annualized"] is None:
                assert c["days"] > nodes[-1][0] or c["days"] < nodes[0][0]
                continue
            below = max(n for n in nodes if n[0] <= c["days"])
            above = min(n for n in nodes if n[0] >= c["days"])
            lo, hi = sorted((below[1], above[1]))
            assert lo - 1e-12 <= c["annualized"] <= hi + 1e-12


def test_term_structure_sorted_and_structure_named(basis_doc: dict[str, Any]) -> None:
    for asset, term in basis_doc["term_structure"].items():
        days = [t["days_to_expiry"] for t in term]
        assert days == sorted(days) and len(term) >= 6, asset
    for s in basis_doc["summary"]:
        assert s["structure"] in ("contango", "backwardation", "mixed")
        assert s["spot_price"] > 0 and "median" in s["spot_source"]


def test_opportunities_are_net_of_fees(basis_doc: dict[str, Any]) -> None:
    opps = basis_doc["opportunities"]
    assert opps, "with --min-yield 0 some carry clears"
    for o in opps:
        assert o["net_yield"] == pytest.approx(o["gross_yield"] - o["fees"], rel=1e-12)
        assert o["net_yield"] >= 0 and o["fees"] > 0
        assert o["strategy"] in ("cash_and_carry", "reverse_cash_and_carry", "perp_funding_carry")
        labels = {"cash_and_carry": "cash-and-carry", "reverse_cash_and_carry": "reverse cash-and-carry",
                  "perp_funding_carry": "perp funding carry"}
        assert o["strategy_label"] == labels[o["strategy"]]


def test_basis_all_scans_assets_with_futures(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "basis", "--all", "--sim", "--format", "json", "--quarterly")
    assert r.code == 0, r.err
    doc = r.json()
    assert {s["asset"] for s in doc["summary"]} == {"BTC", "ETH", "SOL"}
    for row in doc["rows"]:
        if row["kind"] == "future":
            t = datetime.fromisoformat(row["expiry"].replace("Z", "+00:00"))
            assert t.month in (3, 6, 9, 12) and t.weekday() == 4 and t.day > 21


def test_tables_render(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "oi", "SOL", "--sim", "--changes")
    assert r.code == 0, r.err
    assert "SOL OPEN INTEREST" in r.out and "TOTAL" in r.out
    r = dtrack(capsys, "basis", "BTC", "--sim", "--min-yield", "1")
    assert r.code == 0, r.err
    assert "TERM STRUCTURE" in r.out and "Constant maturity" in r.out


# --- faults and bad input ------------------------------------------------------------------------


def write_config(path: Path, urls: dict[str, dict[str, str]]) -> Path:
    doc: dict[str, Any] = settings_document(urls)
    # the faults answer at once (no timeout fault here): no short request timeout a busy machine could exceed
    doc["http"] = {"timeout": 60.0, "retries": 1, "backoff": 0.05, "max_wait": 3}
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(("venue", "kind", "error_kind"), [("okx", "500", "unavailable"),
                                                           ("binance", "451", "blocked"),
                                                           ("deribit", "malformed", "parse")])
def test_a_failed_venue_leaves_the_others(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          sim_factory: Callable[..., Any], venue: str, kind: str,
                                          error_kind: str) -> None:
    server = sim_factory(faults={venue: kind})
    cfg = write_config(tmp_path / "sim.yaml", server.venue_urls())
    for argv in (("oi", "BTC", "--changes"), ("basis", "BTC")):
        r = dtrack(capsys, "--config", str(cfg), *argv, "--format", "json")
        assert r.code == 3, r.err
        assert "Traceback" not in r.err
        doc = r.json()
        assert {row["venue"] for row in doc["rows"]} == ACTIVE - {venue}
        assert {(e["venue"], e["kind"]) for e in doc["errors"]} == {(venue, error_kind)}
        assert f"dtrack: {venue} [{error_kind}]" in r.err
        if argv[0] == "oi":
            assert sum(x["share"] for x in doc["rows"]) == pytest.approx(1.0)


@pytest.mark.parametrize(("argv", "needle"), [
    (("oi", "BTC", "--window", "4h"), "--window sets the divergence window"),
    (("oi", "BTC", "--divergence", "--window", "40d"), "between 1h and 30d"),
    (("oi", "BTCX"), "BTCX"),
    (("oi", "BTC-NOPE"), "unknown asset 'BTC-NOPE'; did you mean BTC?"),
    (("basis", "BTC", "--all"), "not both"),
    (("basis", "BTC", "--min-yield", "nan"), "--min-yield"),
    (("oi", "BTC", "--venue", "bitmex"), "closed on 2026-09-23"),
    (("oi", "BTC", "--venue", "drift"), "Drift (halted) does not offer open_interest in dtrack"),
])
def test_bad_input_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], needle: str) -> None:
    r = dtrack(capsys, *argv, "--sim")
    assert r.code == 2, (r.code, r.err)
    assert needle in r.err and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


@pytest.mark.parametrize(("symbol", "contracts"), [
    ("BTC/USDT:USDT", {("binance", "BTCUSDT"), ("bybit", "BTCUSDT"), ("okx", "BTC-USDT-SWAP")}),
    ("btcusdt", {("binance", "BTCUSDT"), ("bybit", "BTCUSDT")}),
    ("BTC-PERPETUAL", {("deribit", "BTC-PERPETUAL")}),
])
def test_a_contract_symbol_narrows_oi_to_its_contracts(capsys: pytest.CaptureFixture[str], symbol: str,
                                                        contracts: set[tuple[str, str]]) -> None:
    """A ccxt or venue-native symbol names contracts: only they are shown, and their shares sum to 1."""
    r = dtrack(capsys, "oi", symbol, "--sim", "--format", "json")
    assert r.code == 0, r.err
    doc = r.json()
    assert {(row["venue"], row["symbol"]) for row in doc["rows"]} == contracts
    assert sum(row["share"] for row in doc["rows"]) == pytest.approx(1.0)
