"""``dtrack book`` end to end against the simulated venues on a real socket, the market pinned.

The check of issue 13: every figure of ``book --format json`` recomputed here from the books the sim served (the
requests its log lists, asked again of the pinned market, which answers the same) with this file's own reading of
each venue's wire format (contract terms from the sim's catalogue) and plain loops, truncation flagged where a side
that filled its limit ends inside a band. Also: every book asked in one round after the cached instrument lists
(the sim's ``Flight``), a failed venue leaves the others (exit 3), bad input (exit 2), the JSON Schema, CSV, and the
Python API giving the CLI's document.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml

import dtrack
from clirun import dtrack as cli
from conftest import SimThread
from dtrack.schemas import load_schema
from dtrack.sim.model import MarketModel
from dtrack.sim.server import settings_document
from pinned_sim import PINNED, PINNED_MS, lines, logged, pinned_env, pinned_market

ASSETS = ("BTC", "ETH", "SOL")
BANDS = (0.001, 0.005, 0.01, 0.05)
#: venue -> the path of its book endpoint (Hyperliquid's is POST /info {"type": "l2Book"})
BOOK_PATHS = {"binance": ("/fapi/v1/depth", "/dapi/v1/depth"), "bybit": ("/v5/market/orderbook",),
              "okx": ("/api/v5/market/books",), "deribit": ("/api/v2/public/get_order_book",),
              "dydx": ("/v4/orderbooks/perpetualMarket/",)}
#: the venues that take no depth: the most levels a side they send
FIXED_LIMITS = {"hyperliquid": 20, "dydx": 100}
#: the query parameter carrying the depth asked
DEPTH_PARAMS = {"binance": "limit", "bybit": "limit", "okx": "sz", "deribit": "depth"}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimThread, Path, Path]]:
    """The sim pinned at PINNED_MS with a request log, and a settings file pointing at it."""
    with pinned_market(tmp_path_factory.mktemp("book")) as got:
        yield got


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned_env(tmp_path, monkeypatch)


def is_book(row: dict[str, Any]) -> bool:
    return any(row["path"].startswith(p) for p in BOOK_PATHS.get(row["venue"], ()))


def ask(server: SimThread, venue: str, host: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The sim's answer to one request (the pinned market answers it as it did before)."""
    url = server.venue_urls()[venue][host] + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


# --- this file's reading of each venue's book -------------------------------------------------------------------

def to_coins(venue: str, symbol: str, price: float, qty: float) -> tuple[float, float]:
    """(price per ONE unit of the asset, coins) of one level as the venue sent it, from the sim's contract terms:
    a 1000x symbol quotes 1000 units; an inverse (USD) contract is worth contract_size USD at the level's price.
    Deribit's amounts are USD (inverse) or coins (linear), not contracts; the others count contracts (of
    contract_size coins for OKX's linear swaps; Binance, Bybit, Hyperliquid and dYdX linear: 1 coin)."""
    spec = MarketModel.perp(venue, symbol)
    assert spec is not None, (venue, symbol)
    size = 1.0 if venue == "deribit" else spec.contract_size
    if spec.contract_unit == "usd":
        return price, qty * size / price
    return price / spec.multiplier, qty * size * spec.multiplier


def raw_levels(venue: str, symbol: str, body: Any) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Both sides of a venue's book answer as (price, coins), in the order sent."""
    if venue == "binance":
        sides = body["bids"], body["asks"]
        pairs = [[(float(p), float(q)) for p, q in s] for s in sides]
    elif venue == "bybit":
        pairs = [[(float(p), float(q)) for p, q in body["result"][k]] for k in ("b", "a")]
    elif venue == "okx":
        pairs = [[(float(x[0]), float(x[1])) for x in body["data"][0][k]] for k in ("bids", "asks")]
    elif venue == "deribit":
        pairs = [[(float(p), float(q)) for p, q in body["result"][k]] for k in ("bids", "asks")]
    elif venue == "hyperliquid":
        pairs = [[(float(x["px"]), float(x["sz"])) for x in side] for side in body["levels"]]
    else:  # dydx
        pairs = [[(float(x["price"]), float(x["size"])) for x in body[k]] for k in ("bids", "asks")]
    bids, asks = ([to_coins(venue, symbol, p, q) for p, q in side] for side in pairs)
    return bids, asks


def figures(bids: list[tuple[float, float]], asks: list[tuple[float, float]], limit: int) -> dict[str, Any]:
    """Mid, spread and every band's figures by plain loops."""
    best_bid, best_ask = max(p for p, _ in bids), min(p for p, _ in asks)
    mid = (best_bid + best_ask) / 2
    out: dict[str, Any] = {"mid": mid, "best_bid": best_bid, "best_ask": best_ask,
                           "spread": (best_ask - best_bid) / mid, "levels_bid": len(bids), "levels_ask": len(asks),
                           "limit": limit, "bands": []}
    for band in BANDS:
        low, high = mid * (1 - band), mid * (1 + band)
        fig = {"band": band, "bid_base": sum(s for p, s in bids if p >= low), "ask_base": sum(s for p, s in asks
                                                                                              if p <= high),
               "bid_usd": sum(p * s for p, s in bids if p >= low), "ask_usd": sum(p * s for p, s in asks if p <= high),
               "bid_truncated": len(bids) >= limit and min(p for p, _ in bids) > low,
               "ask_truncated": len(asks) >= limit and max(p for p, _ in asks) < high}
        total = fig["bid_base"] + fig["ask_base"]
        fig["imbalance"] = (fig["bid_base"] - fig["ask_base"]) / total if total else None
        out["bands"].append(fig)
    return out


def close(got: Any, want: Any, where: str) -> None:
    if isinstance(want, bool) or want is None or isinstance(want, int):
        assert got == want, where
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where


def served(server: SimThread, log: Path, start: int, rows: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """(venue, symbol) -> this file's figures of the book the sim served, from the logged book requests (asked
    again of the pinned market); Hyperliquid's POST body is not logged: its coins are the rows'."""
    out: dict[tuple[str, str], Any] = {}
    entries = [r for r in logged(log, start) if is_book(r)]
    for entry in entries:
        venue, url = entry["venue"], urlsplit(entry["path"])
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if venue == "dydx":
            symbol = url.path.rsplit("/", 1)[1]
        else:
            symbol = query.get("symbol") or query.get("instId") or query["instrument_name"]
        body = ask(server, venue, entry["host"], entry["path"])
        limit = FIXED_LIMITS.get(venue) or int(query[DEPTH_PARAMS[venue]])
        out[(venue, symbol)] = figures(*raw_levels(venue, symbol, body), limit)
    for row in rows:
        if row["venue"] == "hyperliquid":
            body = ask(server, "hyperliquid", "rest", "/info", {"type": "l2Book", "coin": row["symbol"]})
            out[("hyperliquid", row["symbol"])] = figures(*raw_levels("hyperliquid", row["symbol"], body), 20)
    return out


def test_book_json_equals_the_books_the_sim_served(capsys: pytest.CaptureFixture[str], env: None,
                                                    market: tuple[SimThread, Path, Path]) -> None:
    server, config, log = market
    start = lines(log)
    got = cli(capsys, "--config", str(config), "book", *ASSETS, "--format", "json")
    assert got.code == 0, got.err
    doc = got.json()
    jsonschema.validate(doc, load_schema("book"))
    assert (doc["kind"], doc["depth"], doc["bands"], doc["as_of"]) == ("perp", 1000, list(BANDS), PINNED)
    rows = doc["rows"]
    want = served(server, log, start, rows)
    assert sorted((r["venue"], r["symbol"]) for r in rows) == sorted(want)  # every book asked is a row, once
    perps = {(p.venue, p.symbol) for p in server.model.perps("binance") + server.model.perps("bybit")
             + server.model.perps("okx") + server.model.perps("deribit") + server.model.perps("hyperliquid")
             + server.model.perps("dydx") if p.asset in ASSETS}
    assert set(want) == perps  # every perpetual of the assets on the six venues with books
    for row in rows:
        ref = want[(row["venue"], row["symbol"])]
        where = f"{row['venue']} {row['symbol']}"
        for key in ("mid", "best_bid", "best_ask", "spread", "levels_bid", "levels_ask", "limit"):
            close(row[key], ref[key], f"{where} {key}")
        assert len(row["bands"]) == len(BANDS)
        for fig, ref_fig in zip(row["bands"], ref["bands"], strict=True):
            for key, value in ref_fig.items():
                close(fig[key], value, f"{where} {fig['band']} {key}")
        assert row["truncated"] == any(f["bid_truncated"] or f["ask_truncated"] for f in ref["bands"])
    # the aggregate: each band summed over the asset's contracts, truncated if any part is
    for agg in doc["aggregates"]:
        mine = [want[(r["venue"], r["symbol"])] for r in rows if r["asset"] == agg["asset"]]
        assert agg["contracts"] == len(mine)
        for k, fig in enumerate(agg["bands"]):
            for key in ("bid_base", "ask_base", "bid_usd", "ask_usd"):
                close(fig[key], sum(m["bands"][k][key] for m in mine), f"{agg['asset']} {key}")
            for key in ("bid_truncated", "ask_truncated"):
                assert fig[key] == any(m["bands"][k][key] for m in mine)
    # truncation is flagged where it happens, and only there: Hyperliquid's 20 levels end inside 0.5 %, dYdX's 100
    # inside 5 %; the 1,000 levels of Binance's BTCUSDT reach past 5 %
    by = {(r["venue"], r["symbol"]): r for r in rows}
    assert by[("hyperliquid", "BTC")]["bands"][1]["bid_truncated"] is True
    assert by[("dydx", "BTC-USD")]["bands"][3]["ask_truncated"] is True
    assert by[("binance", "BTCUSDT")]["truncated"] is False and by[("binance", "BTCUSDT")]["levels_bid"] == 1000
    assert doc["errors"] == [] and doc["skipped"] == []


def test_every_book_is_asked_in_one_round_after_the_cached_lists(capsys: pytest.CaptureFixture[str], env: None,
                                                                 sim_factory: Any, tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(seed=7, now_ms=PINNED_MS))
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(settings_document(server.venue_urls())), encoding="utf-8")
    argv = ("--config", str(config), "book", *ASSETS, "--format", "json")
    first = cli(capsys, *argv)  # lists the instruments (cached on disk), then the books
    assert first.code == 0, first.err
    books = len(first.json()["rows"])
    before = len(server.flight.rounds)
    server.flight.hold = (0,) * before + (books,)  # the next round's answers wait until all its books are asked
    again = cli(capsys, *argv)
    assert again.code == 0, again.err
    assert again.json()["rows"] == first.json()["rows"]
    assert server.flight.sizes()[before:] == [books]  # one round: every book at once, nothing else
    assert server.flight.timed_out == 0
    assert len(server.rounds(before)[0]) == books


def test_a_failed_venue_leaves_the_others(capsys: pytest.CaptureFixture[str], env: None, sim_factory: Any,
                                          tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(seed=7, now_ms=PINNED_MS))
    doc = settings_document(server.venue_urls())
    doc["http"] = {"retries": 0}
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    ok = cli(capsys, "--config", str(config), "book", "BTC", "--format", "json")
    assert ok.code == 0, ok.err
    server.server.faults.endpoints[("okx", "/api/v5/market/books")] = 500
    got = cli(capsys, "--config", str(config), "book", "BTC", "--format", "json")
    assert got.code == 3, got.err
    doc_out = got.json()
    jsonschema.validate(doc_out, load_schema("book"))
    venues = {r["venue"] for r in doc_out["rows"]}
    assert "okx" not in venues and {"binance", "bybit", "deribit", "hyperliquid", "dydx"} <= venues
    assert [e["venue"] for e in doc_out["errors"]] == ["okx"]
    assert "dtrack: okx [" in got.err
    # the others' figures are what they were
    before = {(r["venue"], r["symbol"]): r for r in ok.json()["rows"]}
    assert all(r == before[(r["venue"], r["symbol"])] for r in doc_out["rows"])


@pytest.mark.parametrize(("argv", "message"), [
    (("book", "BTC", "--bands", "0,1"), "bad --bands '0,1': expected percents of the mid like 0.1,0.5,1,5"),
    (("book", "BTC", "--bands", "1,abc"), "bad --bands '1,abc'"),
    (("book", "BTC", "--bands", "60"), "at most 50"),
    (("book", "BTC", "--depth", "0"), "bad --depth 0: expected levels a side from 1 to 5000"),
    (("book", "BTC", "--kind", "spot"), "Invalid value for '--kind'"),
    (("book",), "Missing argument 'ASSET...'"),
])
def test_bad_input_is_a_usage_error(capsys: pytest.CaptureFixture[str], env: None, argv: tuple[str, ...],
                                    message: str) -> None:
    got = cli(capsys, *argv, "--sim")
    assert got.code == 2
    assert message in got.err and "Traceback" not in got.err
    assert got.out == ""


def test_csv_table_and_api(capsys: pytest.CaptureFixture[str], env: None,
                           market: tuple[SimThread, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _server, config, _log = market
    base = ("--config", str(config), "book", "ETH", "--venue", "binance", "--venue", "hyperliquid",
            "--bands", "0.2,2")
    doc = cli(capsys, *base, "--format", "json").json()
    assert doc["bands"] == [0.002, 0.02]
    got = cli(capsys, *base, "--format", "csv")
    assert got.code == 0 and "per-asset sums are in --format json" in got.err
    rows = list(csv.DictReader(io.StringIO(got.out)))
    assert len(rows) == 2 * len(doc["rows"]) > 0
    first, band = doc["rows"][0], doc["rows"][0]["bands"][1]
    mine = next(r for r in rows if r["symbol"] == first["symbol"] and r["venue"] == first["venue"]
                and float(r["band"]) == 0.02)
    assert float(mine["bid_usd"]) == pytest.approx(band["bid_usd"], rel=1e-12)
    assert mine["ask_truncated"] == str(band["ask_truncated"])
    monkeypatch.setenv("COLUMNS", "120")
    table = cli(capsys, *base)
    assert table.code == 0, table.err
    assert "ETH ORDER BOOKS (perpetuals)" in table.out and "0.2% bid/ask" in table.out
    hl = next(line for line in table.out.splitlines() if line.lstrip().startswith("hyperliquid"))
    assert "≥$" in hl  # Hyperliquid's 20 levels end inside 2 %: a lower bound
    assert "≥: a lower bound" in table.out
    with dtrack.Client(config=config, venues=["binance", "hyperliquid"]) as dt:
        api = dt.book("ETH", bands=[0.2, 2])
    assert api.exit_code == 0
    assert api.to_dict() == doc
    frame = api.to_pandas()
    assert len(frame) == len(doc["rows"]) and list(frame["symbol"]) == [r["symbol"] for r in doc["rows"]]
