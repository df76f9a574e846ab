"""The public Python API (``dtrack.Client`` / ``AsyncClient``) against the simulated venues on a real socket:
the same documents as the CLI, DataFrames with the same rows, inputs as users type them, the sync client
inside a running event loop, and every document valid against its shipped JSON Schema."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest
import yaml
from tests.clirun import dtrack as run_cli
from tests.conftest import SimThread

import dtrack
from dtrack.schemas import load_schema
from dtrack.sim.model import MarketModel
from dtrack.sim.server import settings_document

#: the sim's market clock, pinned so that the CLI and the API see the same market
PINNED_MS = 1_796_380_800_000  # 2026-12-04T08:00:00Z (an hour of settlement)


@pytest.fixture(scope="module")
def pinned_sim() -> Iterator[SimThread]:
    server = SimThread(model=MarketModel(seed=7, now_ms=PINNED_MS))
    yield server
    server.close()


@pytest.fixture
def config(pinned_sim: SimThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings.yaml pointing every venue at the pinned sim; private cache and state dirs."""
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings_document(pinned_sim.venue_urls())), encoding="utf-8")
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DTRACK_NOW", "2026-12-04T08:00:00Z")  # dtrack's clock = the sim's market clock
    return path


#: (CLI arguments, the same query through the API)
QUERIES: list[tuple[tuple[str, ...], Any]] = [
    (("funding", "BTC", "eth", "--history", "7d", "--arb", "--alert-threshold", "0.01"),
     lambda dt: dt.funding(["BTC", "eth"], history="7d", arb=True, alert_threshold=0.01)),
    (("funding", "PEPE", "--position", "5000", "--side", "short"),
     lambda dt: dt.funding("PEPE", position=5000, side="short")),
    (("oi", "BTC", "SOL", "--changes", "--divergence", "--window", "4h"),
     lambda dt: dt.open_interest(["BTC", "SOL"], changes=True, divergence=True, window="4h")),
    (("basis", "--all", "--min-yield", "0"), lambda dt: dt.basis(all=True, min_yield=0)),
    (("basis", "ETH", "--quarterly"), lambda dt: dt.basis("ETH", quarterly=True)),
    (("options", "BTC", "--chain", "--gex", "--flow"), lambda dt: dt.options("BTC", chain=True, gex=True, flow=True)),
    (("venues",), lambda dt: dt.venues()),
]
TIME_KEYS = ("time", "_at", "as_of", "expiry")


def same(a: Any, b: Any, path: str = "") -> None:
    """Deep equality with the receive timestamps aside (both runs see the same pinned market and clock);
    numbers equal to 1e-12 relative."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            if k != "received_at":
                same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15), path
    else:
        assert a == b, path


@pytest.mark.parametrize(("argv", "query"), QUERIES, ids=[" ".join(q[0]) for q in QUERIES])
def test_api_document_equals_cli_json(capsys: pytest.CaptureFixture[str], config: Path, argv: tuple[str, ...],
                                      query: Any) -> None:
    cli = run_cli(capsys, "--config", str(config), *argv, "--format", "json")
    assert cli.code == 0, cli.err
    with dtrack.Client(config=config) as dt:
        result = query(dt)
    api = result.to_dict()
    same(cli.json(), api)
    assert api["schema_version"] == dtrack.SCHEMA_VERSION == 1 and result.failures == []
    jsonschema.validate(api, load_schema(api["command"]))


def _value(x: Any) -> Any:
    if x is pd.NaT:
        return None
    if isinstance(x, pd.Timestamp):
        return x.isoformat().replace("+00:00", "Z")
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


@pytest.mark.parametrize(("argv", "query"), QUERIES[:6], ids=[" ".join(q[0]) for q in QUERIES[:6]])
def test_to_pandas_has_one_row_per_json_row_with_the_same_values(config: Path, argv: tuple[str, ...],
                                                                 query: Any) -> None:
    with dtrack.Client(config=config) as dt:
        result = query(dt)
    doc = result.to_dict()
    rows = doc[result.main_key()]
    frame = result.to_pandas()
    assert len(frame) == len(rows) > 0
    flat = pd.json_normalize(rows, sep=".").to_dict("records")
    for got, want in zip(frame.to_dict("records"), flat, strict=True):
        assert set(got) == set(want)
        for key, value in want.items():
            value = _value(value)
            if key.rsplit(".", 1)[-1].endswith(TIME_KEYS) and isinstance(value, str):
                assert _value(got[key]) == value.replace(".000", ""), key
            elif isinstance(value, float):
                assert _value(got[key]) == pytest.approx(value, rel=1e-12), key
            elif not isinstance(value, list):
                assert _value(got[key]) == value, key
    assert str(frame[next(c for c in frame.columns if c.endswith(TIME_KEYS))].dtype).startswith("datetime64")
    frames = result.frames()
    assert result.main_key() in frames and "errors" in frames


def test_sync_client_works_inside_a_running_event_loop(config: Path) -> None:
    """As in Jupyter: the caller's thread already runs a loop, where asyncio.run would refuse."""

    async def notebook_cell() -> dict[str, Any]:
        with dtrack.Client(config=config) as dt:
            return dt.funding("btc").to_dict()

    doc = asyncio.run(notebook_cell())
    assert {r["venue"] for r in doc["rates"]} == {"binance", "bybit", "okx", "deribit", "hyperliquid", "dydx", "gmx"}


def test_async_client_and_auto_open(config: Path) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with dtrack.AsyncClient(config=config, venues=["okx"]) as dt:
            first = (await dt.open_interest("BTC")).to_dict()
        dt2 = dtrack.AsyncClient(config=config, venues=["bybit"])  # no `async with`: opens on first use
        try:
            second = (await dt2.funding("ETH")).to_dict()
        finally:
            await dt2.aclose()
        return first, second

    first, second = asyncio.run(main())
    assert {r["venue"] for r in first["rows"]} == {"okx"}
    assert {r["venue"] for r in second["rates"]} == {"bybit"}


@pytest.mark.parametrize(("text", "contracts"), [
    ("btc", None),
    ("BTC/USDT:USDT", {("binance", "BTCUSDT"), ("bybit", "BTCUSDT"), ("okx", "BTC-USDT-SWAP")}),
    ("BTCUSDT", {("binance", "BTCUSDT"), ("bybit", "BTCUSDT")}),
    ("BTC-PERPETUAL", {("deribit", "BTC-PERPETUAL")}),
    ("BTC-USDT-SWAP", {("okx", "BTC-USDT-SWAP")}),
    ("1000PEPEUSDT", {("binance", "1000PEPEUSDT"), ("bybit", "1000PEPEUSDT")}),
    ("kPEPE", {("hyperliquid", "kPEPE")}),
    ("BTC-USD", {("dydx", "BTC-USD")}),
    ("btc-usdt-perp", {("binance", "BTCUSDT"), ("bybit", "BTCUSDT"), ("okx", "BTC-USDT-SWAP")}),
])
def test_inputs_as_users_type_them(config: Path, text: str, contracts: set[tuple[str, str]] | None) -> None:
    with dtrack.Client(config=config) as dt:
        rates = dt.funding(text).to_dict()["rates"]
    got = {(r["venue"], r["symbol"]) for r in rates}
    if contracts is None:  # a lowercase asset is the asset: every BTC perpetual on every venue
        assert len(got) >= 10 and {r["asset"] for r in rates} == {"BTC"}
    else:
        assert got == contracts


def test_errors_name_what_was_wrong(config: Path) -> None:
    with dtrack.Client(config=config) as dt:
        with pytest.raises(dtrack.SymbolNotFound, match="unknown asset 'BTCX'; did you mean BTC"):
            dt.funding("BTCX")
        with pytest.raises(dtrack.UsageError, match="--min-spread filters arbitrage pairs"):
            dt.funding("BTC", min_spread=0.1)
        with pytest.raises(dtrack.UsageError, match="expected a duration"):
            dt.open_interest("BTC", divergence=True, window="soon")
    with (pytest.raises(dtrack.UsageError, match="does not offer options in dtrack: Hyperliquid lists no options"),
          dtrack.Client(config=config, venues=["hyperliquid"]) as dt):
        dt.options("BTC")


def test_a_query_deadline_returns_what_answered(sim_factory: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A venue that never answers cannot hold the others back: after the deadline the result holds the
    venues that answered and names the silent one."""
    slow = sim_factory(faults={"okx": "timeout"})
    path = tmp_path / "settings.yaml"
    doc = settings_document(slow.venue_urls())
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    with dtrack.Client(config=path, timeout=3.0) as dt:
        result = dt.funding("BTC")
    assert {r["venue"] for r in result.to_dict()["rates"]} == {"binance", "bybit", "deribit", "hyperliquid", "dydx",
                                                               "gmx"}
    assert [(f.venue, f.kind) for f in result.failures] == [("okx", "unavailable")]
    assert "deadline" in result.failures[0].message and result.exit_code == 3


def test_a_cancelled_query_takes_its_venue_jobs_with_it() -> None:
    """A query cancelled mid-flight (a collector stopping) cancels every venue's job and retrieves its end, so a
    job failing later is never reported as 'Task exception was never retrieved'."""
    from dtrack.client.fetch import on_venues
    from dtrack.errors import VenueUnavailable

    started: list[str] = []
    ended: list[str] = []

    class Pool:
        def adapter(self, name: str) -> str:
            return name

    async def job(name: Any) -> None:
        started.append(name)
        try:
            await asyncio.sleep(3600)
        finally:
            ended.append(name)
        raise VenueUnavailable(name, "never reached")

    async def main() -> None:
        query = asyncio.ensure_future(on_venues(Pool(), ["binance", "okx"], job))  # type: ignore[arg-type]
        while len(started) < 2:
            await asyncio.sleep(0)
        query.cancel()
        with pytest.raises(asyncio.CancelledError):
            await query
        assert sorted(ended) == ["binance", "okx"]  # both jobs ended with the query, not later

    asyncio.run(main())


def test_dtrack_now_pins_the_in_process_sim_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """``$DTRACK_NOW`` with ``sim=True``: the simulated market stands still at that time as dtrack's clock does, so
    two runs give the same figures, of that time (the sim ran on the wall clock while dtrack's clock was pinned)."""
    from datetime import UTC, datetime

    monkeypatch.setenv("DTRACK_NOW", "2026-06-01T08:00:00Z")
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    pinned = datetime(2026, 6, 1, 8, tzinfo=UTC)
    model = MarketModel(7, now_ms=int(pinned.timestamp() * 1000))

    def once() -> list[tuple[str, str, float, Any]]:
        with dtrack.Client(sim=True, venues=["binance", "bybit"]) as dt:
            rows = dt.funding("BTC").to_dict()["rates"]
        return [(r["venue"], r["symbol"], r["rate"], r["time"]) for r in rows]

    first, second = once(), once()
    assert first == second and first and {t for *_, t in first} == {"2026-06-01T08:00:00Z"}
    binance = next(rate for venue, symbol, rate, _ in first if (venue, symbol) == ("binance", "BTCUSDT"))
    perp = model.perp("binance", "BTCUSDT")
    assert perp is not None
    assert binance == pytest.approx(model.current_funding(perp, int(pinned.timestamp() * 1000))[0], rel=1e-9)
