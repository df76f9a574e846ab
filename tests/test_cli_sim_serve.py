"""``dtrack sim serve`` as a user runs it: a real process, --write-config, --log-requests, a fault, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml


def test_sim_serve_end_to_end(tmp_path: Path) -> None:
    cfg, log = tmp_path / "sim.yaml", tmp_path / "requests.jsonl"
    env = {**os.environ, "DTRACK_CACHE_DIR": str(tmp_path / "cache"), "DTRACK_STATE_DIR": str(tmp_path / "state")}
    server = subprocess.Popen([sys.executable, "-m", "dtrack", "sim", "serve", "--port", "0", "--seed", "11",
                               "--fault", "okx=451", "--log-requests", str(log), "--write-config", str(cfg)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (cfg.exists() and cfg.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        urls = yaml.safe_load(cfg.read_text())["venues"]
        assert set(urls) == {"binance", "bybit", "okx", "deribit", "hyperliquid", "dydx", "gmx"}
        assert set(urls["gmx"]["rest_urls"]) == {"arbitrum", "avalanche"}
        assert urls["binance"]["rest_urls"]["usdm"].startswith("http://127.0.0.1:")
        run = subprocess.run([sys.executable, "-m", "dtrack", "--config", str(cfg), "funding", "SOL", "--format",
                              "json"], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 3, run.stderr
        doc = json.loads(run.stdout)
        assert doc["errors"] == [{"venue": "okx", "kind": "blocked", "endpoint": doc["errors"][0]["endpoint"],
                                  "message": doc["errors"][0]["message"]}]
        assert "blocked from this location (HTTP 451)" in doc["errors"][0]["message"]
        assert {r["venue"] for r in doc["rates"]} == {"binance", "bybit", "deribit", "hyperliquid", "dydx", "gmx"}
        assert run.stderr.strip().splitlines() == [f"dtrack: okx [blocked]: {doc['errors'][0]['message'][5:]}"]
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    assert "serving on http://127.0.0.1:" in err and "faults okx=451" in err and "stopped" in err
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows and {"time", "venue", "method", "path", "status"} <= set(rows[0])
    assert all(r["status"] == 451 for r in rows if r["venue"] == "okx")
    assert any("?" in r["path"] for r in rows)  # the query string is logged with the path


@pytest.mark.parametrize(("args", "needle"), [
    (["--fault", "okx=999"], "KIND one of down, 429, 418, 451, 500, timeout, malformed"),
    (["--fault", "okx=429", "--fault", "okx=500"], "--fault names okx twice"),
    (["--latency-ms", "nan"], "--latency-ms must be between 0 and 60000"),
    (["--log-requests", "/nonexistent-dir/x.jsonl"], "does not exist"),
    (["--write-config", "/nonexistent-dir/s.yaml"], "does not exist"),
])
def test_sim_serve_rejects_bad_options(args: list[str], needle: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "dtrack", "sim", "serve", "--port", "0", *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and needle in proc.stderr
