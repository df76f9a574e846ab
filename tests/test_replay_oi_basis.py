"""``dtrack oi`` and ``dtrack basis`` against real payloads replayed on the venues' real paths, values changed.

The replay server, the routes and the deterministic value change are those of ``test_replay.py`` (read that
module's docstring); open-interest fields are doubled, OKX ``oiUsd`` is x 2.5 (so the price OKX implies,
oiUsd / oiCcy, moves by 1.25 x), marks x 1.1, indexes x 1.2, last prices x 1.3. The expected numbers are
computed here from the changed payloads with the venues' documented unit rules, independently of dtrack's
parsers. Paths without a real payload answer 404: OKX ``mark-price`` (so OKX OI is converted at the price
OKX's own oiUsd / oiCcy implies, and the failure is reported), Bybit spot tickers, history endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from clirun import dtrack
from test_replay import (
    BYBIT_INSTRUMENTS_INVERSE,
    BYBIT_INSTRUMENTS_LINEAR,
    BYBIT_TICKER_BTCUSDT,
    BYBIT_TICKERS_INVERSE,
    BYBIT_TICKERS_LINEAR,
    HL_CTXS,
    HL_PREDICTED,
    ReplayServer,
    Route,
    get,
    per_coin,
)

OKX_SWAPS = get("okx", "/api/v5/public/instruments", "okx__rest_public_instruments__capture.json", 0,
                instType="SWAP")
OKX_FUTURES = get("okx", "/api/v5/public/instruments", "okx__rest_public_instruments__capture.json", 1,
                  instType="FUTURES")
OKX_OI = get("okx", "/api/v5/public/open-interest", "okx__ccxt_fetchOpenInterest.json", instType="SWAP")
OKX_SPOT = get("okx", "/api/v5/market/tickers", "okx__ccxt_fetchTicker.json", instType="SPOT")

ROUTES: tuple[Route, ...] = (BYBIT_INSTRUMENTS_LINEAR, BYBIT_INSTRUMENTS_INVERSE, BYBIT_TICKERS_LINEAR,
                             BYBIT_TICKER_BTCUSDT, BYBIT_TICKERS_INVERSE, HL_CTXS, HL_PREDICTED, OKX_SWAPS,
                             OKX_FUTURES, OKX_OI, OKX_SPOT)
HOSTS = {"bybit": {"rest": "bybit"}, "hyperliquid": {"rest": "hyperliquid"}, "okx": {"rest": "okx"}}


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer(list(ROUTES)).start()
    yield server
    server.close()


@pytest.fixture
def config(replay: ReplayServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    doc = {"venues": {v: {"rest_urls": {k: replay.url(p) for k, p in hosts.items()}} for v, hosts in HOSTS.items()},
           "http": {"timeout": 5, "retries": 0}}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], config: str, *argv: str) -> dict[str, Any]:
    venues = [a for v in HOSTS for a in ("--venue", v)]
    result = dtrack(capsys, "--config", config, *argv, *venues, "--format", "json")
    assert "Traceback" not in result.err
    assert result.code in (0, 3), result.err
    doc: dict[str, Any] = result.json()
    return doc


def bybit_oi() -> dict[str, tuple[float, float]]:
    """symbol -> (one-sided amount as reported, USD): linear coins x markPrice, inverse already USD."""
    listed = {i["symbol"] for page in (BYBIT_INSTRUMENTS_LINEAR.body(), BYBIT_INSTRUMENTS_INVERSE.body())
              for i in page["result"]["list"] if i["status"] == "Trading"}
    out = {}
    for tickers in (BYBIT_TICKERS_LINEAR.body(), BYBIT_TICKERS_INVERSE.body()):
        inverse = tickers["result"]["category"] == "inverse"
        for t in tickers["result"]["list"]:
            if t["symbol"] not in listed or not t["symbol"].startswith("BTC"):
                continue
            amount = float(t.get("singleOpenInterest") or t["openInterest"])
            out[t["symbol"]] = (amount, amount if inverse else amount * float(t["markPrice"]))
    return out


def hyperliquid_oi(assets: Sequence[str]) -> dict[str, tuple[float, float]]:
    """coin -> (openInterest coins, coins x markPx)."""
    meta, ctxs = HL_CTXS.body()
    return {u["name"]: (float(c["openInterest"]), float(c["openInterest"]) * float(c["markPx"]))
            for u, c in zip(meta["universe"], ctxs, strict=True) if per_coin(u["name"])[0] in assets}


def okx_oi() -> dict[str, tuple[float, float]]:
    """instId -> (oi contracts, contracts x ctVal x (oiUsd / oiCcy)): no mark price exists in the corpus."""
    sizes = {i["instId"]: float(i["ctVal"]) * float(i["ctMult"]) for i in OKX_SWAPS.body()["data"]}
    out = {}
    for row in OKX_OI.body()["data"]:
        price = float(row["oiUsd"]) / float(row["oiCcy"])
        out[row["instId"]] = (float(row["oi"]), float(row["oi"]) * sizes[row["instId"]] * price)
    return out


def test_oi_usd_matches_the_changed_payloads(replay: ReplayServer, config: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    doc = run(capsys, config, "oi", "BTC", "ETH")
    rows = {(r["venue"], r["symbol"]): r for r in doc["rows"]}
    expected = {("bybit", s): v for s, v in bybit_oi().items()}
    expected |= {("hyperliquid", s): v for s, v in hyperliquid_oi(["BTC", "ETH"]).items()}
    expected |= {("okx", s): v for s, v in okx_oi().items()}
    assert set(expected) <= set(rows), sorted(set(expected) - set(rows))
    for key, (amount, usd) in expected.items():
        assert rows[key]["oi_amount"] == pytest.approx(amount, rel=1e-12), key
        assert rows[key]["oi_usd"] == pytest.approx(usd, rel=1e-12), key
    okx = rows[("okx", "BTC-USDT-SWAP")]
    assert "oiUsd" in okx["price_source"] or "oiUsd" in okx["note"]
    assert any(e["venue"] == "okx" and "mark-price" in e["message"] for e in doc["errors"])
    total = sum(r["oi_usd"] for r in doc["rows"] if r["asset"] == "BTC")
    btc = next(s for s in doc["summary"] if s["asset"] == "BTC")
    assert btc["total_oi_usd"] == pytest.approx(total, rel=1e-12)


def test_basis_matches_the_changed_payloads(replay: ReplayServer, config: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    doc = run(capsys, config, "basis", "BTC")
    spot = float(OKX_SPOT.body()["data"][0]["last"])
    assert doc["summary"][0]["spot_price"] == pytest.approx(spot, rel=1e-12)
    ticker = next(t for t in BYBIT_TICKERS_LINEAR.body()["result"]["list"] if t["symbol"] == "BTCUSDT")
    mark, index = float(ticker["markPrice"]), float(ticker["indexPrice"])
    row = next(r for r in doc["rows"] if (r["venue"], r["symbol"]) == ("bybit", "BTCUSDT"))
    assert row["price"] == pytest.approx(mark, rel=1e-12)
    assert row["spot_price"] == pytest.approx(spot, rel=1e-12)
    assert row["basis"] == pytest.approx((mark - spot) / spot, rel=1e-9)
    assert row["basis_usd"] == pytest.approx(mark - spot, rel=1e-9)
    assert row["premium_index"] == pytest.approx((mark - index) / index, rel=1e-9)
    inst = next(i for i in BYBIT_INSTRUMENTS_LINEAR.body()["result"]["list"] if i["symbol"] == "BTCUSDT")
    hours = float(ticker.get("fundingIntervalHour") or float(inst["fundingInterval"]) / 60)  # 480 min / 2 -> 4 h
    assert row["annualized"] == pytest.approx(float(ticker["fundingRate"]) * 8760 / hours, rel=1e-9)
    hl = next(r for r in doc["rows"] if r["venue"] == "hyperliquid" and r["symbol"] == "BTC")
    meta, ctxs = HL_CTXS.body()
    ctx = next(c for u, c in zip(meta["universe"], ctxs, strict=True) if u["name"] == "BTC")
    assert hl["price"] == pytest.approx(float(ctx["markPx"]), rel=1e-12)
    assert hl["index_price"] == pytest.approx(float(ctx["oraclePx"]), rel=1e-12)
