"""``dtrack carry`` end to end on the simulated venues (a pinned market whose clock the test moves) and a temporary
SQLite store: open -> status -> close -> list, each ``--format json`` document validated against the shipped
schema and its figures against the sim; simulate reproducible for a seed; backtest over the sim's settled history;
bad input is exit 2 with one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.clirun import dtrack as run_cli
from tests.conftest import SimThread
from tests.storefix import write_config
from tests.test_carry import MovingMarket

from dtrack.sim.model import MarketModel

OPENED = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
STATUS_AT = OPENED + timedelta(hours=16)   # after bybit's 16:00 and 00:00 settlements
CLOSED_AT = OPENED + timedelta(hours=25)   # and 08:00
SCHEMA = json.loads(resources.files("dtrack.schemas").joinpath("carry.json").read_text(encoding="utf-8"))


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MovingMarket, Path, Path]]:
    model = MovingMarket(int(OPENED.timestamp() * 1000))
    server = SimThread(model=model)
    config = write_config(tmp_path / "settings.yaml", server.venue_urls())
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("DTRACK_STORE", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    yield model, config, tmp_path / "carry.db"
    server.close()


def at(model: MovingMarket, when: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    model.at_ms = int(when.timestamp() * 1000)
    monkeypatch.setenv("DTRACK_NOW", iso(when))


def run(capsys: pytest.CaptureFixture[str], config: Path, store: Path, *argv: str) -> Any:
    got = run_cli(capsys, "--store", str(store), "--config", str(config), "carry", *argv, "--format", "json")
    assert got.code == 0, got.err
    doc = got.json()
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_open_status_close_list(env: tuple[MovingMarket, Path, Path], capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    model, config, store = env
    at(model, OPENED, monkeypatch)
    opened = run(capsys, config, store, "open", "--asset", "btc", "--spot-venue", "binance", "--perp-venue", "bybit",
                 "--size", "2")
    (pos,) = opened["positions"]
    perp = MarketModel.perp("bybit", "BTCUSDT")
    assert perp is not None
    assert (pos["asset"], pos["perp_symbol"], pos["status"], pos["size"]) == ("BTC", "BTCUSDT", "open", 2.0)
    assert pos["spot_entry"] == pytest.approx(model.spot_price("binance", "BTC", model.at_ms), rel=1e-12)
    assert pos["perp_entry"] == pytest.approx(model.mark_price(perp, model.at_ms), rel=1e-12)
    assert pos["fee_rate"] == 0.0005 and pos["opened_at"] == iso(OPENED)
    pid = pos["id"]

    at(model, STATUS_AT, monkeypatch)
    status = run(capsys, config, store, "status")
    (pos,) = status["positions"]
    assert pos["id"] == pid and pos["price_source"] == "market"
    settled = [(t, r) for t, r in model.settlements(perp, int(OPENED.timestamp() * 1000), model.at_ms)]
    assert [p["time"] for p in pos["payments"]] == [iso(datetime.fromtimestamp(t / 1000, UTC)) for t, _ in settled]
    assert [p["rate"] for p in pos["payments"]] == [r for _, r in settled]
    assert {p["interval_hours"] for p in pos["payments"]} == {8.0}
    funding = sum(r * 2.0 * model.mark_price(perp, t) for t, r in settled)
    assert pos["funding_usd"] == pytest.approx(funding, rel=1e-9)
    assert pos["net_usd"] == pytest.approx(pos["spot_pnl_usd"] + pos["perp_pnl_usd"] + funding
                                           - pos["entry_fees_usd"], rel=1e-9)

    at(model, CLOSED_AT, monkeypatch)
    closed = run(capsys, config, store, "close", pid, "--spot-price", "95000", "--perp-price", "95020")
    (pos,) = closed["positions"]
    assert (pos["status"], pos["closed_at"], pos["spot_exit"], pos["perp_exit"]) == ("closed", iso(CLOSED_AT),
                                                                                      95000.0, 95020.0)
    assert pos["funding_payments"] == 3 and pos["price_source"] == "exit"
    assert pos["exit_fees_usd"] == pytest.approx(0.0005 * 2 * (95000 + 95020))
    assert pos["capital_usd"] == pytest.approx(2 * pos["spot_entry"] + 2 * pos["perp_entry"])
    assert pos["annualized_return"] == pytest.approx(pos["return_on_capital"] * 365 / (25 / 24))

    listed = run(capsys, config, store, "list")
    assert [(p["id"], p["status"], p["spot_exit"]) for p in listed["positions"]] == [(pid, "closed", 95000.0)]
    table = run_cli(capsys, "--store", str(store), "--config", str(config), "carry", "list")
    assert table.code == 0 and pid in table.out and "closed" in table.out

    again = run_cli(capsys, "--store", str(store), "--config", str(config), "carry", "close", pid)
    assert again.code == 2 and again.err.count("\n") == 1 and "was closed at" in again.err


def test_simulate_is_reproducible_for_a_seed(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DTRACK_STORE", str(tmp_path / "none.db"))
    argv = ("carry", "simulate", "--avg-funding", "0.03", "--days", "90", "--paths", "500", "--seed", "3",
            "--format", "json")
    first, second = run_cli(capsys, *argv), run_cli(capsys, *argv)
    assert first.code == second.code == 0
    a, b = first.json(), second.json()
    jsonschema.validate(a, SCHEMA)
    assert a["distribution"] == b["distribution"] and a["probability_of_loss"] == b["probability_of_loss"]
    assert a["params"]["avg_funding_8h"] == 0.0003 and a["params"]["seed"] == 3 and a["settlements"] == 270
    other = run_cli(capsys, *argv[:-4], "--seed", "4", "--format", "json").json()
    assert other["distribution"] != a["distribution"]


def test_backtest_over_the_sims_settled_history(env: tuple[MovingMarket, Path, Path],
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    model, config, store = env
    at(model, OPENED, monkeypatch)
    doc = run(capsys, config, store, "backtest", "--asset", "BTC", "--perp-venue", "hyperliquid", "--days", "3",
              "--notional", "50000")
    perp = MarketModel.perp("hyperliquid", "BTC")
    assert perp is not None
    start = int((OPENED - timedelta(days=3)).timestamp() * 1000)
    settled = [(t, r) for t, r in model.settlements(perp, start, model.at_ms) if t > start]
    assert doc["settlements"] == len(settled) == 72 and doc["intervals"] == [{"interval_hours": 1.0,
                                                                              "settlements": 72}]
    size = doc["size"]
    funding = sum(r * size * model.mark_price(perp, t) for t, r in settled)
    assert doc["funding_usd"] == pytest.approx(funding, rel=1e-9)
    fees = 0.0005 * 2 * size * (doc["entry_price"] + doc["exit_price"])
    assert doc["net_usd"] == pytest.approx(funding - fees, rel=1e-9)
    assert sum(d["settlements"] for d in doc["daily"]) == 72


@pytest.mark.parametrize(("argv", "needle"), [
    (("open", "--asset", "BTC", "--spot-venue", "binance", "--perp-venue", "bybit", "--size", "0"), "--size"),
    (("open", "--asset", "BTC", "--spot-venue", "hyperliquid", "--perp-venue", "bybit", "--size", "1"),
     "cannot be the spot venue"),
    (("open", "--asset", "BTC", "--spot-venue", "binance", "--perp-venue", "gmx", "--size", "1"),
     "longs and shorts pay different rates"),
    (("backtest", "--asset", "BTC", "--perp-venue", "gmx"), "longs and shorts pay different rates"),
    (("status", "no-such-id"), "no carry position"),
    (("close", "no-such-id"), "no carry position"),
    (("simulate", "--avg-funding", "0.03", "--days", "0"), "--days"),
])
def test_bad_input_exits_2_with_one_line(env: tuple[MovingMarket, Path, Path], capsys: pytest.CaptureFixture[str],
                                         argv: tuple[str, ...], needle: str) -> None:
    _model, config, store = env
    got = run_cli(capsys, "--store", str(store), "--config", str(config), "carry", *argv)
    assert got.code == 2 and got.out == ""
    assert got.err.count("\n") == 1 and needle in got.err
