"""``dtrack carry`` end to end on the simulated venues (a pinned market whose clock the test moves) and a temporary
SQLite store: open -> status -> close -> list, each ``--format json`` document validated against the shipped
schema and its figures against the sim; simulate reproducible for a seed; backtest over the sim's settled history;
bad input is exit 2 with one line."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
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
    assert status["notes"] == []  # the venue's history covers the whole holding period: nothing to say

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


def test_backtest_longer_than_the_venues_klines_says_where_its_prices_start(
        env: tuple[MovingMarket, Path, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hyperliquid keeps the latest 5,000 hourly candles (208 days): a year's backtest prices its entry and its
    earlier payments at the first close it has, and says so."""
    model, config, store = env
    at(model, OPENED, monkeypatch)
    doc = run(capsys, config, store, "backtest", "--asset", "BTC", "--perp-venue", "hyperliquid", "--days", "365")
    perp = MarketModel.perp("hyperliquid", "BTC")
    assert perp is not None
    # 5,000 candles up to the one open at 08:00: the oldest opened 4,999 h before it; its close is an hour later
    first_close = OPENED.replace(minute=0, second=0, microsecond=0) - timedelta(hours=4999 - 1)
    assert any(n.startswith(f"hyperliquid keeps 5,000 candles of BTC 1 h klines from {first_close:%Y-%m-%d %H:%M} "
                            "UTC: the entry price") for n in doc["notes"]), doc["notes"]
    assert doc["entry_price"] == pytest.approx(model.mark_price(perp, int(first_close.timestamp() * 1000)), rel=1e-9)


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
    # values no market has, which made infinities or a return of 0 %: bounded like the settings of the same name
    (("simulate", "--avg-funding", "0.03", "--days", "90", "--price-vol", "1e6"), "--price-vol"),
    (("simulate", "--avg-funding", "0.03", "--days", "90", "--vol", "1e300"), "--vol"),
    (("simulate", "--avg-funding", "0.03", "--days", "90", "--notional", "1e308"), "--notional"),
    (("simulate", "--avg-funding", "0.03", "--days", "90", "--leverage", "1e-300"), "--leverage"),
    # 1,000 paths x 87,600 hourly settlements: gigabytes of arrays (the machine ran out of memory)
    (("simulate", "--avg-funding", "0.03", "--days", "3650", "--interval", "1"), "--paths/--days"),
    (("open", "--asset", "BTC", "--spot-venue", "binance", "--perp-venue", "bybit", "--size", "1e305",
      "--spot-price", "90000", "--perp-price", "90010"), "more than 1,000,000,000,000 USD"),
    (("status", "--leverage", "0"), "--leverage"),
])
def test_bad_input_exits_2_with_one_line(env: tuple[MovingMarket, Path, Path], capsys: pytest.CaptureFixture[str],
                                         argv: tuple[str, ...], needle: str) -> None:
    _model, config, store = env
    got = run_cli(capsys, "--store", str(store), "--config", str(config), "carry", *argv)
    assert got.code == 2 and got.out == ""
    assert got.err.count("\n") == 1 and needle in got.err


def test_status_says_when_the_venue_keeps_less_funding_history_than_the_position_is_old(
        env: tuple[MovingMarket, Path, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """OKX serves about 3 months of funding (the sim: 92 days, ``sim.venues.okx.HISTORY_KEEP_MS``): a position opened
    100 days ago gets only the settlements of the last 92 days, and the result says so instead of showing a total
    short of 8 days of funding as if it were everything."""
    from dtrack.sim.venues.okx import HISTORY_KEEP_MS

    model, config, store = env
    opened = OPENED - timedelta(days=100)
    at(model, opened, monkeypatch)
    pid = run(capsys, config, store, "open", "--asset", "BTC", "--spot-venue", "binance", "--perp-venue", "okx",
              "--size", "1", "--spot-price", "60000", "--perp-price", "60010")["positions"][0]["id"]
    at(model, STATUS_AT, monkeypatch)
    doc = run(capsys, config, store, "status", pid)
    (pos,) = doc["positions"]
    perp = MarketModel.perp("okx", "BTC-USDT-SWAP")
    assert perp is not None
    kept_from = model.at_ms - HISTORY_KEEP_MS
    served = [t for t, _ in model.settlements(perp, int(opened.timestamp() * 1000), model.at_ms) if t >= kept_from]
    first = iso(datetime.fromtimestamp(served[0] / 1000, UTC))
    assert pos["funding_payments"] == len(served) and pos["payments"][0]["time"] == first
    assert served[0] - kept_from < 8 * 3_600_000  # the gap: from opening to 92 days ago, 8 days of settlements
    (note,) = [n for n in doc["notes"] if n.startswith(pid)]
    assert "missing from the total" in note and first[:16].replace("T", " ") in note


def test_status_shows_the_settled_funding_when_the_spot_venue_fails(
        env: tuple[MovingMarket, Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A spot venue that does not answer leaves the P&L unknown, not the funding the perp venue settled: the
    position is shown with its payments (exit 3, partial), the failure on stderr."""
    model, config, store = env
    at(model, OPENED, monkeypatch)
    pid = run(capsys, config, store, "open", "--asset", "BTC", "--spot-venue", "binance", "--perp-venue", "bybit",
              "--size", "2")["positions"][0]["id"]
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    hosts = doc["venues"]["binance"]["rest_urls"]
    doc["venues"]["binance"]["rest_urls"] = {h: f"http://127.0.0.1:{port}" for h in hosts}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")

    at(model, STATUS_AT, monkeypatch)
    got = run_cli(capsys, "--store", str(store), "--config", str(broken), "carry", "status", "--format", "json")
    assert got.code == 3 and "binance" in got.err
    out = got.json()
    jsonschema.validate(out, SCHEMA)
    (pos,) = out["positions"]
    perp = MarketModel.perp("bybit", "BTCUSDT")
    assert perp is not None
    settled = model.settlements(perp, int(OPENED.timestamp() * 1000), model.at_ms)
    assert pos["id"] == pid and pos["net_usd"] is None and pos["spot_price"] is None
    assert pos["funding_usd"] == pytest.approx(sum(r * 2.0 * model.mark_price(perp, t) for t, r in settled),
                                               rel=1e-9)
    table = run_cli(capsys, "--store", str(store), "--config", str(broken), "carry", "status")
    assert table.code == 3 and pid in table.out and "funding payments" in table.out


def test_backtest_table_says_hourly_samples_of_an_8h_rate_are_not_settlements(
        env: tuple[MovingMarket, Path, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Deribit's history is hourly samples of an 8 h-equivalent rate: a day holds 24 of them, each accruing 1/8 of
    the interval. The table said "24 x 8h" (24 settlements of 8 h: eight days' worth); it says they are samples."""
    model, config, store = env
    at(model, OPENED, monkeypatch)
    doc = run(capsys, config, store, "backtest", "--asset", "BTC", "--perp-venue", "deribit", "--days", "1")
    assert doc["settlements"] == 24 and doc["intervals"] == [{"interval_hours": 8.0, "settlements": 24}]
    table = run_cli(capsys, "--store", str(store), "--config", str(config), "carry", "backtest", "--asset", "BTC",
                    "--perp-venue", "deribit", "--days", "1", "--wide")
    assert table.code == 0, table.err
    assert "24 x 8h (24 samples, each accruing its share of the interval)" in table.out
    hourly = run_cli(capsys, "--store", str(store), "--config", str(config), "carry", "backtest", "--asset", "BTC",
                     "--perp-venue", "hyperliquid", "--days", "1", "--wide")
    assert hourly.code == 0 and "24 x 1h" in hourly.out and "samples" not in hourly.out


def test_a_second_position_given_a_taken_id_gets_another(env: tuple[MovingMarket, Path, Path],
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are asset-venue-minute-4 hex digits. The store keeps the first row of an id, so a second position opened
    in the same minute and drawn the same digits was silently not recorded, and its printed id named the first
    position. The random source is made to repeat: the second position gets the next free id, both are kept."""
    import secrets

    model, config, store = env
    at(model, OPENED, monkeypatch)
    draws = iter(["abcd", "abcd", "ef01"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(draws))
    argv = ("open", "--asset", "BTC", "--spot-venue", "binance", "--perp-venue", "bybit", "--spot-price", "90000",
            "--perp-price", "90010")
    first = run(capsys, config, store, *argv, "--size", "1")["positions"][0]["id"]
    second = run(capsys, config, store, *argv, "--size", "3")["positions"][0]["id"]
    assert (first, second) == ("btc-bybit-202612040830-abcd", "btc-bybit-202612040830-ef01")
    listed = run(capsys, config, store, "list")
    assert sorted((p["id"], p["size"]) for p in listed["positions"]) == [(first, 1.0), (second, 3.0)]
