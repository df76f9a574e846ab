"""``dtrack dashboard`` and ``--watch`` against the simulated venues on a real socket (a pinned market and clock, so
that the dashboard and the other commands see the same moment): the JSON document valid at each level, its numbers
equal to those of ``funding``, ``oi``, ``basis`` and ``options``, every request of a warm dashboard in one round,
a failed venue leaving the rest (exit 3), sparklines from the store, tables within 80 / 120 / 200 columns, and the
refresh loop (frames, JSON lines, Ctrl-C exits 0)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.clirun import dtrack as run_cli
from tests.conftest import SimThread

import dtrack
from dtrack.client.queries.dashboard import NOT_IN_BUILD, Outcome, _liquidation_panel
from dtrack.report.dashboard import spark
from dtrack.schemas import load_schema
from dtrack.sim.model import MarketModel
from dtrack.sim.server import settings_document

PINNED_MS = 1_796_380_800_000  # 2026-12-04T08:00:00Z
PINNED = "2026-12-04T08:00:00Z"
ASSETS = ("BTC", "ETH", "SOL")


@pytest.fixture(scope="module")
def pinned_sim() -> Iterator[SimThread]:
    server = SimThread(model=MarketModel(seed=7, now_ms=PINNED_MS), latency_ms=20.0)
    yield server
    server.close()


def _config(sim: SimThread, tmp: Path) -> Path:
    """Settings pointing every venue at ``sim``. The sim answers from a thread of the test's own process, which a
    level-3 dashboard keeps busy: on a loaded 2-core machine an answer took longer than the default 10 s request
    timeout, and a venue dropped out of a panel. These tests compare numbers, not speed: generous timeouts."""
    doc = settings_document(sim.venue_urls())
    doc["http"] = {"timeout": 120, "deadline": 300}
    path = tmp / "settings.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def config(pinned_sim: SimThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings pointing every venue at the pinned sim; private cache, state and (absent) store; dtrack's clock
    pinned to the sim's."""
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DTRACK_STORE", str(tmp_path / "no-store.db"))
    monkeypatch.setenv("DTRACK_NOW", PINNED)
    monkeypatch.delenv("COLUMNS", raising=False)
    return _config(pinned_sim, tmp_path)


def _json(capsys: pytest.CaptureFixture[str], config: Path, *argv: str, code: int = 0) -> dict[str, Any]:
    got = run_cli(capsys, "--config", str(config), *argv, "--format", "json")
    assert got.code == code, got.err
    doc: dict[str, Any] = got.json()
    return doc


@pytest.fixture(scope="module")
def docs(pinned_sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The level-3 dashboard of BTC ETH SOL and the other commands' documents of the same (pinned) moment."""
    tmp = tmp_path_factory.mktemp("dash")
    cfg = _config(pinned_sim, tmp)
    env = {"DTRACK_CACHE_DIR": str(tmp / "cache"), "DTRACK_STATE_DIR": str(tmp / "state"),
           "DTRACK_STORE": str(tmp / "no-store.db"), "DTRACK_NOW": PINNED}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    try:
        with dtrack.Client(config=cfg, timeout=300) as dt:  # the sim shares this process: no deadline to race
            out: dict[str, Any] = {
                "dashboard": dt.dashboard(list(ASSETS), level=3).to_dict(),
                "funding": dt.funding(list(ASSETS), arb=True).to_dict(),
                "oi": dt.open_interest(list(ASSETS), changes=True, divergence=True).to_dict(),
                "basis": dt.basis(list(ASSETS), min_yield=0).to_dict(),
                **{f"options:{a}": dt.options(a).to_dict() for a in ASSETS},
                "liquidation_map": dt.liquidation_map(list(ASSETS)).to_dict(),
            }
    finally:
        mp.undo()
    return out


# --- the document ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
def test_json_is_one_document_valid_at_each_level(capsys: pytest.CaptureFixture[str], config: Path,
                                                  level: int) -> None:
    doc = _json(capsys, config, "dashboard", *ASSETS, "--level", str(level))
    jsonschema.validate(doc, load_schema("dashboard"))
    assert doc["command"] == "dashboard" and doc["level"] == level and doc["as_of"] == PINNED
    assert [a["asset"] for a in doc["assets"]] == list(ASSETS) and doc["errors"] == []
    for a in doc["assets"]:
        h = a["headline"]
        assert h["funding_rate_8h"] is not None and h["oi_usd"] > 0 and h["atm_iv"] > 0
        assert (a["funding"] is None) == (level == 1) and (a["signals"] is None) == (level < 3)
        assert (a["risk"] is None) == (level < 3)
    panels = {p["panel"]: p for p in doc["panels"]}
    assert all(panels[p]["status"] == "ok" for p in ("funding", "open_interest", "basis", "options"))
    # no store: the liquidation panel says what is missing, with no figure
    assert panels["liquidations"]["status"] == "none" and "no history store" in panels["liquidations"]["message"]
    assert all(a["headline"]["liquidations_long_usd_24h"] is None for a in doc["assets"])


def test_level_3_is_valid_and_its_errors_are_those_of_its_queries(docs: dict[str, Any]) -> None:
    doc = docs["dashboard"]
    jsonschema.validate(doc, load_schema("dashboard"))
    assert doc["level"] == 3 and all(a["signals"] and a["risk"] for a in doc["assets"])
    theirs = {json.dumps(e, sort_keys=True) for k, d in docs.items() if k != "dashboard" for e in d["errors"]}
    assert {json.dumps(e, sort_keys=True) for e in doc["errors"]} == theirs


def test_output_is_an_alias_of_format(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    got = run_cli(capsys, "--config", str(config), "dashboard", "BTC", "--level", "1", "--output", "json")
    assert got.code == 0, got.err
    assert got.json()["command"] == "dashboard"
    clash = run_cli(capsys, "--config", str(config), "dashboard", "BTC", "--output", "json", "--format", "csv")
    assert clash.code == 2 and "disagree" in clash.err and len(clash.err.strip().splitlines()) == 1


def test_csv_is_one_headline_row_per_asset_with_its_time(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    got = run_cli(capsys, "--config", str(config), "dashboard", *ASSETS, "--level", "1", "--format", "csv")
    assert got.code == 0, got.err
    lines = got.out.strip().splitlines()
    assert lines[0].startswith("time,asset,funding_venue") and len(lines) == 1 + len(ASSETS)
    assert all(line.startswith(f"{PINNED},{a},") for line, a in zip(lines[1:], ASSETS, strict=True))


# --- the numbers are the other commands' --------------------------------------------------------------------------


def _asset(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in doc["assets"] if a["asset"] == name)


def test_funding_panel_equals_dtrack_funding(docs: dict[str, Any]) -> None:
    for name in ASSETS:
        panel = _asset(docs["dashboard"], name)["funding"]
        rows = [r for r in docs["funding"]["rates"] if r["asset"] == name]
        assert [(r["venue"], r["symbol"]) for r in panel["rates"]] == [(r["venue"], r["symbol"]) for r in rows]
        for got, want in zip(panel["rates"], rows, strict=True):
            for key in ("rate", "interval_hours", "rate_8h", "apr", "avg_24h_8h", "avg_7d_8h", "open_interest_usd",
                        "next_funding_time"):
                assert got[key] == want[key], (name, got["symbol"], key)
        summary = next(s for s in docs["funding"]["summary"] if s["asset"] == name)
        assert panel["weighted_rate_8h"] == summary["weighted_rate_8h"] and panel["sentiment"] == summary["sentiment"]
        # one primary row per venue: its largest perpetual by OI
        for venue in {r["venue"] for r in rows}:
            mine = [r for r in panel["rates"] if r["venue"] == venue]
            assert [r["primary"] for r in mine].count(True) == 1
            assert next(r for r in mine if r["primary"])["open_interest_usd"] == max(
                r["open_interest_usd"] or 0.0 for r in mine)
        head = _asset(docs["dashboard"], name)["headline"]
        top = max(rows, key=lambda r: r["open_interest_usd"] or 0.0)
        assert (head["funding_venue"], head["funding_symbol"], head["funding_rate_8h"]) == (
            top["venue"], top["symbol"], top["rate_8h"])
        assert head["weighted_rate_8h"] == summary["weighted_rate_8h"] and head["weighted_apr"] == summary["apr"]


def test_open_interest_panel_equals_dtrack_oi(docs: dict[str, Any]) -> None:
    for name in ASSETS:
        panel = _asset(docs["dashboard"], name)["open_interest"]
        summary = next(s for s in docs["oi"]["summary"] if s["asset"] == name)
        for key in ("total_oi_usd", "total_oi_base", "change_1h", "change_4h", "change_24h", "change_7d"):
            assert panel[key] == summary[key], (name, key)
        assert {v["venue"]: (v["oi_usd"], v["share"], v["change_24h"], v["change_7d"]) for v in panel["venues"]} == {
            v["venue"]: (v["oi_usd"], v["share"], v["change_24h"], v["change_7d"]) for v in summary["venues"]}
        assert sum(v["share"] for v in panel["venues"]) == pytest.approx(1.0, abs=1e-9)
        ls = panel["long_short"]
        assert ls is not None and any((r["venue"], r["definition"], r["ratio"]) == (ls["venue"], ls["definition"],
                                                                                 ls["ratio"]) for r in
                                      summary["long_short"])
        head = _asset(docs["dashboard"], name)["headline"]
        assert head["oi_usd"] == summary["total_oi_usd"] and head["oi_change_24h"] == summary["change_24h"]


def test_basis_panel_equals_dtrack_basis(docs: dict[str, Any]) -> None:
    for name in ASSETS:
        panel = _asset(docs["dashboard"], name)["basis"]
        assert panel["term_structure"] == docs["basis"]["term_structure"][name]
        assert panel["constant_maturity"] == docs["basis"]["constant_maturity"][name]
        summary = next(s for s in docs["basis"]["summary"] if s["asset"] == name)
        assert panel["spot_price"] == summary["spot_price"] and panel["structure"] == summary["structure"]
        cm90 = next(c for c in docs["basis"]["constant_maturity"][name] if c["days"] == 90)
        assert _asset(docs["dashboard"], name)["headline"]["basis_3m_annualized"] == cm90["annualized"]


def test_options_panel_equals_dtrack_options(docs: dict[str, Any]) -> None:
    for name in ASSETS:
        panel = _asset(docs["dashboard"], name)["options"]
        doc = docs[f"options:{name}"]
        summary = doc["summary"][0]
        for key in ("dvol", "iv_rank", "iv_percentile", "rv_30d", "iv_rv_spread", "interpretation", "pcr_oi",
                    "total_oi_usd"):
            assert panel[key] == summary[key], (name, key)
        assert [(e["venue"], e["expiry"], e["atm_iv"], e["max_pain"]) for e in panel["expiries"]] == [
            (e["venue"], e["expiry"], e["atm_iv"], e["max_pain"]) for e in doc["expiries"]]
        # ATM IV: the 30-day constant maturity of the venue with the most option open interest
        by_venue: dict[str, float] = {}
        for e in doc["expiries"]:
            by_venue[e["venue"]] = by_venue.get(e["venue"], 0.0) + (e["oi_usd"] or 0.0)
        main = max(by_venue, key=lambda v: by_venue[v])
        cm30 = next(c for c in doc["constant_maturity"] if c["venue"] == main and c["days"] == 30)
        assert panel["atm_iv_venue"] == main and panel["atm_iv"] == cm30["iv"] and panel["atm_iv_days"] == 30
        head = _asset(docs["dashboard"], name)["headline"]
        assert head["atm_iv"] == cm30["iv"] and head["iv_rank"] == summary["iv_rank"]
    assert _asset(docs["dashboard"], "BTC")["options"]["iv_rank"] is not None  # Deribit DVOL: BTC and ETH
    assert _asset(docs["dashboard"], "SOL")["options"]["iv_rank"] is None


def test_signals_carry_the_numbers_of_the_other_commands(docs: dict[str, Any]) -> None:
    for name in ASSETS:
        a = _asset(docs["dashboard"], name)
        sig = {s["signal"]: s for s in a["signals"]}
        assert set(sig) >= {"funding_sentiment", "funding_extremes", "oi_change", "oi_price_divergence",
                            "cascade_risk", "iv_rank", "iv_rv", "best_carry", "funding_arbitrage"}
        rows = [r for r in docs["funding"]["rates"] if r["asset"] == name]
        ext = sig["funding_extremes"]["numbers"]
        assert ext["high_rate_8h"] == max(r["rate_8h"] for r in rows)
        assert ext["low_rate_8h"] == min(r["rate_8h"] for r in rows)
        div = next(d for d in docs["oi"]["divergence"] if d["asset"] == name and d["venue"] == "all")
        assert sig["oi_price_divergence"]["numbers"]["oi_change"] == div["oi_change"]
        assert sig["oi_price_divergence"]["numbers"]["confidence"] == div["confidence"]
        pairs = [p for p in docs["funding"]["arbitrage"] if p["asset"] == name]
        assert sig["funding_arbitrage"]["numbers"]["net_apr"] == pairs[0]["net_apr"] == max(p["net_apr"] for p in pairs)
        carry = [o for o in docs["basis"]["opportunities"] if o["asset"] == name]
        if carry:
            assert sig["best_carry"]["numbers"]["net_yield"] == max(o["net_yield"] for o in carry)
        summary = docs[f"options:{name}"]["summary"][0]
        assert sig["iv_rv"]["numbers"]["iv_rv_spread"] == summary["iv_rv_spread"]
        risk = a["risk"]
        flagged = sum(1 for f in risk["factors"] if f["flagged"])
        assert risk["score"] == flagged and risk["level"] == ("low", "moderate", "elevated", "high")[min(flagged, 3)]
        factor = next(f for f in risk["factors"] if f["factor"] == "options_expensive")
        assert factor["value"] == summary["iv_rank"] and factor["flagged"] == (
            summary["iv_rank"] is not None and summary["iv_rank"] > 0.8)


# --- one round, failures, widths ----------------------------------------------------------------------------------


def test_a_warm_dashboard_sends_every_request_in_one_round(sim_factory: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold: the instrument lists, then everything else. Warm: every request of every panel of every asset goes
    out before any answer is needed (the sim holds the round's answers until all of them arrived: a request that
    waited for another's answer would never come, and the round would time out)."""
    sim = sim_factory(model=MarketModel(seed=7, now_ms=PINNED_MS), latency_ms=50.0)
    cfg = _config(sim, tmp_path)
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DTRACK_STORE", str(tmp_path / "no-store.db"))
    monkeypatch.setenv("DTRACK_NOW", PINNED)
    with dtrack.Client(config=cfg) as dt:
        dt.dashboard(list(ASSETS))  # cold
        before = len(sim.flight.rounds)
        dt.dashboard(list(ASSETS))  # warm: count its requests
        warm = sum(sim.flight.sizes()[before:])
        start = len(sim.flight.rounds)
        sim.flight.hold = (0,) * start + (warm,)
        result = dt.dashboard(list(ASSETS))
    assert result.exit_code == 0, result.failures
    assert sim.flight.sizes()[start:] == [warm] and sim.flight.timed_out == 0
    venues = {a.venue for a in sim.flight.rounds[start]}
    assert venues == {"binance", "bybit", "okx", "deribit", "hyperliquid", "dydx", "gmx"}


def test_a_failed_venue_leaves_the_other_panels(capsys: pytest.CaptureFixture[str], sim_factory: Any,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = sim_factory(model=MarketModel(seed=7, now_ms=PINNED_MS), faults={"okx": "500"})
    cfg = _config(sim, tmp_path)
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DTRACK_STORE", str(tmp_path / "no-store.db"))
    monkeypatch.setenv("DTRACK_NOW", PINNED)
    got = run_cli(capsys, "--config", str(cfg), "dashboard", "BTC", "ETH", "--format", "json")
    assert got.code == 3
    doc = got.json()
    jsonschema.validate(doc, load_schema("dashboard"))
    assert {e["venue"] for e in doc["errors"]} == {"okx"} and "dtrack: okx [" in got.err
    panels = {p["panel"]: p for p in doc["panels"]}
    assert panels["funding"]["status"] == "partial" and "okx" in panels["funding"]["message"]
    for a in doc["assets"]:
        venues = {r["venue"] for r in a["funding"]["rates"]}
        assert "okx" not in venues and {"binance", "bybit", "deribit", "hyperliquid"} <= venues
        assert a["options"] is not None and a["basis"]["term_structure"]


@pytest.mark.parametrize("level", [1, 2, 3])
def test_every_line_fits_80_120_and_200_columns(capsys: pytest.CaptureFixture[str], config: Path,
                                                monkeypatch: pytest.MonkeyPatch, level: int) -> None:
    """The command at 80 columns (``COLUMNS``, in a pipe), and the same view at 120 and 200."""
    from dtrack.report.table import display_width

    assets = ASSETS if level < 3 else ("BTC",)
    monkeypatch.setenv("COLUMNS", "80")
    got = run_cli(capsys, "--config", str(config), "dashboard", *assets, "--level", str(level), "--timeout", "300")
    assert got.code == 0 or (level == 3 and got.code == 3), got.err  # level 3: the liquidation map's own venues
    assert max(display_width(line) for line in got.out.splitlines()) <= 80
    if level == 1:
        assert [line.split(" ")[0] for line in got.out.splitlines() if " Funding: " in line] == list(ASSETS)
    else:
        for title in ("FUNDING", "OPEN INTEREST", "BASIS", "OPTIONS"):
            assert title in got.out
    if level == 3:
        assert "SIGNALS BTC" in got.out and "RISK " in got.out
    with dtrack.Client(config=config, timeout=300) as dt:
        view = dt.dashboard(list(assets), level=level).table()
    for width in (120, 200):
        text = view.render(width)
        assert max(display_width(line) for line in text.splitlines()) <= width
        assert " Funding: " in text if level == 1 else "OPEN INTEREST" in text


def test_bad_input_one_line_exit_2(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    for argv, needle in ((("dashboard", "BTC", "--level", "4"), "--level"), (("dashboard",), "ASSET"),
                         (("dashboard", "NOSUCHCOIN"), "NOSUCHCOIN")):
        got = run_cli(capsys, "--config", str(config), *argv)
        assert got.code == 2 and needle in got.err and len(got.err.strip().splitlines()) == 1, got.err


# --- the liquidation panel and sparklines -----------------------------------------------------------------------------


def test_liquidation_panel_says_what_is_missing() -> None:
    missing = _liquidation_panel(Outcome({"status": "unavailable", "note": f"liquidations: {NOT_IN_BUILD}"}), "BTC")
    assert missing["status"] == "unavailable" and NOT_IN_BUILD in missing["note"] and missing["long_usd"] is None


def test_liquidation_panel_from_the_store(config: Path, tmp_path: Path) -> None:
    """The stored case of tests/test_liquidations.py (recorded at the pinned time): the panel is that command's 24 h
    total, with its lower-bound note (Binance's feed is sampled)."""
    from tests.test_liquidations import BTC_TOTALS, fill

    url = f"sqlite:///{tmp_path / 'liq.db'}"
    fill(url)
    with dtrack.Client(config=config, store=url) as dt:
        liq = dt.liquidations("BTC").to_dict()
        doc = dt.dashboard("BTC").to_dict()
    jsonschema.validate(doc, load_schema("dashboard"))
    total = next(t for t in liq["totals"] if t["asset"] == "BTC" and t["window"] == "24h")
    panel, head = doc["assets"][0]["liquidations"], doc["assets"][0]["headline"]
    assert panel["status"] == "ok" and panel["lower_bound"] is True and "lower bound" in panel["note"]
    assert (panel["long_usd"], panel["short_usd"]) == (total["long_usd"], total["short_usd"])
    assert panel["long_usd"] == pytest.approx(BTC_TOTALS["24h"][0], abs=0.01)
    assert panel["short_usd"] == pytest.approx(BTC_TOTALS["24h"][1], abs=0.01)
    assert (head["liquidations_long_usd_24h"], head["liquidations_short_usd_24h"]) == (total["long_usd"],
                                                                                      total["short_usd"])


def test_sparklines_from_the_store(capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'hist.db'}"
    with dtrack.Client(config=config, store=store) as dt:
        filled = dt.backfill(["funding", "oi"], ["BTC"], since="3d")
        assert filled.failures == []
        stored = dt.history("funding", "BTC", since="7d").rows
        doc = dt.dashboard("BTC").to_dict()
    jsonschema.validate(doc, load_schema("dashboard"))
    history = doc["assets"][0]["history"]
    assert history["status"] == "ok" and history["funding"] and history["oi"] is not None
    for series in history["funding"]:
        mine = sorted((r for r in stored if (r["venue"], r["symbol"]) == (series["venue"], series["symbol"])),
                      key=lambda r: r["time"])
        assert series["points"] == len(mine) and len(series["values"]) <= 48
        assert series["values"][-1] == mine[-1]["rate_8h"]
        assert series["min"] == min(r["rate_8h"] for r in mine) and series["max"] == max(r["rate_8h"] for r in mine)
    table = run_cli(capsys, "--config", str(config), "--store", store, "dashboard", "BTC")
    assert table.code == 0, table.err
    assert any(c in table.out for c in "▁▂▃▄▅▆▇█") and "7d history" in table.out


def test_spark_maps_min_to_max() -> None:
    assert spark([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]) == "▁▂▃▄▅▆▇█"
    assert spark([5.0, 5.0]) == "▄▄" and spark([]) == ""


# --- --watch ---------------------------------------------------------------------------------------------------------


def test_watch_redraws_every_refresh_and_stops_after_refreshes(capsys: pytest.CaptureFixture[str],
                                                               config: Path) -> None:
    got = run_cli(capsys, "--config", str(config), "dashboard", "BTC", "--level", "1", "--watch", "1s",
                  "--refreshes", "2")
    assert got.code == 0, got.err
    assert got.out.count("BTC Funding:") == 2 and got.out.count("refresh 1 |") == 1 and "refresh 2 |" in got.out
    assert "\x1b[" not in got.out  # not a terminal: frames one after another, no ANSI


def test_watch_json_writes_one_document_per_refresh(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    got = run_cli(capsys, "--config", str(config), "funding", "BTC", "--watch", "1s", "--refreshes", "2", "--format",
                  "json")
    assert got.code == 0, got.err
    lines = got.out.strip().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["command"] == "funding" for line in lines)


@pytest.mark.parametrize(("argv", "needle"), [
    (("oi", "BTC", "--watch", "soon"), "--watch"),
    (("oi", "BTC", "--watch", "0s"), "1 s to 24 h"),
    (("funding", "BTC", "--refreshes", "2"), "--watch"),
    (("funding", "BTC", "--watch", "30s", "--format", "csv"), "CSV"),
])
def test_watch_bad_input(capsys: pytest.CaptureFixture[str], config: Path, argv: tuple[str, ...],
                         needle: str) -> None:
    got = run_cli(capsys, "--config", str(config), *argv)
    assert got.code == 2 and needle in got.err and len(got.err.strip().splitlines()) == 1, got.err


def test_watch_ctrl_c_exits_0(config: Path) -> None:
    """A real process: the first frame drawn, then SIGINT; exit code 0 and no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "dtrack", "--config", str(config), "funding", "BTC", "--watch",
                             "2s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "PERPETUAL FUNDING RATES" in line:
                break
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert code == 0 and "Traceback" not in err, err


def test_a_redrawn_frame_fits_the_terminal_height() -> None:
    from dtrack.cli.watch import fit_height

    lines = [f"line {n}" for n in range(30)]
    assert fit_height(lines, None) == lines and fit_height(lines, 40) == lines
    cut = fit_height(lines, 10)
    assert len(cut) == 9 and cut[:8] == lines[:8] and cut[-1].startswith("… 22 more lines")
