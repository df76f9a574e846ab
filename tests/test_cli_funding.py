"""``dtrack funding`` end to end against the in-process simulated venues (real sockets, real adapters)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clirun import dtrack

#: every active venue (dYdX and GMX since the DEX issue)
ACTIVE = {"binance", "bybit", "okx", "deribit", "hyperliquid", "dydx", "gmx"}
#: the venues that publish a funding history dtrack reads (GMX: its /v1/rates snapshots since the DEX issue)
WITH_HISTORY = ACTIVE
FIELDS = ("venue", "asset", "symbol", "margin", "quote", "rate", "interval_hours", "interval_source", "rate_8h",
          "apr", "predicted_rate", "next_funding_time", "mark_price", "index_price", "open_interest_usd",
          "avg_24h_8h", "avg_7d_8h", "alert", "time", "received_at")


pytestmark = pytest.mark.usefixtures("private_dirs")


@pytest.fixture(scope="module")
def four_assets() -> dict[str, Any]:
    """One full run shared by several tests (module scope: run once)."""
    mp = pytest.MonkeyPatch()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"dtrack-cli-{os.getpid()}"
    mp.setenv("DTRACK_CACHE_DIR", str(tmp / "cache"))
    mp.setenv("DTRACK_STATE_DIR", str(tmp / "state"))
    try:
        proc = subprocess.run([sys.executable, "-m", "dtrack", "funding", "BTC", "ETH", "SOL", "PEPE", "--sim",
                               "--format", "json", "--arb", "--position", "10000", "--side", "short",
                               "--alert-threshold", "0.01"], capture_output=True, text=True, timeout=120,
                              env={**os.environ})
    finally:
        mp.undo()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    import json

    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def test_rows_from_every_active_venue_with_every_field(four_assets: dict[str, Any]) -> None:
    rates = four_assets["rates"]
    assert {r["venue"] for r in rates} == ACTIVE
    assert four_assets["errors"] == []
    for asset in ("BTC", "ETH", "SOL", "PEPE"):
        assert {r["venue"] for r in rates if r["asset"] == asset} >= {"binance", "bybit", "okx", "hyperliquid",
                                                                      "dydx", "gmx"}
    for row in rates:
        for field in FIELDS:
            assert field in row, (row["venue"], row["symbol"], field)
        assert row["margin"] in ("linear", "inverse")
        assert row["rate_8h"] == pytest.approx(row["rate"] * 8 / row["interval_hours"], rel=1e-12, abs=1e-18)
        assert row["apr"] == pytest.approx(row["rate"] * 8760 / row["interval_hours"], rel=1e-12, abs=1e-18)
        assert row["interval_source"]
        assert row["open_interest_usd"] is None or row["open_interest_usd"] > 0
    intervals = {r["interval_hours"] for r in rates}
    assert {1, 4, 8} <= intervals
    # continuous accrual (Deribit, GMX) is shown as an 8 h-equivalent with no settlement time
    for row in rates:
        assert row["continuous"] == (row["next_funding_time"] is None)
        if row["continuous"]:
            assert row["interval_hours"] == 8
    assert {r["venue"] for r in rates if r["continuous"]} == {"deribit", "gmx"}
    assert {r["interval_hours"] for r in rates if r["venue"] == "dydx"} == {1}
    assert any(r["rate"] < 0 for r in rates)
    assert {r["margin"] for r in rates} == {"linear", "inverse"}
    assert {r["quote"] for r in rates} >= {"USDT", "USDC", "USD"}


def test_multiplier_symbols_are_priced_per_one_coin(four_assets: dict[str, Any]) -> None:
    pepe = [r for r in four_assets["rates"] if r["asset"] == "PEPE"]
    assert {r["symbol"] for r in pepe} >= {"1000PEPEUSDT", "kPEPE"}
    # dYdX publishes no mark apart from its oracle price: its row's price is the index
    assert all(r["mark_price"] is None and r["index_price"] for r in pepe if r["venue"] == "dydx")
    marks = [r["mark_price"] if r["venue"] != "dydx" else r["index_price"] for r in pepe]
    assert max(marks) / min(marks) < 1.01  # comparable after dividing by the multiplier


def test_averages_summary_and_times(four_assets: dict[str, Any]) -> None:
    for row in four_assets["rates"]:
        assert row["venue"] in WITH_HISTORY
        assert row["avg_7d_8h"] is not None and row["avg_24h_8h"] is not None
        if row["next_funding_time"] is not None:
            assert row["next_funding_time"].endswith("Z")
    summary = {s["asset"]: s for s in four_assets["summary"]}
    assert set(summary) == {"BTC", "ETH", "SOL", "PEPE"}
    for s in summary.values():
        assert s["apr"] == pytest.approx(s["weighted_rate_8h"] * 1095, rel=1e-12)
        assert s["sentiment"] in ("extremely_bearish", "strongly_bearish", "moderately_bearish", "neutral",
                                  "moderately_bullish", "strongly_bullish", "extremely_bullish")
        assert s["sentiment_label"] == s["sentiment"].replace("_", " ")
    assert four_assets["as_of"].endswith("Z")


def test_alert_position_and_arbitrage(four_assets: dict[str, Any]) -> None:
    for row in four_assets["rates"]:
        assert row["alert"] == (abs(row["rate_8h"]) > 0.0001)
        pay = row["payment_usd"]
        if row["venue"] == "gmx":  # a short pays its side's funding AND borrow fee (positive = received)
            assert row["borrow_short_8h"] is not None
            expected = -(row["funding_short_8h"] + row["borrow_short_8h"]) * 10000
            assert pay["per_interval"] == pytest.approx(expected, rel=1e-12, abs=1e-12)
            assert row["cost_short_8h"] == pytest.approx(row["funding_short_8h"] + row["borrow_short_8h"], rel=1e-12)
        else:  # a short receives what a long pays, and pays no borrow
            assert pay["per_interval"] == pytest.approx(row["rate"] * 10000, rel=1e-12, abs=1e-12)
            assert (row["borrow_long_8h"], row["borrow_short_8h"]) == (None, None)
            assert row["cost_short_8h"] == -row["rate_8h"] and row["cost_long_8h"] == row["rate_8h"]
        assert pay["per_day"] == pytest.approx(pay["per_interval"] * 24 / row["interval_hours"], rel=1e-12)
    arb = four_assets["arbitrage"]
    assert arb and [a["net_apr"] for a in arb] == sorted((a["net_apr"] for a in arb), reverse=True)
    for a in arb:
        assert a["long_venue"] != a["short_venue"]
        # what the pair earns per 8 h: the short leg's income less the long leg's cost, funding and borrow
        assert a["spread_8h"] == pytest.approx(-a["long_cost_8h"] - a["short_cost_8h"], rel=1e-9, abs=1e-15)
        if "gmx" not in (a["long_venue"], a["short_venue"]):  # no borrow fee: long the lower rate, short the higher
            assert a["spread_8h"] >= 0 and a["costs_note"] == ""
            assert a["spread_8h"] == pytest.approx(a["short_rate_8h"] - a["long_rate_8h"], rel=1e-9, abs=1e-15)
        else:  # a continuous leg is never simultaneous with a settled one
            assert not a["simultaneous"] and "gmx" in a["note"] and "continuously" in a["note"]
        assert a["simultaneous"] == (a["note"] == "")
    cex_dex = [a for a in arb if {a["long_venue"], a["short_venue"]} == {"binance", "dydx"}]
    assert cex_dex and all("settles every" in a["note"] or a["simultaneous"] for a in cex_dex)


def test_min_spread_filters_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "funding", "BTC", "--sim", "--arb", "--min-spread", "0.005", "--format", "json")
    assert r.code == 0, r.err
    arb = r.json()["arbitrage"]
    assert all(a["spread_8h"] >= 0.00005 for a in arb)


def test_table_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "funding", "BTC", "SOL", "--sim", "--history", "3d")
    assert r.code == 0, r.err
    for text in ("BTC PERPETUAL FUNDING RATES", "SOL PERPETUAL FUNDING RATES", "Weighted avg (8h)", "Sentiment",
                 "FUNDING HISTORY (3d", "Next payment"):
        assert text in r.out
    c = dtrack(capsys, "--sim", "funding", "eth", "--format", "csv")
    assert c.code == 0, c.err
    rows = list(csv.DictReader(io.StringIO(c.out)))
    assert rows and set(rows[0]) == set(FIELDS) and {row["asset"] for row in rows} == {"ETH"}


def test_history_statistics(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "funding", "SOL", "--sim", "--history", "30d", "--venue", "okx", "--venue", "bybit",
               "--format", "json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["history_window_hours"] == 720
    for row in doc["rates"]:
        h = row["history"]
        assert h["count"] >= 30 * 24 / row["interval_hours"] - 1
        assert h["min_8h"] <= h["mean_8h"] <= h["max_8h"] and h["trend"] in ("rising", "falling", "flat")


def test_ccxt_style_symbol_narrows_to_one_quote(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "funding", "BTC/USDT:USDT", "--sim", "--format", "json")
    assert r.code == 0, r.err
    assert {row["quote"] for row in r.json()["rates"]} == {"USDT"}


@pytest.mark.parametrize(("argv", "needle"), [
    (("funding", "BTCC", "--sim"), "did you mean BTC"),
    (("funding", "PEPE", "--sim", "--venue", "deribit"), "no perpetual for 'PEPE' on deribit"),
    (("funding", "BTC", "--venue", "bitmex"), "closed on 2026-09-23"),
    (("funding", "BTC", "--venue", "kraken"), "unknown venue 'kraken'"),
    (("funding", "BTC", "--venue", "drift"), "Drift (halted) does not offer funding in dtrack: halted since the "
                                            "2026-04-01 exploit"),
    (("funding", "BTC", "--history", "7x"), "expected a duration"),
    (("funding", "BTC", "--position", "100"), "--position and --side go together"),
    (("funding", "BTC", "--min-spread", "0.1"), "add --arb"),
    (("funding", "BTC", "--format", "xml"), "Invalid value for '--format'"),
    (("funding", "BTC/EUR", "--sim"), "no perpetual matches 'BTC/EUR'; listed: BTC/USD:"),
    (("funding", "BTC", "--position", "nan", "--side", "long"), "--position must be a positive USD notional"),
    (("funding", "BTC", "--position", "inf", "--side", "long"), "--position must be a positive USD notional"),
    (("funding", "BTC", "--alert-threshold", "nan"), "--alert-threshold is a percent per 8 h"),
    (("funding", "BTC", "--arb", "--min-spread", "-1"), "--min-spread is a percent per 8 h"),
    (("funding", "BTC", "--history", "1000d"), "expected between 1h and 365d"),
    (("funding", "BTC", "--history", "99999999999d"), "expected a duration like"),
    (("funding", "BTC", "--history", "0h"), "expected between 1h and 365d"),
    (("funding",), "name at least one asset, e.g. BTC, or screen every listed perpetual with --top N"),
])
def test_bad_input_gets_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                            needle: str) -> None:
    r = dtrack(capsys, *argv)
    assert r.code == 2 and needle in r.err and "Traceback" not in r.err
    assert r.out == ""


def test_bad_config_names_the_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("http:\n  timeout: soon\n")
    r = dtrack(capsys, "--config", str(cfg), "funding", "BTC")
    assert r.code == 1 and "http.timeout" in r.err and len(r.err.strip().splitlines()) == 1


def test_venues_lists_status(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "venues", "--format", "json")
    venues = {v["venue"]: v for v in r.json()["venues"]}
    assert venues["bitmex"]["status"] == "closed" and venues["bitmex"]["closed_on"] == "2026-09-23"
    assert {v for v, info in venues.items() if info["status"] == "active"} == ACTIVE
    assert venues["drift"]["status"] == "halted" and "Velocity" in venues["drift"]["note"]
    assert venues["drift"]["capabilities"] == []


def test_module_entry_point_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "dtrack", "funding", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "--alert-threshold" in proc.stdout and "8760" in proc.stdout


def test_config_errors_and_disabled_venues(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("venues:\n  kraken: {enabled: false}\n")
    r = dtrack(capsys, "--config", str(cfg), "funding", "BTC")
    assert r.code == 1 and "unknown settings key venues.kraken; known venues: binance," in r.err
    cfg.write_text("".join(f"  {v}: {{enabled: false}}\n" for v in ACTIVE).join(["venues:\n", ""]))
    r = dtrack(capsys, "--config", str(cfg), "funding", "BTC", "--sim")
    assert r.code == 2 and "every venue offering funding is disabled" in r.err


def test_csv_carries_history_and_payments(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "funding", "SOL", "--sim", "--format", "csv", "--history", "2d", "--position", "1000",
               "--side", "long")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert rows and int(rows[0]["history_count"]) > 0
    for row in rows:
        if row["venue"] == "gmx":  # a long also pays its borrow fee (the JSON's per-side figures: see above)
            continue
        assert float(row["payment_per_interval_usd"]) == pytest.approx(-float(row["rate"]) * 1000, abs=1e-12)
    assert any(row["venue"] == "gmx" for row in rows)
    assert r.err == ""  # the rate rows are the view: nothing left out (with --arb the CSV holds the pairs)


def test_averages_equal_the_market_model(four_assets: dict[str, Any]) -> None:
    """24 h / 7 d averages recomputed independently from the simulated market (seed 7) at the report time."""
    from datetime import datetime, timedelta

    from dtrack.sim.model import MarketModel

    model = MarketModel(7)
    as_of = datetime.fromisoformat(four_assets["as_of"].replace("Z", "+00:00"))
    end_ms = int(as_of.timestamp() * 1000)
    for venue, symbol in (("binance", "BTCUSDT"), ("binance", "SOLUSDT"), ("hyperliquid", "BTC"),
                          ("okx", "ETH-USDT-SWAP"), ("bybit", "1000PEPEUSDT")):
        perp = model.perp(venue, symbol)
        assert perp is not None
        if end_ms % (perp.interval_h * 3_600_000) < 10_000:
            pytest.skip("a settlement fell between the fetch and the report time")
        row = next(r for r in four_assets["rates"] if (r["venue"], r["symbol"]) == (venue, symbol))
        for field, window in (("avg_24h_8h", timedelta(hours=24)), ("avg_7d_8h", timedelta(days=7))):
            start_ms = int((as_of - window).timestamp() * 1000) + 1
            rates = [rate * 8 / perp.interval_h for _t, rate in model.settlements(perp, start_ms, end_ms)]
            assert row[field] == pytest.approx(sum(rates) / len(rates), rel=1e-9), (venue, symbol, field)
        expected_rate, _next = model.current_funding(perp, end_ms)
        assert row["rate"] == pytest.approx(expected_rate, rel=1e-12)


def test_table_marks_alerts_without_relying_on_colour(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "funding", "SOL", "--sim", "--venue", "okx", "--alert-threshold", "0")
    assert r.code == 0, r.err
    row = next(line for line in r.out.splitlines() if "SOL-USDT-SWAP" in line)
    assert row.startswith("! okx ") and "Rows marked ! exceed the alert threshold" in r.out
    assert "\x1b[" not in r.out  # no colour in a pipe: the mark is the text
    assert all(line.startswith(("! ", "  ")) for line in r.out.splitlines() if " SOL-" in line and "SWAP" in line)
