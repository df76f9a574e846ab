"""``dtrack funding`` against real payloads replayed on the venues' real paths, with their values changed.

A local aiohttp server answers each venue's REAL paths (``/v5/market/tickers``, ``/fapi/v1/premiumIndex``,
``POST /info`` ...) with the REAL payloads of ``tests/payloads/`` (a missing one fails the
test). Each venue host is mounted under its own prefix and settings.yaml points
dtrack's ``rest_urls`` there. A path without a payload answers 404 (so Binance ``openInterest``, which has
no real capture, fails as an enrichment, and exit code 3 is expected).

Before serving, the values are changed deterministically, keeping each value's JSON type (a numeric
string stays a string): funding rates become ``-3 x old + 0.0000123`` (signs flip), mark prices x 1.1,
index prices x 1.2, other prices x 1.3 (so a mark/index/estimate mix-up shows), open interest x 2 (OKX
``oiUsd`` x 2.5),
funding intervals / 2 (8 h -> 4 h, 480 min -> 240 min) and next funding times + 1 h. A number dtrack
prints can therefore only match if it was read from the right field of the payload and converted
with the right unit rule. The expected numbers are computed here, independently of dtrack's parsers,
from the changed payloads and the venues' documented rules (``../shared/exchange-api.md``).

Where the corpus does not answer dtrack's exact request:
- Bybit has no inverse instruments-info example: the linear docs row is relabelled as BTCUSD
  (identity fields only, see ``_as_inverse_page``) so that the real inverse tickers docs answer is read.
- Deribit's only instrument capture answers ``currency=BTC``; it is served for dtrack's ``currency=any``.
- ``predicted_rate``: Bybit, Binance and Deribit publish none (None is asserted); Hyperliquid's
  predictedFundings example covers AVAX only, which its metaAndAssetCtxs example does not list.
- Histories: the docs payloads are answered only for the symbol they were recorded for and are years
  older than the window, so they add no settlement; other symbols get 404 (exit code 3).

Left out: OKX, for which no real funding-rate, mark-price or funding-history payload exists in the
corpus (INDEX.md "Gaps"); the only OKX captures are instruments, tickers, books, trades, candles and
open interest, which do not make a funding row.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from clirun import dtrack
from conftest import load_payload

# --- the deterministic value change ------------------------------------------------------------------

FUNDING_KEYS = frozenset({"fundingRate", "lastFundingRate", "funding", "funding_8h", "current_funding",
                          "interest_8h", "interest_1h"})
MARK_KEYS = frozenset({"markPrice", "markPx", "mark_price"})
INDEX_KEYS = frozenset({"indexPrice", "index_price", "oraclePx"})
OTHER_PRICE_KEYS = frozenset({"estimated_delivery_price", "estimatedSettlePrice", "lastPrice", "last", "midPx",
                              "underlying_price"})
OI_KEYS = frozenset({"openInterest", "singleOpenInterest", "open_interest", "oi", "oiCcy"})
INTERVAL_KEYS = frozenset({"fundingInterval", "fundingIntervalHour", "fundingIntervalHours"})
NEXT_TIME_KEYS = frozenset({"nextFundingTime"})
HOUR_MS = 3_600_000


def _funding(x: float) -> float:
    return -3.0 * x + 0.0000123


def _next_time(ms: float) -> float:
    return ms + HOUR_MS if ms else ms  # 0 means "no funding time" (Binance COIN-M dated futures)


CHANGES: dict[str, Callable[[float], float]] = {
    **{k: _funding for k in FUNDING_KEYS},
    **{k: (lambda x: x * 1.1) for k in MARK_KEYS},
    **{k: (lambda x: x * 1.2) for k in INDEX_KEYS},
    **{k: (lambda x: x * 1.3) for k in OTHER_PRICE_KEYS},
    **{k: (lambda x: x * 2.0) for k in OI_KEYS},
    "oiUsd": lambda x: x * 2.5,  # OKX: so the price it implies (oiUsd / oiCcy) moves too
    **{k: (lambda x: x / 2.0) for k in INTERVAL_KEYS},
    **{k: _next_time for k in NEXT_TIME_KEYS},
}


def _change_number(value: Any, fn: Callable[[float], float]) -> Any:
    """``fn`` applied to a JSON number or numeric string, keeping the JSON type."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        out = fn(float(value))
        return int(out) if isinstance(value, int) and out.is_integer() else out
    if isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            return value  # "" and other non-numbers stay as they are
        out = fn(x)
        integral = out.is_integer() and not any(c in value for c in ".eE")
        return str(int(out)) if integral else repr(out)
    return value


def change(doc: Any) -> Any:
    """The payload with every known numeric field changed (recursively)."""
    if isinstance(doc, list):
        return [change(v) for v in doc]
    if isinstance(doc, dict):
        return {k: (_change_number(v, CHANGES[k]) if k in CHANGES and not isinstance(v, dict | list) else change(v))
                for k, v in doc.items()}
    return doc


# --- what is served where -------------------------------------------------------------------------------


def _same(body: Any) -> Any:
    return body


def _as_inverse_page(body: Any) -> Any:
    """DERIVED, not captured: Bybit documents one instruments-info schema for linear and inverse but only a
    linear example exists. The BTCUSDT row is relabelled as the inverse BTCUSD perpetual (identity fields
    only; its numbers stay the docs' ones) so that dtrack lists BTCUSD and reads the real inverse tickers."""
    rows = [{**row, "symbol": "BTCUSD", "contractType": "InversePerpetual", "quoteCoin": "USD", "settleCoin": "BTC"}
            for row in body["result"]["list"]]
    return {**body, "result": {**body["result"], "category": "inverse", "list": rows}}


ABSENT = None  # a ``match`` value: the parameter must not be sent


@dataclass(frozen=True, slots=True)
class Route:
    """One real answer: ``method path`` under mount ``prefix``, served when the request's query (GET) or JSON
    body (POST) carries every ``match`` item (``ABSENT``: that key is not sent). The most specific match wins."""

    prefix: str
    method: str
    path: str
    payload: str
    case: int = 0
    match: tuple[tuple[str, str | None], ...] = ()
    shape: Callable[[Any], Any] = _same

    def matches(self, params: Mapping[str, Any]) -> bool:
        return all((key not in params) if want is ABSENT else str(params.get(key)) == want
                   for key, want in self.match)

    def body(self) -> Any:
        """The changed payload this route serves."""
        return change(self.shape(load_payload(self.payload)["cases"][self.case]["raw"]))


def get(prefix: str, path: str, payload: str, case: int = 0, shape: Callable[[Any], Any] = _same,
        **match: str | None) -> Route:
    return Route(prefix, "GET", path, payload, case, tuple(match.items()), shape)


def info(payload: str, case: int = 0, shape: Callable[[Any], Any] = _same, **match: str | None) -> Route:
    return Route("hyperliquid", "POST", "/info", payload, case, tuple(match.items()), shape)


# Bybit v5: one host.
BYBIT_INSTRUMENTS_LINEAR = get("bybit", "/v5/market/instruments-info", "bybit__rest_instruments_info__docs.json",
                               category="linear", cursor=ABSENT)
BYBIT_INSTRUMENTS_INVERSE = get("bybit", "/v5/market/instruments-info", "bybit__rest_instruments_info__docs.json",
                                shape=_as_inverse_page, category="inverse", cursor=ABSENT)
BYBIT_TICKERS_LINEAR = get("bybit", "/v5/market/tickers", "bybit__ccxt_fetchFundingRates.json",
                           category="linear", symbol=ABSENT)
BYBIT_TICKER_BTCUSDT = get("bybit", "/v5/market/tickers", "bybit__ccxt_fetchFundingRate.json",
                           category="linear", symbol="BTCUSDT")
BYBIT_TICKERS_INVERSE = get("bybit", "/v5/market/tickers", "bybit__rest_tickers__docs.json",
                            category="inverse", symbol=ABSENT)
BYBIT_HISTORY = get("bybit", "/v5/market/funding/history", "bybit__rest_funding_history__docs.json",
                    category="linear", symbol="ETHPERP")

# Binance: USDⓈ-M (fapi) and COIN-M (dapi) hosts.
USDM_EXCHANGE_INFO = get("binance-usdm", "/fapi/v1/exchangeInfo", "binance-usdm__rest_exchangeInfo__capture.json")
USDM_PREMIUM_ALL = get("binance-usdm", "/fapi/v1/premiumIndex", "binance-usdm__rest_premiumIndex__docs.json", 1,
                       symbol=ABSENT)
USDM_PREMIUM_BTCUSDT = get("binance-usdm", "/fapi/v1/premiumIndex", "binance-usdm__rest_premiumIndex__docs.json",
                           0, symbol="BTCUSDT")
# a real fragment of a live answer (pasted in an issue), preferred to the docs example; neither lists BTCUSDT
USDM_FUNDING_INFO = get("binance-usdm", "/fapi/v1/fundingInfo",
                        "binance-usdm__rest_fundingInfo_issue_capture__docs.json")
USDM_HISTORY = get("binance-usdm", "/fapi/v1/fundingRate", "binance-usdm__rest_fundingRate_history__docs.json",
                   symbol="BTCUSDT")
COINM_EXCHANGE_INFO = get("binance-coinm", "/dapi/v1/exchangeInfo", "binance-coinm__rest_exchangeInfo__capture.json")
COINM_PREMIUM_ALL = get("binance-coinm", "/dapi/v1/premiumIndex", "binance-coinm__rest_premiumIndex__docs.json",
                        symbol=ABSENT, pair=ABSENT)
COINM_FUNDING_INFO = get("binance-coinm", "/dapi/v1/fundingInfo", "binance-coinm__rest_fundingInfo__docs.json")

# Deribit: the only instrument capture answers currency=BTC; it is served for dtrack's currency=any&kind=future.
DERIBIT_INSTRUMENTS = get("deribit", "/api/v2/public/get_instruments", "deribit__rest_get_instruments__capture.json")
DERIBIT_BOOK_SUMMARY = get("deribit", "/api/v2/public/get_book_summary_by_currency",
                           "deribit__rest_get_book_summary_by_currency__docs.json", currency="BTC", kind="future")
DERIBIT_TICKER = get("deribit", "/api/v2/public/ticker", "deribit__rest_ticker__docs.json",
                     instrument_name="BTC-PERPETUAL")
DERIBIT_HISTORY = get("deribit", "/api/v2/public/get_funding_rate_history",
                      "deribit__rest_get_funding_rate_history__docs.json", instrument_name="BTC-PERPETUAL")

# Hyperliquid: POST /info, dispatched on the body's "type". Only types with a real payload are served
# (no bare "meta": dtrack reads the listing from metaAndAssetCtxs).
HL_CTXS = info("hyperliquid__rest_info_metaAndAssetCtxs__docs.json", type="metaAndAssetCtxs")
HL_PREDICTED = info("hyperliquid__rest_info_predictedFundings__docs.json", type="predictedFundings")
HL_HISTORY = info("hyperliquid__rest_info_fundingHistory__docs.json", type="fundingHistory", coin="ETH")


# --- the replay server ------------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayServer:
    """The routes on a loopback port, served from a background thread's event loop."""

    routes: Sequence[Route]
    base_url: str = ""
    requests: list[tuple[str, str, str, int]] = field(default_factory=list)  # (prefix, method, path, status)
    _bodies: dict[Route, str] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    def start(self) -> ReplayServer:
        self._bodies = {r: json.dumps(r.body()) for r in self.routes}  # skips here when a payload is absent
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{prefix}/{path:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def _dispatch(self, request: web.Request) -> web.Response:
        prefix, path = request.match_info["prefix"], "/" + request.match_info["path"]
        params: Mapping[str, Any] = request.query
        if request.method == "POST":
            body = await request.json()
            params = body if isinstance(body, dict) else {}
        candidates = [r for r in self.routes if (r.prefix, r.method, r.path) == (prefix, request.method, path)
                      and r.matches(params)]
        if not candidates:
            self.requests.append((prefix, request.method, path, 404))
            return web.json_response({"error": f"no real payload for {request.method} {path} {dict(params)}"},
                                     status=404)
        route = max(candidates, key=lambda r: len(r.match))
        self.requests.append((prefix, request.method, path, 200))
        return web.Response(text=self._bodies[route], content_type="application/json")

    def url(self, prefix: str) -> str:
        return f"{self.base_url}/{prefix}"

    def asked(self, prefix: str, path: str) -> list[int]:
        """Statuses of the requests made to ``path`` under ``prefix``."""
        return [status for p, _, pa, status in self.requests if (p, pa) == (prefix, path)]

    def close(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


# --- expected values, computed from the changed payloads ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """When the command ran (for venues whose next funding time is the receive time's next whole hour)."""

    before: datetime
    after: datetime


Expected = dict[str, dict[str, Any]]  # symbol -> field -> value (float, str, None, or a frozenset of choices)


def iso_ms(ms: Any) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def per_coin(base: str) -> tuple[str, float]:
    """(asset, units of it in one unit of the venue's base): ``1000PEPE`` and ``kPEPE`` are 1000 PEPE."""
    coin = base.lstrip("0123456789")
    if coin != base:
        return coin, float(base[: len(base) - len(coin)])
    if base[:1] == "k" and base[1:2].isupper():
        return base[1:], 1000.0
    return base, 1.0


def row(rate: float, hours: float, *, next_time: str | frozenset[str] | None, mark: float, index: float | None,
        oi_usd: float | None, multiplier: float = 1.0, predicted: float | None = None) -> dict[str, Any]:
    """The printed fields of one rate: 8h-equivalent = rate x 8 / hours, APR = rate x 8760 / hours."""
    return {"rate": rate, "interval_hours": hours, "rate_8h": rate * 8 / hours, "apr": rate * 24 * 365 / hours,
            "predicted_rate": predicted, "next_funding_time": next_time, "mark_price": mark / multiplier,
            "index_price": None if index is None else index / multiplier, "open_interest_usd": oi_usd}


def bybit_expected(assets: Sequence[str], _when: Window) -> Expected:
    """Tickers ``fundingRate``; interval ``fundingIntervalHour``, else instruments-info ``fundingInterval`` / 60;
    OI one side (``singleOpenInterest``, else ``openInterest``): linear coins x markPrice, inverse 1 USD contracts."""
    perps: dict[str, dict[str, Any]] = {}
    for page in (BYBIT_INSTRUMENTS_LINEAR.body(), BYBIT_INSTRUMENTS_INVERSE.body()):
        perps |= {i["symbol"]: i for i in page["result"]["list"] if i["status"] == "Trading"
                  and i["contractType"] in ("LinearPerpetual", "InversePerpetual")}
    out: Expected = {}
    for tickers in (BYBIT_TICKERS_LINEAR.body(), BYBIT_TICKERS_INVERSE.body()):
        inverse = tickers["result"]["category"] == "inverse"
        for t in tickers["result"]["list"]:
            inst = perps.get(t["symbol"])
            asset, mult = per_coin(inst["baseCoin"]) if inst else ("", 1.0)
            if asset not in assets:
                continue
            hours = float(t.get("fundingIntervalHour") or float(inst["fundingInterval"]) / 60)
            amount, mark = float(t.get("singleOpenInterest") or t["openInterest"]), float(t["markPrice"])
            out[t["symbol"]] = row(float(t["fundingRate"]), hours, next_time=iso_ms(t["nextFundingTime"]),
                                   mark=mark, index=float(t["indexPrice"]), multiplier=mult,
                                   oi_usd=amount if inverse else amount * mark)
    return out


def binance_expected(assets: Sequence[str], _when: Window) -> Expected:
    """premiumIndex ``lastFundingRate``/``nextFundingTime``/mark/index per coin; interval from fundingInfo, else
    8 h; open interest None (``/openInterest`` has no real payload, so it answers 404)."""
    out: Expected = {}
    for exchange_info, premium, funding_info, status in (
            (USDM_EXCHANGE_INFO, USDM_PREMIUM_ALL, USDM_FUNDING_INFO, "status"),
            (COINM_EXCHANGE_INFO, COINM_PREMIUM_ALL, COINM_FUNDING_INFO, "contractStatus")):
        prices = {p["symbol"]: p for p in premium.body()}
        hours = {f["symbol"]: float(f["fundingIntervalHours"]) for f in funding_info.body()}
        for s in exchange_info.body()["symbols"]:
            if s["contractType"] != "PERPETUAL" or s[status] != "TRADING" or s["symbol"] not in prices:
                continue
            asset, mult = per_coin(s["baseAsset"])
            if asset not in assets:
                continue
            p = prices[s["symbol"]]
            out[s["symbol"]] = row(float(p["lastFundingRate"]), hours.get(s["symbol"], 8.0),
                                   next_time=iso_ms(p["nextFundingTime"]), mark=float(p["markPrice"]),
                                   index=float(p["indexPrice"]), multiplier=mult, oi_usd=None)
    return out


def deribit_expected(assets: Sequence[str], _when: Window) -> Expected:
    """``funding_8h`` as an 8 h rate, no next funding time; from the book summary (index =
    estimated_delivery_price) or, for a perpetual it lacks, the ticker (index = index_price); OI of an
    inverse (USD-quoted) perpetual is already USD, of a linear one coins x mark."""
    perps = [i for i in DERIBIT_INSTRUMENTS.body()["result"] if i["kind"] == "future"
             and i["settlement_period"] == "perpetual" and i["base_currency"] in assets]
    summary = {b["instrument_name"]: b for b in DERIBIT_BOOK_SUMMARY.body()["result"] if "funding_8h" in b}
    ticker = DERIBIT_TICKER.body()["result"]
    out: Expected = {}
    for inst in perps:
        name = inst["instrument_name"]
        if name in summary:
            src, index_key = summary[name], "estimated_delivery_price"
        elif name == ticker["instrument_name"]:
            src, index_key = ticker, "index_price"
        else:
            continue
        mark, amount = float(src["mark_price"]), float(src["open_interest"])
        out[name] = row(float(src["funding_8h"]), 8.0, next_time=None, mark=mark, index=float(src[index_key]),
                        oi_usd=amount if inst["quote_currency"] == "USD" else amount * mark)
    return out


def _next_hour(t: datetime) -> str:
    return (t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def hyperliquid_expected(assets: Sequence[str], when: Window) -> Expected:
    """``funding`` per hour (or ``predictedFundings`` HlPerp ``fundingIntervalHours``), settling at the next whole
    hour; mark = markPx, index = oraclePx (per coin: kPEPE / 1000); OI USD = openInterest (coins) x markPx."""
    meta, ctxs = HL_CTXS.body()
    predicted = {coin: data for coin, venues in HL_PREDICTED.body() for venue, data in filter(None, venues)
                 if venue == "HlPerp" and data is not None}
    out: Expected = {}
    for coin, ctx in zip((u["name"] for u in meta["universe"]), ctxs, strict=True):
        asset, mult = per_coin(coin)
        if asset not in assets:
            continue
        forecast = predicted.get(coin)
        hours = float(forecast.get("fundingIntervalHours", 1)) if forecast else 1.0
        mark = float(ctx["markPx"])
        out[coin] = row(float(ctx["funding"]), hours, next_time=frozenset({_next_hour(when.before),
                                                                           _next_hour(when.after)}),
                        mark=mark, index=float(ctx["oraclePx"]), multiplier=mult,
                        oi_usd=float(ctx["openInterest"]) * mark,
                        predicted=float(forecast["fundingRate"]) if forecast else None)
    return out


@dataclass(frozen=True, slots=True)
class Venue:
    """One venue replayed: dtrack host key -> mount prefix, its routes, assets to ask, and its expected rows."""

    name: str
    hosts: Mapping[str, str]
    routes: tuple[Route, ...]
    assets: tuple[str, ...]
    expected: Callable[[Sequence[str], Window], Expected]


VENUES = (
    Venue("bybit", {"rest": "bybit"},
          (BYBIT_INSTRUMENTS_LINEAR, BYBIT_INSTRUMENTS_INVERSE, BYBIT_TICKERS_LINEAR, BYBIT_TICKER_BTCUSDT,
           BYBIT_TICKERS_INVERSE, BYBIT_HISTORY), ("BTC",), bybit_expected),
    Venue("binance", {"usdm": "binance-usdm", "coinm": "binance-coinm"},
          (USDM_EXCHANGE_INFO, USDM_PREMIUM_ALL, USDM_PREMIUM_BTCUSDT, USDM_FUNDING_INFO, USDM_HISTORY,
           COINM_EXCHANGE_INFO, COINM_PREMIUM_ALL, COINM_FUNDING_INFO), ("BTC",), binance_expected),
    Venue("deribit", {"rest": "deribit"},
          (DERIBIT_INSTRUMENTS, DERIBIT_BOOK_SUMMARY, DERIBIT_TICKER, DERIBIT_HISTORY), ("BTC",), deribit_expected),
    Venue("hyperliquid", {"rest": "hyperliquid"}, (HL_CTXS, HL_PREDICTED, HL_HISTORY), ("BTC", "ETH"),
          hyperliquid_expected),
)
PRINTED = ("rate", "interval_hours", "rate_8h", "apr", "predicted_rate", "next_funding_time", "mark_price",
           "index_price", "open_interest_usd")


# --- fixtures and helpers -----------------------------------------------------------------------------------


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer([r for v in VENUES for r in v.routes]).start()
    yield server
    server.close()


@pytest.fixture
def config(replay: ReplayServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """settings.yaml pointing every replayed venue host at the replay server; private cache/state dirs."""
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    doc = {"venues": {v.name: {"rest_urls": {key: replay.url(prefix) for key, prefix in v.hosts.items()}}
                      for v in VENUES},
           "http": {"timeout": 5, "retries": 0}}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def run_funding(capsys: pytest.CaptureFixture[str], config: str, venues: Sequence[Venue],
                assets: Sequence[str]) -> tuple[dict[str, Any], Window]:
    """``dtrack funding ASSETS --venue ... --format json``: the JSON document and when it ran."""
    before = datetime.now(UTC)
    result = dtrack(capsys, "--config", config, "funding", *assets, *(a for v in venues for a in ("--venue", v.name)),
                    "--format", "json")
    after = datetime.now(UTC)
    assert "Traceback" not in result.err
    assert result.code in (0, 3), result.err
    doc: dict[str, Any] = result.json()
    assert (result.code == 3) == bool(doc["errors"]), (result.code, doc["errors"])
    return doc, Window(before, after)


def assert_rows(doc: Mapping[str, Any], venue: str, expected: Expected) -> None:
    rows = {r["symbol"]: r for r in doc["rates"] if r["venue"] == venue}
    assert expected, f"{venue}: the payloads yield no row to compare"
    assert set(rows) == set(expected)
    for symbol, want in expected.items():
        for key in PRINTED:
            got, value = rows[symbol][key], want[key]
            where = f"{venue} {symbol} {key}"
            if isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-12, abs=0), where
            elif isinstance(value, frozenset):
                assert got in value, where
            else:
                assert got == value, where


# --- tests -----------------------------------------------------------------------------------------------


def test_change_keeps_json_types_and_flips_funding_signs() -> None:
    raw = {"fundingRate": "0.0001", "funding_8h": 2.203e-05, "markPrice": "68649.90", "openInterest": "240113967",
           "fundingInterval": 480, "nextFundingTime": "1730736000000", "lastFundingRate": "", "symbol": "BTCUSDT",
           "list": [{"markPx": "14.3161", "nextFundingTime": 0}], "turnover24h": "115.6907"}
    got = change(raw)
    assert float(got["fundingRate"]) == pytest.approx(-0.0002877, rel=1e-12, abs=0)
    assert isinstance(got["funding_8h"], float) and got["funding_8h"] < 0
    assert got["markPrice"] == repr(68649.90 * 1.1)
    assert got["openInterest"] == "480227934" and got["fundingInterval"] == 240
    assert got["nextFundingTime"] == "1730739600000"
    assert got["list"] == [{"markPx": repr(14.3161 * 1.1), "nextFundingTime": 0}]  # 0 = no funding time
    assert {k: got[k] for k in ("lastFundingRate", "symbol", "turnover24h")} == \
        {"lastFundingRate": "", "symbol": "BTCUSDT", "turnover24h": "115.6907"}  # only named fields change


@pytest.mark.parametrize("venue", VENUES, ids=[v.name for v in VENUES])
def test_printed_numbers_match_the_changed_payloads(venue: Venue, replay: ReplayServer, config: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    doc, when = run_funding(capsys, config, [venue], venue.assets)
    assert_rows(doc, venue.name, venue.expected(venue.assets, when))
    assert {r["venue"] for r in doc["rates"]} == {venue.name}


def test_all_venues_in_one_command(replay: ReplayServer, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assets = sorted({a for v in VENUES for a in v.assets})
    doc, when = run_funding(capsys, config, VENUES, assets)
    for venue in VENUES:
        assert_rows(doc, venue.name, venue.expected(assets, when))


def test_what_failed_is_what_had_no_payload(replay: ReplayServer, config: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Binance openInterest (no real capture) 404s and is reported as an enrichment failure, rows kept;
    Deribit's book summary lacks BTC-PERPETUAL, so the adapter asks its ticker."""
    binance = next(v for v in VENUES if v.name == "binance")
    doc, _ = run_funding(capsys, config, [binance], binance.assets)
    oi_errors = [e["message"] for e in doc["errors"] if "/openInterest?symbol=" in e["message"]]
    assert {m.split("?symbol=")[1].split(":")[0] for m in oi_errors} >= {r["symbol"] for r in doc["rates"]}
    assert all(r["open_interest_usd"] is None and r["rate"] is not None for r in doc["rates"])
    assert set(replay.asked("binance-usdm", "/fapi/v1/openInterest")) == {404}

    deribit = next(v for v in VENUES if v.name == "deribit")
    run_funding(capsys, config, [deribit], deribit.assets)
    assert replay.asked("deribit", "/api/v2/public/get_book_summary_by_currency") == [200]
    assert replay.asked("deribit", "/api/v2/public/ticker") == [200]
