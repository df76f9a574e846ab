"""Screens across every symbol (``funding --top``, ``oi --top``, ``basis --sort``, ``--sort`` / ``--limit`` on the
option chain and the arbitrage pairs) and the CSV of every view, against the simulated venues (a pinned market and
clock): each screen checked against an independent computation over the sim's full listing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.clirun import dtrack as run_cli
from tests.conftest import SimThread

from dtrack.schemas import load_schema
from dtrack.sim.model import PERPS, MarketModel
from dtrack.sim.server import settings_document

PINNED_MS = 1_796_380_800_000  # 2026-12-04T08:00:00Z
PINNED = "2026-12-04T08:00:00Z"
#: every asset the sim lists a perpetual of
SIM_ASSETS = sorted({p.asset for p in PERPS})
#: venues whose funding settles at discrete times (the model's rate is the venue's): APR = rate x 8760 / interval
DISCRETE = ("binance", "bybit", "okx", "hyperliquid", "dydx")


@pytest.fixture(scope="module")
def pinned_sim() -> Iterator[SimThread]:
    server = SimThread(model=MarketModel(seed=7, now_ms=PINNED_MS))
    yield server
    server.close()


@pytest.fixture
def config(pinned_sim: SimThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings_document(pinned_sim.venue_urls())), encoding="utf-8")
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DTRACK_STORE", str(tmp_path / "no-store.db"))
    monkeypatch.setenv("DTRACK_NOW", PINNED)
    monkeypatch.delenv("COLUMNS", raising=False)
    return path


def _run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str, fmt: str = "json") -> Any:
    got = run_cli(capsys, "--config", str(config), *argv, "--format", fmt)
    assert got.code == 0, got.err
    if fmt == "json":
        doc = got.json()
        jsonschema.validate(doc, load_schema(doc["command"]))
        return doc
    return got


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- funding ---------------------------------------------------------------------------------------------------------


def test_funding_top_10_by_apr_is_the_ten_highest_of_every_listed_perpetual(capsys: pytest.CaptureFixture[str],
                                                                            config: Path) -> None:
    screen = _run(capsys, config, "funding", "--top", "10", "--sort", "apr")
    everything = _run(capsys, config, "funding", *SIM_ASSETS)  # every perpetual of every asset, no screen
    assert len(everything["rates"]) == len(PERPS) and screen["screen"]["screened"] == len(PERPS)
    expected = sorted(everything["rates"], key=lambda r: -r["apr"])[:10]
    assert [(r["venue"], r["symbol"]) for r in screen["rates"]] == [(r["venue"], r["symbol"]) for r in expected]
    assert [r["apr"] for r in screen["rates"]] == [r["apr"] for r in expected]
    # and each APR of a discrete-settlement venue is the simulated market's own rate x 8760 / interval
    model = MarketModel(seed=7, now_ms=PINNED_MS)
    checked = 0
    for row in screen["rates"]:
        if row["venue"] in DISCRETE:
            perp = model.perp(row["venue"], row["symbol"])
            assert perp is not None
            rate, _next = model.current_funding(perp, PINNED_MS)
            assert row["apr"] == pytest.approx(rate * 8760 / perp.interval_h, rel=1e-9), row["symbol"]
            checked += 1
    assert checked >= 3
    assert [s["asset"] for s in screen["summary"]] == sorted({r["asset"] for r in screen["rates"]},
                                                              key=SIM_ASSETS.index)


def test_funding_screens_by_rate_oi_and_spread(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    everything = _run(capsys, config, "funding", *SIM_ASSETS)["rates"]
    by_rate = _run(capsys, config, "funding", "--top", "5", "--sort", "rate")["rates"]
    assert [abs(r["rate_8h"]) for r in by_rate] == sorted((abs(r["rate_8h"]) for r in everything), reverse=True)[:5]
    by_oi = _run(capsys, config, "funding", "--top", "5", "--sort", "oi")["rates"]
    assert [r["open_interest_usd"] for r in by_oi] == sorted(
        (r["open_interest_usd"] for r in everything if r["open_interest_usd"] is not None), reverse=True)[:5]
    doc = _run(capsys, config, "funding", "--top", "6", "--sort", "spread")
    spreads = {(s["venue"], s["symbol"]): s for s in doc["screen"]["spreads"]}
    # independent: each perpetual's 8h rate minus the lowest of its asset on another venue
    want = []
    for r in everything:
        others = [o["rate_8h"] for o in everything if o["asset"] == r["asset"] and o["venue"] != r["venue"]]
        if others:
            want.append((r["rate_8h"] - min(others), r["venue"], r["symbol"]))
    want.sort(key=lambda x: -x[0])
    assert [(r["venue"], r["symbol"]) for r in doc["rates"]] == [(v, s) for _, v, s in want[:6]]
    for value, venue, symbol in want[:6]:
        assert spreads[(venue, symbol)]["spread_8h"] == pytest.approx(value, abs=1e-15)


def test_funding_min_oi_and_sort_without_top(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    floor = 200_000_000.0
    doc = _run(capsys, config, "funding", "--top", "50", "--min-oi", str(floor))
    assert doc["rates"] and all(r["open_interest_usd"] >= floor for r in doc["rates"])
    assert doc["screen"]["min_oi_usd"] == floor
    ordered = _run(capsys, config, "funding", "BTC", "--sort", "oi")["rates"]
    every = _run(capsys, config, "funding", "BTC")["rates"]
    assert len(ordered) == len(every)  # an ordering drops nothing
    known = [r["open_interest_usd"] for r in ordered if r["open_interest_usd"] is not None]
    assert known == sorted(known, reverse=True)


def test_arbitrage_pairs_sort_and_limit(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    every = _run(capsys, config, "funding", "BTC", "--arb")["arbitrage"]
    doc = _run(capsys, config, "funding", "BTC", "--arb", "--sort", "spread", "--limit", "3")
    assert [p["spread_8h"] for p in doc["arbitrage"]] == sorted((p["spread_8h"] for p in every), reverse=True)[:3]
    default = _run(capsys, config, "funding", "BTC", "--arb", "--limit", "4")["arbitrage"]
    assert [p["net_apr"] for p in default] == [p["net_apr"] for p in every[:4]]


def test_funding_screen_table_fits_80_columns(capsys: pytest.CaptureFixture[str], config: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    got = _run(capsys, config, "funding", "--top", "10", "--sort", "spread", fmt="table")
    lines = got.out.splitlines()
    assert "TOP 10 PERPETUALS BY SPREAD" in got.out and max(len(line) for line in lines) <= 80
    assert sum(1 for line in lines if line.strip()[:3].strip().isdigit()) == 10


# --- open interest and basis -----------------------------------------------------------------------------------------


def test_oi_top_by_oi_and_by_24h_change(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    every = _run(capsys, config, "oi", *SIM_ASSETS, "--changes")["rows"]
    by_oi = _run(capsys, config, "oi", "--top", "5")
    assert by_oi["screen"]["sort"] == "oi" and by_oi["screen"]["screened"] == len(every)
    assert [(r["venue"], r["symbol"]) for r in by_oi["rows"]] == [
        (r["venue"], r["symbol"]) for r in sorted(every, key=lambda r: -r["oi_usd"])[:5]]
    by_change = _run(capsys, config, "oi", "--top", "5", "--sort", "change_24h")["rows"]
    ranked = sorted((r for r in every if r["change_24h"] is not None), key=lambda r: -r["change_24h"])[:5]
    assert [(r["venue"], r["symbol"], r["change_24h"]) for r in by_change] == [
        (r["venue"], r["symbol"], r["change_24h"]) for r in ranked]


def test_basis_all_sorted_by_annualized(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    every = _run(capsys, config, "basis", "--all")["rows"]
    doc = _run(capsys, config, "basis", "--all", "--sort", "annualized", "--limit", "10")
    want = sorted((r for r in every if r["annualized"] is not None), key=lambda r: -r["annualized"])[:10]
    assert [(r["venue"], r["symbol"], r["annualized"]) for r in doc["rows"]] == [
        (r["venue"], r["symbol"], r["annualized"]) for r in want]
    nearest = _run(capsys, config, "basis", "BTC", "--sort", "days")["rows"]
    days = [r["days_to_expiry"] for r in nearest if r["days_to_expiry"] is not None]
    assert days == sorted(days) and nearest[-1]["kind"] == "perp"  # perpetuals have no expiry: last


# --- the option chain ------------------------------------------------------------------------------------------------


def test_option_chain_sort_and_limit_per_asset(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    full = _run(capsys, config, "options", "BTC", "ETH", "--chain")["chain"]
    doc = _run(capsys, config, "options", "BTC", "ETH", "--chain", "--sort", "oi", "--limit", "5")
    for asset in ("BTC", "ETH"):
        mine = [r for r in doc["chain"] if r["asset"] == asset]
        want = sorted((r for r in full if r["asset"] == asset), key=lambda r: -r["oi"] * r["contract_size"])[:5]
        assert [r["oi"] * r["contract_size"] for r in mine] == [r["oi"] * r["contract_size"] for r in want]
    ivs = [r["mark_iv"] for r in _run(capsys, config, "options", "BTC", "--chain", "--sort", "iv", "--limit", "8")[
        "chain"]]
    assert ivs == sorted(ivs, reverse=True) and len(ivs) == 8


# --- CSV of every view, each row with its time ---------------------------------------------------------------------


def test_csv_of_the_arbitrage_view(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    pairs = _run(capsys, config, "funding", "BTC", "ETH", "--arb")["arbitrage"]
    got = _run(capsys, config, "funding", "BTC", "ETH", "--arb", fmt="csv")
    rows = _csv(got.out)
    assert len(rows) == len(pairs) and "CSV holds the arbitrage pairs" in got.err
    assert all(r["time"] == PINNED and r["long_time"] and r["short_time"] for r in rows)
    assert [float(r["net_apr"]) for r in rows] == pytest.approx([p["net_apr"] for p in pairs], rel=1e-12)


def test_csv_of_the_divergence_view(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    div = _run(capsys, config, "oi", "BTC", "--divergence")["divergence"]
    rows = _csv(_run(capsys, config, "oi", "BTC", "--divergence", fmt="csv").out)
    assert [(r["venue"], r["signal"]) for r in rows] == [(d["venue"], d["signal"] or "") for d in div]
    assert all(r["time"] == PINNED for r in rows)


def test_csv_of_the_gex_and_flow_views(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    doc = _run(capsys, config, "options", "BTC", "--gex", "--flow")
    gex = _csv(_run(capsys, config, "options", "BTC", "--gex", fmt="csv").out)
    assert len(gex) == len(doc["gex"]) and all(r["time"] == PINNED for r in gex)
    assert [float(r["gex_usd"]) for r in gex] == pytest.approx([g["gex_usd"] for g in doc["gex"]], rel=1e-12)
    flow = _csv(_run(capsys, config, "options", "BTC", "--flow", fmt="csv").out)
    assert len(flow) == len(doc["flow"]["trades"]) > 0
    assert [r["time"] for r in flow] == [t["time"] for t in doc["flow"]["trades"]]


# --- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "needle"), [
    (("funding",), "--top"),
    (("funding", "BTC", "--limit", "3"), "--arb"),
    (("funding", "--top", "0"), "--top"),
    (("oi", "--top", "5", "--divergence"), "--divergence"),
    (("options", "BTC", "--sort", "oi"), "--chain"),
    (("basis", "BTC", "--sort", "yield"), "--sort"),
])
def test_bad_input_one_line_exit_2(capsys: pytest.CaptureFixture[str], config: Path, argv: tuple[str, ...],
                                   needle: str) -> None:
    got = run_cli(capsys, "--config", str(config), *argv)
    assert got.code == 2 and needle in got.err and len(got.err.strip().splitlines()) == 1, got.err


@pytest.mark.parametrize("argv", [("funding", "BTC"), ("basis", "BTC"), ("options", "BTC"), ("oi", "BTC"),
                                  ("options", "BTC", "--chain", "--limit", "3")])
def test_every_csv_row_has_its_time(capsys: pytest.CaptureFixture[str], config: Path, argv: tuple[str, ...]) -> None:
    rows = _csv(_run(capsys, config, *argv, fmt="csv").out)
    # the venue's own time, or (a venue that sends none: Hyperliquid, dYdX) when dtrack received the row
    assert rows and all(r["time"] or r["received_at"] for r in rows)
    if argv[0] in ("basis", "options") and "--chain" not in argv:  # computed rows: when dtrack computed them
        assert {r["time"] for r in rows} == {PINNED}
