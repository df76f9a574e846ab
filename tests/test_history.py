"""``history`` (``AsyncClient.history`` and ``dtrack history``): the stored series read from the store only, on
SQLite and PostgreSQL: what a backfill wrote, no duplicate (venue, symbol, time), JSON valid against its schema,
CSV and DataFrames with a tz-aware time column, snapshots and gaps (with the collector), assets resolved through
the instruments table, an empty store saying what to run, and no network library loaded."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest

import dtrack
from clirun import dtrack as cli
from conftest import SimThread
from dtrack.records import Gap
from dtrack.schemas import load_schema
from dtrack.store import open_store
from storefix import NOW, model, pinned, run, sim_settings, store_url, write_config, write_snapshots

__all__ = ["store_url"]  # the fixture, imported


@pytest.fixture(scope="module")
def market() -> Iterator[SimThread]:
    server = SimThread(model=model())
    yield server
    server.close()


@pytest.fixture
def filled(market: SimThread, tmp_path: Path, store_url: str) -> str:
    """A store with 3 days of funding and 1 day of klines of BTC and ETH on Binance, OKX and Hyperliquid, a
    snapshot round of BTC, and two gaps."""

    async def fill() -> None:
        async with dtrack.AsyncClient(config=sim_settings(market.venue_urls(), tmp_path), clock=pinned(),
                                      venues=["binance", "okx", "hyperliquid"], store=store_url) as dt:
            await dt.backfill("funding", ["BTC", "ETH"], since="3d")
            await dt.backfill("klines", ["BTC"], since="1d")
            with open_store(store_url) as st:
                await write_snapshots(dt, st, ["BTC"], ["funding", "oi", "basis"],
                                      venues=("binance", "okx", "hyperliquid"))
                st.write([
                    Gap(venue="binance", stream="fstream !markPrice@arr", start=NOW - timedelta(hours=2),
                        end=NOW - timedelta(hours=2) + timedelta(seconds=42), reason="disconnect",
                        received_at=NOW - timedelta(hours=2), collector="run-a"),
                    Gap(venue="okx", stream="funding-rate ETH-USDT-SWAP", start=NOW - timedelta(hours=1), end=None,
                        reason="stall", received_at=NOW - timedelta(hours=1), collector="run-b"),
                ])

    run(fill())
    return store_url


def history(url: str, kind: str, assets: Any, **kw: Any) -> Any:
    async def go() -> Any:
        async with dtrack.AsyncClient(clock=pinned(), store=url) as dt:
            return await dt.history(kind, assets, **kw)

    return run(go())


def test_history_returns_what_the_store_holds_without_duplicates(filled: str) -> None:
    result = history(filled, "funding", ["BTC", "eth"], since="3d")
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("history"))
    with open_store(filled) as st:
        stored = st.read("funding_points")
    keys = [(r["venue"], r["symbol"], r["time"]) for r in doc["rows"]]
    assert len(keys) == len(set(keys)) == len(stored) > 0
    assert [r["time"] for r in doc["rows"]] == sorted(r["time"] for r in doc["rows"])
    by_key = {(r["venue"], r["symbol"], r["time"]): r for r in stored}
    from dtrack.report.history import iso_ms

    for row in doc["rows"]:
        want = next(v for (ven, sym, t), v in by_key.items() if (ven, sym, iso_ms(t)) == (row["venue"], row["symbol"],
                                                                                          row["time"]))
        assert row["rate"] == want["rate"] and row["interval_hours"] == want["interval_hours"]
        assert row["apr"] == pytest.approx(want["rate"] * 8760 / want["interval_hours"], rel=1e-12)  # type: ignore
    assert doc["assets"] == ["BTC", "ETH"] and result.exit_code == 0
    assert {s["venue"] for s in doc["series"]} == {"binance", "okx", "hyperliquid"}
    assert sum(s["points"] for s in doc["series"]) == len(doc["rows"])


def test_csv_and_pandas_have_a_tz_aware_time(filled: str) -> None:
    result = history(filled, "klines", "BTC", since="1d")
    frame = result.to_pandas()
    assert isinstance(frame["time"].dtype, pd.DatetimeTZDtype) and str(frame["time"].dt.tz) == "UTC"
    assert len(frame) == len(result.rows) > 0
    csv = result.to_csv()
    assert csv.splitlines()[0] == "time,venue,symbol,asset,close,high,low,received_at"
    read = pd.read_csv(io.StringIO(csv), parse_dates=["time"])
    assert isinstance(read["time"].dtype, pd.DatetimeTZDtype) and len(read) == len(frame)
    assert read["close"].tolist() == pytest.approx(frame["close"].tolist(), rel=1e-15)
    # the klines' own ranges (the backfill stored them): every close inside its bar's high and low
    assert (frame["low"] <= frame["close"]).all() and (frame["close"] <= frame["high"]).all()
    assert (frame["high"] > frame["low"]).any()
    assert (frame["time"] <= pd.Timestamp(NOW)).all() and (frame["time"] >= pd.Timestamp(NOW - timedelta(days=1))).all()


def test_a_venue_symbol_names_only_its_contracts(filled: str) -> None:
    doc = history(filled, "funding", "BTCUSDT", since="3d", venues=["binance"]).to_dict()
    assert {(r["venue"], r["symbol"]) for r in doc["rows"]} == {("binance", "BTCUSDT")}
    assert len(doc["rows"]) == 10  # 3 days of 8 h settlements, 08:00 three days ago included


def test_until_is_exclusive(filled: str) -> None:
    doc = history(filled, "funding", "ETH", since="2026-12-03", until="2026-12-04T00:00Z",
                  venues=["okx"]).to_dict()
    times = [r["time"] for r in doc["rows"]]
    assert times and all("2026-12-03T00:00:00.000Z" <= t < "2026-12-04T00:00:00.000Z" for t in times)
    assert doc["since"] == "2026-12-03T00:00:00.000Z" and doc["until"] == "2026-12-04T00:00:00.000Z"


def test_snapshots_are_the_stored_current_records(filled: str) -> None:
    result = history(filled, "snapshots", "BTC", since="1h")
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("history"))
    tables = {r["table"] for r in doc["rows"]}
    assert tables == {"funding_rates", "open_interest", "price_quotes"}
    with open_store(filled) as st:
        assert len(doc["rows"]) == sum(len(st.read(t)) for t in tables)
        rate = st.read("funding_rates", venue="okx", symbol="BTC-USDT-SWAP")[0]
    row = next(r for r in doc["rows"] if r["table"] == "funding_rates" and r["symbol"] == "BTC-USDT-SWAP")
    assert row["rate"] == rate["rate"] and row["interval_hours"] == rate["interval_hours"]
    assert row["received_at"] == "2026-12-04T08:00:00.000Z"


def test_gaps_keep_the_collector_and_filter_by_asset(filled: str) -> None:
    every = history(filled, "gaps", None, since="1d").to_dict()
    assert [(g["venue"], g["collector"], g["reason"]) for g in every["rows"]] == [
        ("binance", "run-a", "disconnect"), ("okx", "run-b", "stall")]
    assert every["rows"][0]["duration_seconds"] == 42 and every["rows"][1]["end_time"] is None
    btc = history(filled, "gaps", "BTC", since="1d").to_dict()  # the whole Binance connection, not okx's ETH swap
    assert [g["venue"] for g in btc["rows"]] == ["binance"]
    jsonschema.validate(every, load_schema("history"))


def test_an_empty_store_says_what_to_run_and_creates_nothing(tmp_path: Path) -> None:
    url = str(tmp_path / "none.sqlite3")
    result = history(url, "funding", "BTC")
    assert result.rows == [] and result.exit_code == 1
    assert "dtrack backfill funding BTC --since 90d" in result.note and "dtrack collect" in result.note
    assert not Path(url).exists()
    jsonschema.validate(result.to_dict(), load_schema("history"))


def test_data_outside_the_window_is_said(filled: str) -> None:
    result = history(filled, "klines", "BTC", since="2026-11-01", until="2026-11-02")
    assert result.exit_code == 1 and "holds klines of BTC from 2026-12-03" in result.note


# --- the command -------------------------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DTRACK_NOW", "2026-12-04T08:00:00Z")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    monkeypatch.delenv("DTRACK_STORE", raising=False)


def test_cli_json_csv_and_table(capsys: pytest.CaptureFixture[str], filled: str, env: None) -> None:
    got = cli(capsys, "--store", filled, "history", "funding", "BTC", "--since", "3d", "--format", "json")
    assert got.code == 0, got.err
    doc = got.json()
    assert doc["command"] == "history" and doc["kind"] == "funding"
    keys = [(r["venue"], r["symbol"], r["time"]) for r in doc["rows"]]
    assert len(keys) == len(set(keys)) > 0
    csv = cli(capsys, "--store", filled, "history", "funding", "BTC", "--since", "3d", "--format", "csv")
    assert csv.code == 0 and len(csv.out.strip().splitlines()) == len(keys) + 1
    table = cli(capsys, "--store", filled, "history", "funding", "BTC", "--since", "3d", "--venue", "okx")
    assert table.code == 0 and "STORED FUNDING of BTC" in table.out and "BTC-USDT-SWAP" in table.out
    assert "binance" not in table.out


def test_cli_empty_store_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 env: None) -> None:
    got = cli(capsys, "--store", str(tmp_path / "empty.sqlite3"), "history", "oi", "ETH")
    assert got.code == 1 and got.out == ""
    assert got.err.count("\n") == 1 and "dtrack backfill oi ETH" in got.err


@pytest.mark.parametrize(("argv", "message"), [
    (("history", "fundings", "BTC"), "Invalid value for 'funding|oi|klines|snapshots|options|liquidations|gaps'"),
    (("history", "funding"), "name at least one asset"),
    (("history", "funding", "BTC", "--since", "soon"), "bad --since 'soon'"),
    (("history", "funding", "BTC", "--since", "1d", "--until", "2d"), "must be after --since"),
    (("history", "funding", "BTC", "--venue", "nowhere"), "unknown venue 'nowhere'"),
])
def test_cli_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path, env: None, argv: tuple[str, ...],
                       message: str) -> None:
    got = cli(capsys, "--store", str(tmp_path / "s.sqlite3"), *argv)
    assert got.code == 2 and message in got.err and got.err.count("\n") == 1, got.err


def test_history_loads_no_network_library(filled: str, tmp_path: Path) -> None:
    code = ("import sys\nfrom dtrack.cli.main import main\ntry:\n    main(['--store', sys.argv[1], 'history', "
            "'funding', 'BTC', '--since', '3d', '--format', 'json'])\nexcept SystemExit as e:\n    code = e.code\n"
            "print('aiohttp' in sys.modules, code, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, filled], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DTRACK_NOW": "2026-12-04T08:00:00Z"})
    assert proc.stderr.strip().splitlines()[-1] == "False 0", proc.stderr


def test_config_file_is_honoured(capsys: pytest.CaptureFixture[str], filled: str, tmp_path: Path, env: None,
                                 market: SimThread) -> None:
    config = write_config(tmp_path / "settings.yaml", market.venue_urls(), {"store": {"url": filled}})
    got = cli(capsys, "--config", str(config), "history", "klines", "BTC", "--format", "json")
    assert got.code == 0, got.err
    assert got.json()["store"] == filled and len(got.json()["rows"]) > 0


@pytest.mark.parametrize("command", ["history", "backfill"])
def test_dtrack_schema_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str], command: str) -> None:
    import json

    got = cli(capsys, "schema", command)
    schema = json.loads(got.out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert got.code == 0 and schema == load_schema(command) and schema["properties"]["schema_version"] == {"const": 1}


def test_a_series_of_snapshots_without_venue_times_spans_their_receipt() -> None:
    """Hyperliquid and dYdX send no time with their contexts: a series' first and last observation is when dtrack
    received them, never shown as unknown."""
    from datetime import UTC, datetime

    from dtrack.report.history import series
    from dtrack.results import HistoryResult

    t1, t2 = datetime(2026, 12, 4, 8, tzinfo=UTC), datetime(2026, 12, 4, 8, 1, tzinfo=UTC)
    rows = [{"time": None, "received_at": t, "table": "funding_rates", "venue": "hyperliquid", "symbol": "BTC",
             "asset": "BTC"} for t in (t1, t2)]
    result = HistoryResult(as_of=t2, kind="snapshots", since=t1, until=None, store="s", assets=["BTC"],
                           venues=["hyperliquid"], rows=rows)
    (item,) = series(result)
    assert (item["points"], item["first"], item["last"]) == (2, t1, t2)
