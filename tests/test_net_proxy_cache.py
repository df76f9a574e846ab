"""Faults found when checked (issue 9 §4), network and disk cache: proxies from the environment are honoured,
and a cache entry is used only for the URL it was stored for."""

from __future__ import annotations

import json
import os
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SimThread, run_with_pool
from dtrack.config import HttpSettings, Settings
from dtrack.errors import VenueError, VenueUnavailable
from dtrack.net.cache import DiskCache
from dtrack.sim.model import MarketModel
from dtrack.venues.pool import VenuePool
from net_helpers import closed_port

# --- proxies ------------------------------------------------------------------------------------------------------


class ProxyHandler(socketserver.StreamRequestHandler):
    """A forward proxy that answers every request itself, recording its request line."""

    def handle(self) -> None:
        line = self.rfile.readline().decode().rstrip("\r\n")
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        self.server.requests.append(line)  # type: ignore[attr-defined]
        if line.startswith("CONNECT ") or line.split(" ")[1].endswith("/auth"):  # a proxy that wants credentials
            self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return
        body = b'{"via": "proxy"}'
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A local proxy on 127.0.0.1 named by HTTP_PROXY (no other proxy variable set); yields its request lines."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), ProxyHandler)
    server.daemon_threads = True
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("http_proxy", url)
    yield server.requests  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def ping(tmp: Path, path: str = "/fapi/v1/ping", scheme: str = "http") -> Any:
    """GET Binance USDⓈ-M ``/fapi/v1/ping`` through the real pool, at a host no resolver knows (only a proxy
    can answer for it)."""
    settings = Settings(cache_dir=tmp / "cache", state_dir=tmp / "state",
                        http=HttpSettings(timeout=5.0, retries=0))
    settings = settings.with_venue_urls({"binance": {"usdm": f"{scheme}://binance-usdm.invalid"}})

    async def job(pool: VenuePool) -> Any:
        try:
            return await pool.adapter("binance").get("usdm", path)
        except VenueError as exc:
            return exc

    return run_with_pool(settings, job)


def test_requests_go_through_the_proxy_from_the_environment(tmp_path: Path, proxy: list[str]) -> None:
    assert ping(tmp_path) == {"via": "proxy"}
    assert proxy == ["GET http://binance-usdm.invalid/fapi/v1/ping HTTP/1.1"]


def test_no_proxy_is_honoured(tmp_path: Path, proxy: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "binance-usdm.invalid")
    assert isinstance(ping(tmp_path), VenueUnavailable)  # straight to a host nobody resolves
    assert proxy == []


def test_proxy_faults_name_the_proxy(tmp_path: Path, proxy: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    refused = ping(tmp_path, "/auth")
    assert type(refused) is VenueError and refused.status == 407
    assert str(refused) == ("binance: /auth: the proxy set in HTTP_PROXY refused the request (HTTP 407: it wants "
                            "credentials; give them as http://user:password@host:port)")
    monkeypatch.setenv("HTTPS_PROXY", os.environ["HTTP_PROXY"])  # an https:// URL: the proxy refuses the CONNECT
    tunnel = ping(tmp_path, scheme="https")
    assert type(tunnel) is VenueError and tunnel.status == 407
    assert str(tunnel) == ("binance: /fapi/v1/ping: the proxy set in HTTPS_PROXY refused the connection (HTTP 407: "
                           "it wants credentials; give them as http://user:password@host:port)")
    assert proxy[-1] == "CONNECT binance-usdm.invalid:443 HTTP/1.1"
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    down = ping(tmp_path)
    assert isinstance(down, VenueUnavailable)
    assert str(down) == "binance: /fapi/v1/ping: cannot reach the proxy set in HTTP(S)_PROXY"


# --- the disk cache checks the URL it stored --------------------------------------------------------------------


def test_entry_is_used_only_for_its_own_url(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, clock=lambda: 1000.0)
    url_a, url_b = "http://h/fapi/v1/exchangeInfo", "http://h/dapi/v1/exchangeInfo"
    key = cache.key(url_a)
    cache.put(key, {"symbols": ["BTCUSDT"]}, url_a)
    assert cache.get(key, 60, url_a) == {"symbols": ["BTCUSDT"]}
    assert cache.get(key, 60, url_b) is None  # another endpoint's body: a miss ...
    assert not (tmp_path / f"{key}.json").exists()  # ... and the entry is dropped
    assert cache.get(key, 60, url_a) is None
    # an entry written without a URL (an older dtrack) is a miss too, and dropped
    (tmp_path / f"{key}.json").write_text(json.dumps({"stored": 1000.0, "body": {"symbols": []}}))
    assert cache.get(key, 60, url_a) is None and not (tmp_path / f"{key}.json").exists()


def test_adapter_refetches_when_an_entry_holds_another_endpoints_body(sim_factory: Callable[..., SimThread],
                                                                      tmp_path: Path) -> None:
    """Binance's COIN-M exchangeInfo entry overwritten with the USDⓈ-M one (same file name, other URL inside):
    the adapter does not read USDⓈ-M contracts as COIN-M ones; it asks COIN-M again."""
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=1_790_000_000_000), log_requests=str(log))
    settings = server.settings(tmp_path)
    first = run_with_pool(settings, lambda pool: pool.adapter("binance").instruments())
    entries = {json.loads(f.read_text())["url"].rsplit("/", 3)[-3]: f for f in settings.cache_dir.rglob("*.json")
               if json.loads(f.read_text())["url"].endswith("/v1/exchangeInfo")}
    assert set(entries) == {"fapi", "dapi"}
    entries["dapi"].write_text(entries["fapi"].read_text())  # the COIN-M file now holds USDⓈ-M's body and URL
    second = run_with_pool(settings, lambda pool: pool.adapter("binance").instruments())
    assert sorted(i.symbol for i in second) == sorted(i.symbol for i in first)
    paths = [json.loads(line)["path"] for line in log.read_text().splitlines()]
    assert paths.count("/dapi/v1/exchangeInfo") == 2 and paths.count("/fapi/v1/exchangeInfo") == 1
    assert json.loads(entries["dapi"].read_text())["url"].endswith("/dapi/v1/exchangeInfo")  # stored anew
