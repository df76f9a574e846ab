"""``dtrack execsim`` end to end against the simulated venues on a real socket, the market pinned.

The check of issue 13: the market order of ``execsim --format json`` recomputed here by walking, with plain loops,
the book the sim served (the depth request its log lists, asked again of the pinned market, which answers the same);
the venue chosen by default is the one with the most USD within 1 % of the mid on the order's side; the same
``--seed`` gives the same statistics; bad input is one line and exit 2; the JSON Schema; the Python API gives the
CLI's document.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import dtrack
from clirun import dtrack as cli
from conftest import SimThread
from dtrack.schemas import load_schema
from pinned_sim import PINNED, lines, logged, pinned_env, pinned_market

SCHEMA = json.loads((Path(__file__).parents[1] / "src/dtrack/schemas/execsim.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimThread, Path, Path]]:
    """The sim pinned at PINNED_MS with a request log, and a settings file pointing at it."""
    with pinned_market(tmp_path_factory.mktemp("execsim")) as got:
        yield got


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned_env(tmp_path, monkeypatch)


def ask(server: SimThread, venue: str, host: str, path: str) -> Any:
    with urllib.request.urlopen(server.venue_urls()[venue][host] + path, timeout=30) as resp:
        return json.loads(resp.read())


def walk(levels: list[tuple[float, float]], qty: float) -> tuple[float, float, int, float]:
    """(filled, notional, levels touched, worst price) taking ``qty`` best first, by a plain loop."""
    left, filled, notional, touched, worst = qty, 0.0, 0.0, 0, 0.0
    for price, size in levels:
        if left <= 0:
            break
        take = min(size, left)
        filled, notional, touched, worst, left = filled + take, notional + take * price, touched + 1, price, left - take
    return filled, notional, touched, worst


@pytest.mark.parametrize(("side", "size"), [("buy", "150"), ("sell", "$2.5M")])
def test_market_order_equals_a_walk_of_the_book_the_sim_served(capsys: pytest.CaptureFixture[str], env: None,
                                                                 market: tuple[SimThread, Path, Path], side: str,
                                                                 size: str) -> None:
    server, config, log = market
    start = lines(log)
    got = cli(capsys, "--config", str(config), "execsim", "BTC", "--side", side, "--size", size, "--venue", "binance",
              "--paths", "200", "--format", "json")
    assert got.code == 0, got.err
    doc = got.json()
    jsonschema.validate(doc, SCHEMA)
    assert (doc["venue"], doc["symbol"], doc["side"], doc["as_of"]) == ("binance", "BTCUSDT", side, PINNED)
    depth = [r for r in logged(log, start) if r["path"].startswith("/fapi/v1/depth")]
    assert len(depth) == 1 and "symbol=BTCUSDT" in depth[0]["path"]
    body = ask(server, "binance", depth[0]["host"], depth[0]["path"])
    bids = [(float(p), float(q)) for p, q in body["bids"]]
    asks = [(float(p), float(q)) for p, q in body["asks"]]
    mid = (bids[0][0] + asks[0][0]) / 2
    qty = 150.0 if size == "150" else 2.5e6 / mid
    filled, notional, touched, worst = walk(asks if side == "buy" else bids, qty)
    sign = 1 if side == "buy" else -1
    m = doc["market"]
    assert m["arrival_mid"] == pytest.approx(mid, rel=1e-12)
    assert doc["order"]["size_base"] == pytest.approx(qty, rel=1e-12)
    assert doc["order"]["size_unit"] == ("base" if size == "150" else "usd")
    assert m["filled_base"] == pytest.approx(filled, rel=1e-12) and m["unfilled_base"] == 0.0
    assert m["levels"] == touched and m["worst_price"] == worst
    assert m["avg_price"] == pytest.approx(notional / filled, rel=1e-12)
    assert m["slippage_bps"] == pytest.approx(sign * (notional / filled - mid) / mid * 1e4, rel=1e-9)
    assert m["cost_usd"] == pytest.approx(sign * (notional - mid * filled), rel=1e-9)
    assert m["depth"] == "enough" and m["levels_available"] == len(asks if side == "buy" else bids)
    rows = {r["algo"]: r for r in doc["algorithms"]}
    assert list(rows) == ["market", "twap", "vwap", "iceberg"]
    assert rows["market"]["avg_price"]["expected"] == pytest.approx(notional / filled, rel=1e-12)
    # 24 children over 6 h, the last sent (and filled) at 5h45
    assert rows["twap"]["children"] == 24 and rows["twap"]["hours"]["expected"] == pytest.approx(6.0 - 0.25)
    assert sum(rows["vwap"]["child_sizes_base"]) == pytest.approx(qty, rel=1e-12)
    for name in ("twap", "vwap", "iceberg"):
        r = rows[name]
        assert r["saving_usd"]["expected"] == pytest.approx(
            m["cost_usd"] - r["cost_usd"]["expected"], rel=1e-9, abs=1e-6)
        slack = 1e-9 * r["avg_price"]["mean"]  # a degenerate spread (all filled at once) differs by rounding only
        assert r["avg_price"]["p05"] - slack <= r["avg_price"]["mean"] <= r["avg_price"]["p95"] + slack
    params = doc["parameters"]
    for key, unit in (("sigma_hourly", "fraction per sqrt(hour)"), ("daily_volume_base", "coins per day"),
                      ("impact_y", "dimensionless"), ("refill_per_hour_base", "coins per hour"),
                      ("arrival_mid", "USD per coin"), ("book_time", "ISO-8601 UTC")):
        assert params[key]["unit"] == unit and params[key]["value"] is not None, key
    assert params["book_time"]["value"] == doc["book"]["time"]
    assert params["permanent_share"]["value"] == 0.1 and params["seed"]["value"] == 1
    assert "quote" in params["daily_volume_base"]["source"] and doc["volume_profile"] is not None


def test_default_venue_is_the_deepest_on_the_orders_side(capsys: pytest.CaptureFixture[str], env: None,
                                                          market: tuple[SimThread, Path, Path]) -> None:
    _, config, _ = market
    got = cli(capsys, "--config", str(config), "execsim", "ETH", "--side", "sell", "--size", "100",
              "--algo", "market", "--format", "json")
    assert got.code == 0, got.err
    doc = got.json()
    jsonschema.validate(doc, SCHEMA)
    cands = doc["candidates"]
    assert len(cands) >= 3
    deepest = max(cands, key=lambda c: c["depth_1pct_usd"])
    assert doc["venue"] == deepest["venue"] and [c["venue"] for c in cands if c["chosen"]] == [doc["venue"]]
    assert "deepest bid side within 1 % of the mid" in doc["choice"]
    assert [r["algo"] for r in doc["algorithms"]] == ["market"]
    assert {o["venue"] for o in doc["not_covered"]} >= {"gmx"}


def test_same_seed_same_statistics(capsys: pytest.CaptureFixture[str], env: None,
                                   market: tuple[SimThread, Path, Path]) -> None:
    _, config, _ = market
    argv = ("--config", str(config), "execsim", "BTC", "--side", "buy", "--size", "80", "--venue", "bybit",
            "--over", "3h", "--slices", "12", "--paths", "300", "--format", "json")
    one = cli(capsys, *argv, "--seed", "5").json()["algorithms"]
    two = cli(capsys, *argv, "--seed", "5").json()["algorithms"]
    other = cli(capsys, *argv, "--seed", "6").json()["algorithms"]
    assert one == two
    assert one[1]["avg_price"]["mean"] != other[1]["avg_price"]["mean"]
    assert one[1]["avg_price"]["expected"] == other[1]["avg_price"]["expected"]


def test_table_and_csv(capsys: pytest.CaptureFixture[str], env: None, market: tuple[SimThread, Path, Path]) -> None:
    _, config, _ = market
    got = cli(capsys, "--config", str(config), "execsim", "SOL", "--side", "buy", "--size", "$50k", "--venue", "okx",
              "--paths", "100")
    assert got.code == 0, got.err
    for needle in ("SOL EXECUTION SIMULATION: buy", "on okx", "MARKET", "TWAP", "VWAP", "ICEBERG",
                   "Market order:", "MODEL PARAMETERS", "impact_y", "sigma_hourly", "named with --venue (okx)"):
        assert needle in got.out, needle
    got = cli(capsys, "--config", str(config), "execsim", "SOL", "--side", "buy", "--size", "$50k", "--venue", "okx",
              "--paths", "100", "--format", "csv")
    assert got.code == 0, got.err
    rows = list(csv.DictReader(io.StringIO(got.out)))
    assert [r["algo"] for r in rows] == ["market", "twap", "vwap", "iceberg"]
    assert float(rows[1]["avg_price_p05"]) <= float(rows[1]["avg_price_p95"])
    assert "--format json" in got.err


def test_python_api_gives_the_cli_document(capsys: pytest.CaptureFixture[str], env: None,
                                           market: tuple[SimThread, Path, Path]) -> None:
    _, config, _ = market
    doc = cli(capsys, "--config", str(config), "execsim", "BTC", "--side", "sell", "--size", "20", "--venue",
              "deribit", "--paths", "50", "--format", "json").json()
    with dtrack.Client(config=str(config)) as dt:
        result = dt.execsim("BTC", side="sell", size=20, venue="deribit", paths=50)
    assert result.to_dict() == doc
    assert load_schema is not None


@pytest.mark.parametrize(("argv", "needle"), [
    (("--size", "0"), "bad --size '0': the size must be more than 0"),
    (("--size", "-5"), "bad --size '-5'"),
    (("--size", "ten"), "bad --size 'ten': expected coins"),
    (("--size", "5", "--algo", "twap,pov"), "unknown --algo 'pov': expected some of market,twap,vwap,iceberg"),
    (("--size", "5", "--slices", "0"), "bad --slices 0: expected a whole number of child orders from 1"),
    (("--size", "5", "--over", "soon"), "bad --over 'soon': expected a duration like 6h"),
    (("--size", "5", "--over", "30d"), "bad --over '30d': expected from 1m to 7d"),
    (("--size", "5", "--paths", "0"), "bad --paths 0"),
    (("--size", "5", "--side", "hold"), "'hold' is not one of 'buy', 'sell'"),
    # an overflowing number is not "0 or less"
    (("--size", "1e400"), "bad --size '1e400': too large a number"),
    # 100,000 paths x 10,000 slices were a billion cells per array: the process was killed for its memory
    (("--size", "5", "--paths", "100000", "--slices", "10000"),
     "bad --paths/--slices: 100,000 paths x 10,000 slices is more than 10,000,000"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], env: None, argv: tuple[str, ...],
                                          needle: str) -> None:
    side = () if "--side" in argv else ("--side", "buy")
    got = cli(capsys, "execsim", "BTC", *side, *argv)
    assert got.code == 2, got.err
    assert needle in got.err
    assert len(got.err.strip().splitlines()) == 1 and "Traceback" not in got.err
