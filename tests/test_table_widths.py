"""Every table of every command fits 80, 120 and 200 columns (``$COLUMNS``, piped), never cuts a symbol, says
when its data is from, and ``--wide`` shows every column.

The commands run in-process (``clirun``) against the simulated venues (``--sim``), or against a store filled from
the simulated market pinned at ``storefix.NOW`` (funding from the store, history, backfill, store info).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import dtrack
from clirun import dtrack as cli
from conftest import SimThread
from dtrack.records import Coverage, Gap, Instrument, Kind, Liquidation, Margin, PriceKind, Unit
from dtrack.report.table import display_width
from dtrack.store import open_store
from storefix import NOW, model, pinned, run, sim_settings, write_snapshots

pytestmark = pytest.mark.usefixtures("private_dirs")

WIDTHS = (80, 120, 200)
AS_OF = re.compile(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+ (s|min|h|d) ago\)")


def rows_of(*keys: str) -> Callable[[dict[str, Any]], list[str]]:
    """The symbols of the JSON document's ``keys`` tables (the rows its tables show)."""
    return lambda doc: [row["symbol"] for key in keys for row in doc.get(key) or [] if row.get("symbol")]


def no_symbols(doc: dict[str, Any]) -> list[str]:
    return []


#: name -> (argv, the symbols its tables must show whole)
SIM_COMMANDS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], list[str]]]] = {
    "funding": (("funding", "BTC", "ETH", "SOL", "PEPE", "--sim"), rows_of("rates")),
    "funding --arb --history --position --alert-threshold": (
        ("funding", "BTC", "--sim", "--arb", "--history", "7d", "--position", "10000", "--side", "short",
         "--alert-threshold", "0.01"), rows_of("rates")),
    "oi --changes --divergence": (("oi", "BTC", "ETH", "--sim", "--changes", "--divergence"), rows_of("rows")),
    "basis --min-yield": (("basis", "BTC", "ETH", "--sim", "--min-yield", "1"), rows_of("rows")),
    "options": (("options", "BTC", "--sim"), no_symbols),
    "options --chain": (("options", "ETH", "--sim", "--chain", "--expiry", "friday"), no_symbols),
    "options --pcr --gex --flow": (("options", "BTC", "--sim", "--pcr", "--gex", "--flow"), no_symbols),
    "venues": (("venues",), no_symbols),
    "funding --top --sort apr": (("funding", "--top", "15", "--sort", "apr", "--sim"), rows_of("rates")),
    "oi --top --sort change_24h": (("oi", "--top", "15", "--sort", "change_24h", "--sim"), rows_of("rows")),
    "basis --all --sort annualized": (("basis", "--all", "--sort", "annualized", "--sim"), rows_of("rows")),
    "dashboard --level 1": (("dashboard", "BTC", "ETH", "--level", "1", "--sim"), no_symbols),
    "dashboard": (("dashboard", "BTC", "--sim"), no_symbols),
    "liquidations --map": (("liquidations", "BTC", "--map", "--sim"), no_symbols),
    "book": (("book", "BTC", "ETH", "SOL", "--sim"), rows_of("rows")),
    "book --kind all --bands": (("book", "BTC", "--kind", "all", "--bands", "0.05,0.25,1,2,10", "--sim"),
                                rows_of("rows")),
    "execsim": (("execsim", "BTC", "--side", "buy", "--size", "20", "--paths", "200", "--sim"), no_symbols),
    "liqprice --target-distance": (("liqprice", "--venue", "okx", "--symbol", "BTC-USDT-SWAP", "--side", "short",
                                    "--entry", "90000", "--size", "2", "--leverage", "20", "--target-distance", "30",
                                    "--sim"), no_symbols),
    "vol": (("vol", "BTC", "ETH", "--sim"), no_symbols),
    "vol --bars 1h": (("vol", "SOL", "--bars", "1h", "--window", "7d", "--no-iv", "--sim"), no_symbols),
    "carry simulate": (("carry", "simulate", "--avg-funding", "0.03", "--days", "90", "--sim"), no_symbols),
    "carry backtest": (("carry", "backtest", "--asset", "BTC", "--perp-venue", "bybit", "--days", "30", "--sim"),
                       no_symbols),
}
STORE_COMMANDS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], list[str]]]] = {
    "funding (from the store)": (("funding", "BTC", "ETH"), rows_of("rates")),
    "oi (from the store)": (("oi", "BTC"), rows_of("rows")),
    "history funding": (("history", "funding", "BTC", "ETH", "--since", "3d"), rows_of("series")),
    "history snapshots": (("history", "snapshots", "BTC", "ETH"), rows_of("series")),
    "history options": (("history", "options", "BTC"), no_symbols),
    "history gaps": (("history", "gaps", "--since", "7d"), no_symbols),
    "liquidations (from the store)": (("liquidations", "BTC", "ETH"), no_symbols),
    "liquidations --recent (from the store)": (("liquidations", "BTC", "--recent", "--min-size", "1"),
                                               rows_of("recent")),
}


def check(out: str, width: int) -> None:
    """No line longer than ``width`` columns, no colour in a pipe, the data's time on the first line."""
    lines = out.splitlines()
    assert AS_OF.fullmatch(lines[0]), lines[0]
    too_long = [line for line in lines if display_width(line) > width]
    assert too_long == [], f"{len(too_long)} lines over {width} columns, e.g. {too_long[0]!r}"
    assert "\x1b[" not in out and "…" not in out


def whole(symbol: str, text: str) -> bool:
    """``symbol`` appears in ``text`` whole: not cut, not run into another word."""
    return re.search(rf"(?<!\S){re.escape(symbol)}(?!\S)", text) is not None


def assert_fits(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...],
                symbols: Callable[[dict[str, Any]], list[str]], ok: tuple[int, ...] = (0,)) -> None:
    got = cli(capsys, *argv, "--format", "json")
    assert got.code in ok, got.err
    names = set(symbols(got.json()))
    for width in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(width))
        table = cli(capsys, *argv)
        assert table.code in ok, table.err
        check(table.out, width)
        if width == 120:
            assert [s for s in sorted(names) if not whole(s, table.out)] == []


#: the in-process sim computes every answer in this process: a busy machine may take longer than the queries'
#: default deadline (20 s), which these tests do not measure
NO_DEADLINE = ("--timeout", "170")


@pytest.mark.parametrize("name", list(SIM_COMMANDS))
def test_sim_command_tables_fit(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                name: str) -> None:
    argv, symbols = SIM_COMMANDS[name]
    assert_fits(capsys, monkeypatch, argv + NO_DEADLINE if argv[0] != "venues" else argv, symbols)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A store holding 8 days of funding of BTC and ETH, a snapshot round of funding, OI and basis of BTC and ETH
    on every venue, an options round, and two gaps, from the simulated market pinned at ``NOW``; and a settings
    file pointing at that market."""
    from storefix import write_config

    tmp = tmp_path_factory.mktemp("widths")
    url = str(tmp / "store.sqlite3")
    market = SimThread(model=model())

    async def fill() -> None:
        async with dtrack.AsyncClient(config=sim_settings(market.venue_urls(), tmp), clock=pinned(),
                                      store=url) as dt:
            await dt.backfill("funding", ["BTC", "ETH"], since="8d")  # the 7-day averages: a store answer
            snap = await dt.snapshot("options", ["BTC"], chains=False)
            with open_store(url) as st:
                await write_snapshots(dt, st, ["BTC", "ETH"], ["funding", "oi", "basis"])
                st.write(snap.records)
                st.write(liquidation_events())
                st.write([
                    Gap(venue="binance", stream="fstream !markPrice@arr", start=NOW - timedelta(hours=2),
                        end=NOW - timedelta(hours=2) + timedelta(seconds=42), reason="disconnect",
                        received_at=NOW - timedelta(hours=2), collector="run-a"),
                    Gap(venue="okx", stream="funding-rate ETH-USDT-SWAP", start=NOW - timedelta(hours=1),
                        end=None, reason="stall: no message for 60 s on a subscribed channel",
                        received_at=NOW - timedelta(hours=1), collector="run-b"),
                ])

    try:
        run(fill())
        yield url, write_config(tmp / "sim.yaml", market.venue_urls())
    finally:
        market.close()


def liquidation_events() -> list[Liquidation]:
    """A few liquidations of the last hours on three venues (a sampled one among them)."""
    def perp(venue: str, symbol: str, asset: str) -> Instrument:
        return Instrument(venue=venue, symbol=symbol, asset=asset, quote="USDT", settle="USDT", kind=Kind.PERP,
                          margin=Margin.LINEAR)

    out = []
    for i, (venue, symbol, asset, coverage) in enumerate([
            ("binance", "BTCUSDT", "BTC", Coverage.SAMPLED), ("bybit", "BTCUSDT", "BTC", Coverage.COMPLETE),
            ("okx", "ETH-USDT-SWAP", "ETH", Coverage.SAMPLED)] * 3):
        when = NOW - timedelta(minutes=37 * i + 5)
        out.append(Liquidation.of(instrument=perp(venue, symbol, asset), side=("long", "short")[i % 2],
                                  price=91_000.0 if asset == "BTC" else 3_100.0, price_kind=PriceKind.BANKRUPTCY,
                                  amount=0.5 + i, unit=Unit.BASE, time=when, received_at=when, coverage=coverage,
                                  key=f"{symbol}:{i}"))
    return out


@pytest.fixture
def at_now(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """dtrack's clock 20 s after the store was filled (its snapshots fresh)."""
    monkeypatch.setenv("DTRACK_NOW", (NOW + timedelta(seconds=20)).isoformat().replace("+00:00", "Z"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    monkeypatch.delenv("DTRACK_STORE", raising=False)


@pytest.mark.parametrize("name", list(STORE_COMMANDS))
def test_store_command_tables_fit(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                  filled: tuple[str, Path], at_now: None, name: str) -> None:
    argv, symbols = STORE_COMMANDS[name]
    assert_fits(capsys, monkeypatch, ("--store", filled[0], "--config", str(filled[1]), *argv), symbols)


def test_a_store_answer_says_how_old_its_data_is(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch, filled: tuple[str, Path],
                                                 at_now: None) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    got = cli(capsys, "--store", filled[0], "--config", str(filled[1]), "funding", "BTC")
    assert got.code == 0, got.err
    assert got.out.splitlines()[0] == "as of 2026-12-04 08:00:00 UTC (20 s ago)"
    assert "Source: the store" in got.out


def test_backfill_and_store_info_fit(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                     filled: tuple[str, Path], at_now: None, tmp_path: Path) -> None:
    url, config = filled
    for width in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(width))
        got = cli(capsys, "--config", str(config), "--store", str(tmp_path / f"b{width}.sqlite3"), "backfill",
                  "funding", "BTC", "--since", "1d", "-q")
        assert got.code == 0, got.err
        check(got.out, width)
        assert "BACKFILL of BTC" in got.out
        info = cli(capsys, "--store", url, "store", "info")
        assert info.code == 0, info.err
        check(info.out, width)
        assert "funding_points" in info.out and "gaps: 2 recorded, 1 still open" in info.out


@pytest.mark.parametrize("where", ["global", "command"])
def test_wide_shows_every_column(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                 filled: tuple[str, Path], at_now: None, where: str) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    argv = ("--store", filled[0], "--config", str(filled[1]), "funding", "BTC")
    narrow = cli(capsys, *argv)
    assert narrow.code == 0 and "Next payment" not in narrow.out and "Margin" not in narrow.out
    wide = cli(capsys, "--wide", *argv) if where == "global" else cli(capsys, *argv, "--wide")
    assert wide.code == 0, wide.err
    header = next(line for line in wide.out.splitlines() if line.startswith("Venue"))
    assert header.split() == ["Venue", "Symbol", "Margin", "Current", "Interval", "8h-eq", "24h", "avg", "7d",
                              "avg", "APR", "Next", "payment", "OI", "(USD)"]
    assert max(map(display_width, wide.out.splitlines())) > 80  # the terminal wraps


def test_a_pipe_without_columns_is_200_wide(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                            filled: tuple[str, Path], at_now: None) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    got = cli(capsys, "--store", filled[0], "--config", str(filled[1]), "funding", "BTC", "ETH")
    assert got.code == 0, got.err
    check(got.out, 200)
    assert "Next payment" in got.out and "Margin" in got.out
