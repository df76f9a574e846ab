"""``dtrack vol`` end to end against the simulated venues on a real socket, the sim's clock pinned: every estimate
recomputed (plain loops, ``tests.test_volatility``) from the klines the sim served (the logged requests asked again,
the raw Binance arrays read by index), DVOL and the ATM IV as the options query reads them, the venue choice and its
fallback when a venue fails (exit 3), the JSON Schema, CSV, the Python API, and bad input (exit 2, one line)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import urllib.request
from collections.abc import Iterator
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml
from tests.clirun import dtrack as cli
from tests.conftest import SimThread
from tests.test_volatility import ref_vol

import dtrack
from dtrack.cli.main import main
from dtrack.sim.model import MarketModel
from dtrack.sim.server import settings_document

PINNED_MS = 1_796_371_200_000  # 2026-12-04T08:00:00Z
NOW = "2026-12-04T08:00:00Z"
DAY_MS = 86_400_000


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resources.files("dtrack.schemas").joinpath("vol.json").read_text("utf-8"))
    return loaded


@pytest.fixture(scope="module")
def logged_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimThread, Path]]:
    log = tmp_path_factory.mktemp("vol") / "requests.jsonl"
    server = SimThread(model=MarketModel(seed=7, now_ms=PINNED_MS), log_requests=str(log))
    yield server, log
    server.close()


def write_config(sim: SimThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings_document(sim.venue_urls())), encoding="utf-8")
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    monkeypatch.setenv("DTRACK_NOW", NOW)  # dtrack's clock = the sim's market clock
    return path


@pytest.fixture
def config(logged_sim: tuple[SimThread, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_config(logged_sim[0], tmp_path, monkeypatch)


def served_klines(sim: SimThread, log: Path, symbol: str, interval: str) -> list[list[Any]]:
    """The Binance USDⓈ-M klines of ``symbol`` the sim answered (every logged request asked again: the clock is
    pinned, so the same answer), de-duplicated by open time, oldest first, as ``[open, o, h, l, c, closeTime]``."""
    base = sim.venue_urls()["binance"]["usdm"]
    rows: dict[int, list[Any]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        path = str(entry.get("path", ""))
        if entry.get("venue") != "binance" or "/fapi/v1/klines" not in path:
            continue
        query = parse_qs(urlsplit(path).query)
        if query.get("symbol") != [symbol] or query.get("interval") != [interval]:
            continue
        tail = path[path.index("/fapi/v1/klines"):]
        with urllib.request.urlopen(base.rstrip("/") + tail, timeout=10) as answer:
            for r in json.loads(answer.read()):
                rows[int(r[0])] = [int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), int(r[6])]
    return [rows[t] for t in sorted(rows)]


def closed(rows: list[list[Any]]) -> list[list[Any]]:
    return [r for r in rows if r[5] < PINNED_MS]


@pytest.fixture(scope="module")
def btc_sol(logged_sim: tuple[SimThread, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``dtrack vol BTC SOL --format json`` once for the module."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("run")
    try:
        path = write_config(logged_sim[0], tmp, mp)
        return _run_json(["vol", "BTC", "SOL", "--config", str(path), "--format", "json"])
    finally:
        mp.undo()


def _run_json(argv: list[str]) -> dict[str, Any]:
    """The ``dtrack`` entry point in-process (a module fixture has no capsys): stdout parsed as JSON."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0, err.getvalue()
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_document_is_valid_and_names_the_venue_it_read(btc_sol: dict[str, Any]) -> None:
    jsonschema.validate(btc_sol, schema())
    assert btc_sol["errors"] == []
    assert [a["asset"] for a in btc_sol["assets"]] == ["BTC", "SOL"]
    for a in btc_sol["assets"]:
        assert (a["venue"], a["symbol"]) == ("binance", f"{a['asset']}USDT")
        assert a["choice"].startswith(f"binance {a['asset']}USDT: the first of binance, bybit")
        assert a["bars"] == "1d" and a["window_bars"] == 30
    p = btc_sol["params"]
    assert (p["methods"], p["primary"], p["periods_per_year"], p["rolling_days"]) == (
        ["cc", "parkinson", "gk", "rs", "yz"], "cc", 365.0, 90.0)


def test_every_estimator_equals_the_reference_on_the_klines_the_sim_served(
        btc_sol: dict[str, Any], logged_sim: tuple[SimThread, Path]) -> None:
    sim, log = logged_sim
    for a in btc_sol["assets"]:
        rows = closed(served_klines(sim, log, a["symbol"], "1d"))
        # 90 rolling days + the 30-day window + the close before it; the day still open (Dec 4) left out
        assert len(rows) == a["bar_count"] == 121
        assert rows[-1][0] == PINNED_MS - 8 * 3_600_000 - DAY_MS  # 2026-12-03 00:00, the last closed day
        assert a["last_bar"] == "2026-12-03T00:00:00Z"
        o, h, lo, c = ([r[k] for r in rows] for k in (1, 2, 3, 4))
        last = (o[-31:], h[-31:], lo[-31:], c[-31:])
        for method in ("cc", "parkinson", "gk", "rs", "yz"):
            assert a["realized"][method] == pytest.approx(ref_vol(last, method, 365.0), rel=1e-9), method
        assert a["rv"] == a["realized"]["cc"]
        series = [r for r in btc_sol["rolling"] if r["asset"] == a["asset"]]
        assert len(series) == 121 - 30
        for j in (0, 45, len(series) - 1):  # the window ending at bar j + 30
            part = (o[j:j + 31], h[j:j + 31], lo[j:j + 31], c[j:j + 31])
            for method in ("cc", "yz"):
                assert series[j][method] == pytest.approx(ref_vol(part, method, 365.0), rel=1e-9)
        assert series[-1]["cc"] == pytest.approx(a["rv"], rel=1e-12)


def test_regime_leverage_and_transitions_follow_the_bands(btc_sol: dict[str, Any]) -> None:
    for a in btc_sol["assets"]:
        rv = a["rv"]
        regime = "low" if rv <= 0.4 else "medium" if rv <= 0.8 else "high" if rv <= 1.5 else "extreme"
        assert a["regime"] == regime
        cap = {"low": 10, "medium": 5, "high": 2, "extreme": 1}[regime]
        assert a["leverage"]["leverage"] == pytest.approx(min(0.40 / rv, cap), rel=1e-12)
        assert a["leverage"]["cap"] == cap
        series = [r for r in btc_sol["rolling"] if r["asset"] == a["asset"]]
        changes = [(s["time"], p["regime"], s["regime"]) for p, s in pairwise(series)
                   if p["regime"] != s["regime"]]
        assert [(t["time"], t["from"], t["to"]) for t in a["transitions"]] == changes
    assert [r["regime"] for r in btc_sol["regimes"]] == ["low", "medium", "high", "extreme"]
    assert [r["max_leverage"] for r in btc_sol["regimes"]] == [10, 5, 2, 1]
    assert btc_sol["regimes"][0]["position_size"] == 0.5  # seed 004: 50 % of capital, as a fraction
    for r in btc_sol["regimes"]:
        assert r["assets"] == [a["asset"] for a in btc_sol["assets"] if a["regime"] == r["regime"]]


def test_implied_volatility_is_dvol_and_the_options_atm_iv_or_a_reason(
        btc_sol: dict[str, Any], config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    btc, sol = btc_sol["assets"]
    assert btc["dvol"]["available"] and btc["dvol"]["venue"] == "deribit"
    assert 0.05 < btc["dvol"]["value"] < 3
    assert btc["spread_basis"] == "dvol"
    assert btc["iv_rv_spread"] == pytest.approx(btc["dvol"]["value"] - btc["rv"], rel=1e-12)
    assert not sol["dvol"]["available"] and sol["dvol"]["value"] is None
    assert "SOL" in sol["dvol"]["reason"]
    # the options query on the same pinned market: the same DVOL, and the ATM IV is its 30-day constant maturity
    run = cli(capsys, "options", "BTC", "SOL", "--config", str(config), "--format", "json")
    assert run.code == 0, run.err
    options = run.json()
    summary = {s["asset"]: s for s in options["summary"]}
    assert btc["dvol"]["value"] == pytest.approx(summary["BTC"]["dvol"], rel=1e-12)
    for a in (btc, sol):
        iv = a["atm_iv_30d"]
        if not iv["available"]:
            assert iv["reason"]
            continue
        cm = [c for c in options["constant_maturity"]
              if (c["asset"], c["venue"], c["days"]) == (a["asset"], iv["venue"], 30)]
        assert len(cm) == 1 and iv["value"] == pytest.approx(cm[0]["iv"], rel=1e-12)
    assert sol["atm_iv_30d"]["available"]
    assert sol["spread_basis"] == "atm_iv"
    assert sol["iv_rv_spread"] == pytest.approx(sol["atm_iv_30d"]["value"] - sol["rv"], rel=1e-12)


def test_hourly_bars_another_venue_and_methods(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "vol", "ETH", "--venue", "bybit", "--bars", "1h", "--window", "3d", "--method", "yz,rs",
              "--no-iv", "--config", str(config), "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    jsonschema.validate(doc, schema())
    (eth,) = doc["assets"]
    assert (eth["venue"], eth["symbol"], eth["bars"], eth["window_bars"]) == ("bybit", "ETHUSDT", "1h", 72)
    assert eth["choice"].startswith("bybit ETHUSDT: the venue asked")
    assert list(eth["realized"]) == ["yz", "rs"] and eth["primary"] == "yz" and eth["rv"] == eth["realized"]["yz"]
    assert doc["params"]["periods_per_year"] == 8760.0
    assert eth["last_bar"] == "2026-12-04T07:00:00Z"  # the last closed hour
    assert eth["bar_count"] == 90 * 24 + 72 + 2  # the bars opening in the last 90 d + 72 h + 2 h, the open one dropped
    assert eth["dvol"]["reason"].startswith("not asked") and eth["iv_rv_spread"] is None


def test_a_venue_keeping_fewer_bars_than_asked_says_how_much_of_the_rolling_series_is_left(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hyperliquid keeps the latest 5,000 candles: 180 days of hourly bars plus 90 days of rolling series is
    6,482 bars asked; the answer says where the bars start and how many of the 90 days the rolling series covers."""
    run = cli(capsys, "vol", "BTC", "--venue", "hyperliquid", "--bars", "1h", "--window", "180d", "--method", "cc",
              "--no-iv", "--config", str(config), "--format", "json")
    assert run.code == 0, run.err
    (btc,) = run.json()["assets"]
    assert btc["bar_count"] == 4999  # 5,000 kept, the one still open dropped
    first = btc["first_bar"]
    covered = (4999 - 1) / 24 - 180  # the span of the bars, less the window: 28.25 days
    assert any(n.startswith(f"hyperliquid BTC: bars from {first[:10]} {first[11:16]} UTC only (the venue keeps "
                            f"5,000 candles): the rolling series covers {covered:.0f} of the 90 days asked")
               for n in btc["notes"]), btc["notes"]


def test_a_failed_venue_is_reported_and_the_next_one_read(sim_factory: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    sim = sim_factory(model=MarketModel(seed=7, now_ms=PINNED_MS), faults={"binance": "500"})
    path = write_config(sim, tmp_path, monkeypatch)
    run = cli(capsys, "vol", "BTC", "--no-iv", "--config", str(path), "--format", "json")
    assert run.code == 3, run.err
    doc = run.json()
    (btc,) = doc["assets"]
    assert btc["venue"] == "bybit" and btc["rv"] > 0
    assert {e["venue"] for e in doc["errors"]} == {"binance"}
    assert "dtrack: binance [" in run.err
    # the venue asked alone failing: nothing to show, exit 1
    run = cli(capsys, "vol", "BTC", "--venue", "binance", "--no-iv", "--config", str(path))
    assert run.code == 1
    assert "binance" in run.err and "Traceback" not in run.err


def test_a_failed_venue_after_the_one_that_served_is_no_failure(sim_factory: Any, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    sim = sim_factory(model=MarketModel(seed=7, now_ms=PINNED_MS), faults={"dydx": "500"})
    path = write_config(sim, tmp_path, monkeypatch)
    run = cli(capsys, "vol", "BTC", "--no-iv", "--config", str(path), "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["assets"][0]["venue"] == "binance" and doc["errors"] == []


def test_csv_holds_one_row_per_asset(config: Path, btc_sol: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "vol", "BTC", "SOL", "--config", str(config), "--format", "csv")
    assert run.code == 0, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [r["asset"] for r in rows] == ["BTC", "SOL"]
    for row, a in zip(rows, btc_sol["assets"], strict=True):
        for method in ("cc", "parkinson", "gk", "rs", "yz"):
            assert float(row[method]) == pytest.approx(a["realized"][method], rel=1e-12)
        assert row["regime"] == a["regime"]
        assert float(row["leverage"]) == pytest.approx(a["leverage"]["leverage"], rel=1e-12)
    assert rows[1]["dvol"] == ""  # SOL has no DVOL: empty, never a number
    assert "rolling series" in run.err


def test_table_view(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "vol", "BTC", "SOL", "--config", str(config))
    assert run.code == 0, run.err
    assert "BTC REALIZED VOLATILITY (annualized, last 30 1d bars (30 days))" in run.out
    assert "Regime: " in run.out and "Adaptive leverage: " in run.out
    assert "DVOL: not available (" in run.out  # SOL
    assert "REGIME PARAMETERS" in run.out


def test_the_python_api_gives_the_cli_document(config: Path, btc_sol: dict[str, Any]) -> None:
    with dtrack.Client(config=str(config)) as dt:
        doc = dt.vol(["BTC", "SOL"]).to_dict()
    assert doc["assets"][0]["realized"] == btc_sol["assets"][0]["realized"]
    assert [r["cc"] for r in doc["rolling"]] == [r["cc"] for r in btc_sol["rolling"]]


@pytest.mark.parametrize(("args", "message"), [
    (("--window", "2d"), "--window 48h is 2 1d bars: a window needs at least 3 bars"),
    (("--bars", "1h", "--window", "2h"), "--window 2h is 2 1h bars: a window needs at least 3 bars"),
    (("--window", "84h"), "--window 84h is not a whole number of 1d bars: use a multiple of 24h"),
    (("--method", "cc,ewma"), "unknown --method 'ewma': expected one or more of cc,parkinson,gk,rs,yz"),
    (("--bars", "2h"), "bad --bars '2h': expected one of 1d, 1h"),
    (("--window", "soon"), "bad --window 'soon': expected a duration like 24h, 7d or 2w"),
    (("--venue", "bitmex"), "BitMEX closed on"),
])
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str, config: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "vol", "BTC", *args, "--config", str(config))
    assert run.code == 2
    assert run.out == ""
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], run.err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "vol", "--help")
    assert run.code == 0
    assert "dtrack vol BTC --bars 1h --window 7d --method yz,cc" in run.out


def test_an_asset_without_options_says_why_and_the_others_keep_theirs(config: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "vol", "BTC", "PEPE", "--venue", "bybit", "--config", str(config), "--format", "json")
    assert run.code == 0, run.err
    btc, pepe = run.json()["assets"]
    assert (pepe["symbol"], pepe["rv"] > 0) == ("1000PEPEUSDT", True)
    assert pepe["atm_iv_30d"] == {"available": False, "value": None, "venue": None, "time": None, "label": "",
                                  "reason": pepe["atm_iv_30d"]["reason"]}
    assert pepe["atm_iv_30d"]["reason"].startswith("no options on PEPE at ")
    assert not pepe["dvol"]["available"] and "PEPE" in pepe["dvol"]["reason"]
    assert pepe["iv_rv_spread"] is None and pepe["spread_basis"] is None
    assert btc["atm_iv_30d"]["available"] and btc["dvol"]["available"] and btc["spread_basis"] == "dvol"


def test_a_bar_no_market_can_have_is_refused_before_any_estimate() -> None:
    from datetime import UTC, datetime

    from dtrack.client.queries.vol import _invalid_bar
    from dtrack.records import Candle

    def bar(o: float, h: float, lo: float, c: float) -> Candle:
        t = datetime(2026, 12, 1, tzinfo=UTC)
        return Candle(venue="binance", symbol="BTCUSDT", time=t, period_seconds=86_400, open=float(o), high=float(h),
                      low=float(lo), close=float(c), received_at=t)

    assert _invalid_bar([bar(100, 110, 95, 105), bar(105, 105, 105, 105)]) is None
    assert _invalid_bar([bar(100, 104, 95, 105)]) == "2026-12-01 00:00 100.0/104.0/95.0/105.0"  # high below close
    assert _invalid_bar([bar(100, 110, 0.0, 105)]) is not None


def test_an_atm_iv_from_the_store_carries_its_snapshot_time_not_now(config: Path) -> None:
    """``options`` may answer from the history store (snapshots up to options.fresh_seconds old): the ATM IV beside
    the realized volatility then carries the snapshot's time and says where it came from, not the time of the
    query (which made a 30-minute-old IV look current)."""
    from dataclasses import replace
    from datetime import timedelta

    from dtrack.client.queries.vol import atm_iv_from
    from dtrack.results import Source

    with dtrack.Client(config=str(config)) as dt:
        result = dt.options(["BTC"])
    live = atm_iv_from(result, "BTC")
    assert live.value is not None and live.time == result.report.time and "store" not in live.label
    taken = result.report.time - timedelta(minutes=20)
    from_store = replace(result, source=Source(kind="store", store="/data/dtrack.db", age_seconds=1200.0,
                                               snapshot_time=taken))
    stored = atm_iv_from(from_store, "BTC")
    assert stored.value == live.value and stored.time == taken
    assert "from the store /data/dtrack.db, a snapshot 1200 s old" in stored.label


def test_a_halted_contract_is_a_note_of_its_asset_not_a_crash() -> None:
    """Flat candles (a contract that did not trade over the window) leave that asset without a regime, said in its
    notes; the answer is still made (``to_json`` keeps only finite numbers)."""
    from datetime import UTC, datetime, timedelta

    from dtrack.client.queries.vol import Picked, _assemble, parse_request
    from dtrack.config import VolSettings
    from dtrack.records import Candle, Instrument, Kind, Margin
    from dtrack.report.vol import to_json
    from dtrack.results import VolResult

    inst = Instrument(venue="binance", symbol="HALTUSDT", asset="HALT", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, market="usdm")
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    candles = tuple(Candle(venue="binance", symbol="HALTUSDT", time=t0 + timedelta(days=i), period_seconds=86_400,
                           open=2.0, high=2.0, low=2.0, close=2.0, received_at=t0 + timedelta(days=40))
                    for i in range(31))
    req = parse_request("30d", "1d", "yz,cc", VolSettings())
    got = _assemble("HALT", req, Picked(instrument=inst, candles=candles), None)
    assert got.analysis is None
    assert any("no realized volatility from binance HALTUSDT" in n and "flat" in n for n in got.notes)
    doc = to_json(VolResult(as_of=t0 + timedelta(days=40), params=req, assets=[got]))
    json.dumps(doc, allow_nan=False)  # nothing infinite or NaN reaches the JSON
