"""Alerts end to end: ``dtrack alerts check`` against simulated venues pinned in time, posting to a local receiver
(an aiohttp server on 127.0.0.1) that stands in for a generic webhook, Discord, Slack and Telegram at their URL
shapes; cooldowns across runs with the clock injected (one pinned sim per moment, dtrack's clock pinned to it);
429 with Retry-After waited and retried; secrets never in output, logs or errors; the rules' evaluation, the
payload builders and the state as pure units.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from aiohttp import web
from tests.clirun import dtrack
from tests.conftest import SimThread

from dtrack.alerts import EXIT_FIRED, EXIT_UNDELIVERED
from dtrack.alerts.metrics import METRICS, Inputs, Reading
from dtrack.alerts.rules import DEFAULT_RULES, Alert, Rule, alert_of, compare, rules_in_force
from dtrack.alerts.sinks import (
    DISCORD_EMBEDS,
    TELEGRAM_CHARS,
    Masker,
    Policy,
    SinkError,
    discord_payloads,
    post_json,
    retry_after,
    slack_payloads,
    telegram_texts,
)
from dtrack.alerts.state import AlertBook
from dtrack.config import ALERT_METRICS, AlertRuleSettings, AlertSettings, parse_settings
from dtrack.errors import ConfigError
from dtrack.schemas import load_schema
from dtrack.sim.model import MarketModel
from dtrack.sim.server import settings_document

T0_MS = 1_796_371_200_000  # 2026-12-04T08:00:00Z
T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)

DISCORD_TOKEN = "SECRETdiscordTOKENabc123"
SLACK_PATH = "T0001/B0002/SECRETslackXYZ789"
TELEGRAM_TOKEN = "123456:SECRETtelegramTOKENqrs"
WEBHOOK_PATH = "SECRETwebhookPATH456"
SECRETS = (DISCORD_TOKEN, "SECRETslackXYZ789", "SECRETtelegramTOKENqrs", WEBHOOK_PATH)


# --- a local receiver for every sink format -------------------------------------------------------------------

@dataclass
class Hit:
    kind: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Receiver:
    """An aiohttp server on 127.0.0.1 in a thread of its own. ``hits`` lists every request; ``faults`` maps a sink
    kind to the answers its next requests get ((status, headers, body text) each, consumed in order)."""

    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    hits: list[Hit] = field(default_factory=list)
    faults: dict[str, list[tuple[int, dict[str, str], str]]] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook/{secret}", self._handler("webhook"))
        app.router.add_post("/api/webhooks/{id}/{token}", self._handler("discord"))
        app.router.add_post("/services/{a}/{b}/{c}", self._handler("slack"))
        app.router.add_post("/bot{token}/sendMessage", self._handler("telegram"))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return runner

    def _handler(self, kind: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            with self.lock:
                self.hits.append(Hit(kind, request.path, body, dict(request.headers)))
                queued = self.faults.get(kind) or []
                fault = queued.pop(0) if queued else None
            if fault is not None:
                status, headers, text = fault
                return web.Response(status=status, headers=headers, text=text, content_type="application/json")
            if kind == "discord":
                return web.Response(status=204)
            if kind == "slack":
                return web.Response(text="ok")
            if kind == "telegram":
                return web.json_response({"ok": True, "result": {"message_id": len(self.hits)}})
            return web.json_response({"received": True})

        return handle

    def of(self, kind: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.kind == kind]

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()
            self.faults.clear()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.close()


class Market:
    """Simulated venues pinned at moments of time (one server each, started on first use)."""

    def __init__(self) -> None:
        self.sims: dict[int, SimThread] = {}

    def at(self, minutes: float) -> SimThread:
        ms = T0_MS + int(minutes * 60_000)
        if ms not in self.sims:
            self.sims[ms] = SimThread(model=MarketModel(seed=7, now_ms=ms))
        return self.sims[ms]

    def close(self) -> None:
        for sim in self.sims.values():
            sim.close()


@pytest.fixture(scope="module")
def market() -> Iterator[Market]:
    m = Market()
    yield m
    m.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> Path:
    """Private dirs; the secrets in the environment; the receiver emptied."""
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    monkeypatch.delenv("DTRACK_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("DTRACK_DISCORD_WEBHOOK", f"{receiver.url}/api/webhooks/987654/{DISCORD_TOKEN}")
    monkeypatch.setenv("DTRACK_WEBHOOK_URL", f"{receiver.url}/hook/{WEBHOOK_PATH}")
    monkeypatch.setenv("DTRACK_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    receiver.reset()
    return tmp_path


#: fires for every Binance BTC perpetual: any funding above -100 % per 8 h
EVERY_BINANCE_BTC = {"metric": "funding_8h", "op": ">=", "threshold_pct": -100, "assets": ["BTC"],
                     "venues": ["binance"]}
ALL_SINKS = ["webhook", "discord", "slack", "telegram", "file", "console"]


def sinks_of(receiver: Receiver, tmp: Path) -> dict[str, Any]:
    return {
        "webhook": {"type": "webhook", "url": "${DTRACK_WEBHOOK_URL}"},
        "discord": {"type": "discord", "url": "${DTRACK_DISCORD_WEBHOOK}"},
        "slack": {"type": "slack", "url": f"{receiver.url}/services/{SLACK_PATH}"},  # a literal secret URL
        "telegram": {"type": "telegram", "token": "${DTRACK_TELEGRAM_TOKEN}", "chat_id": "-1001234",
                     "api_url": receiver.url},
        "file": {"type": "jsonl", "path": str(tmp / "alerts.jsonl")},
    }


def config(tmp: Path, sim: SimThread, receiver: Receiver, rules: dict[str, Any], **alerts: Any) -> Path:
    doc = settings_document(sim.venue_urls())
    doc["alerts"] = {"default_rules": False, "rules": rules, "sinks": sinks_of(receiver, tmp),
                     "backoff": 0.01, **alerts}
    doc["liquidations"] = {"listen_seconds": 1}
    path = tmp / f"settings-{len(list(tmp.glob('settings-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def check(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cfg: Path, minutes: float,
          *args: str) -> Any:
    """``dtrack alerts check --config CFG --format json`` with dtrack's clock at T0 + ``minutes``."""
    monkeypatch.setenv("DTRACK_NOW", (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"))
    return dtrack(capsys, "alerts", "check", "--config", str(cfg), "--format", "json", *args)


def no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --- end to end -----------------------------------------------------------------------------------------------

def test_a_rule_that_fires_posts_every_format(env: Path, receiver: Receiver, market: Market,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    sim = market.at(0)
    cfg = config(env, sim, receiver, {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ALL_SINKS}})
    run = check(capsys, monkeypatch, cfg, 0)
    assert run.code == EXIT_FIRED, run.err
    doc = run.json()
    jsonschema.validate(doc, load_schema("alerts"))
    # the values are the funding command's, for the same pinned market
    monkeypatch.setenv("DTRACK_NOW", "2026-12-04T08:00:00Z")
    funding = dtrack(capsys, "funding", "BTC", "--venue", "binance", "--config", str(cfg), "--format", "json")
    assert funding.code == 0, funding.err
    expected = {r["symbol"]: r["rate_8h"] for r in funding.json()["rates"]}
    assert len(expected) >= 2
    got = {a["symbol"]: a["value"] for a in doc["alerts"]}
    assert set(got) == set(expected)
    for symbol, value in got.items():
        assert value == pytest.approx(expected[symbol], rel=1e-12)
    n = len(expected)
    assert all(a["rule"] == "binance_btc" and a["asset"] == "BTC" and a["venue"] == "binance" for a in doc["alerts"])
    assert all(a["threshold"] == pytest.approx(-1.0) and a["op"] == ">=" and a["unit"] == "fraction"
               for a in doc["alerts"])
    assert all(sorted(a["sent_to"]) == sorted(ALL_SINKS) for a in doc["alerts"])
    assert {d["sink"]: (d["ok"], d["alerts"]) for d in doc["deliveries"]} == {s: (True, n) for s in ALL_SINKS}

    (hook,) = receiver.of("webhook")
    assert hook.path == f"/hook/{WEBHOOK_PATH}"
    assert hook.headers["Content-Type"].startswith("application/json")
    assert {k: hook.body[k] for k in ("source", "schema_version", "kind", "count")} == {
        "source": "dtrack", "schema_version": 1, "kind": "alerts", "count": n}
    assert hook.body["as_of"] == "2026-12-04T08:00:00Z"
    rows = {r["symbol"]: r for r in hook.body["alerts"]}
    assert {s: r["value"] for s, r in rows.items()} == got
    assert {r["id"] for r in hook.body["alerts"]} == {a["id"] for a in doc["alerts"]}
    assert all(r["fired_at"] == "2026-12-04T08:00:00Z" and r["metric"] == "funding_8h" for r in rows.values())

    (discord,) = receiver.of("discord")
    assert discord.path == f"/api/webhooks/987654/{DISCORD_TOKEN}"
    assert discord.body["username"] == "dtrack" and discord.body["allowed_mentions"] == {"parse": []}
    assert discord.body["content"] == f"dtrack: {n} alerts"
    assert len(discord.body["embeds"]) == n
    for embed in discord.body["embeds"]:
        assert embed["title"].startswith("BTC funding 8h ") and "binance" in embed["title"]
        assert [f["name"] for f in embed["fields"]] == ["value", "rule", "venue"]
        assert isinstance(embed["color"], int) and embed["timestamp"].endswith("Z")

    (slack,) = receiver.of("slack")
    assert slack.path == f"/services/{SLACK_PATH}"
    assert slack.body["text"].startswith("dtrack: BTC funding 8h")
    assert slack.body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": f"dtrack: {n} alerts"}}
    assert len(slack.body["blocks"]) == n + 1
    assert all(b["type"] == "section" and b["text"]["type"] == "mrkdwn" for b in slack.body["blocks"][1:])

    (telegram,) = receiver.of("telegram")
    assert telegram.path == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    assert telegram.body["chat_id"] == "-1001234" and telegram.body["parse_mode"] == "HTML"
    assert telegram.body["text"].startswith(f"<b>dtrack: {n} alerts</b>")
    assert telegram.body["text"].count("<b>BTC funding 8h") == n

    lines = (env / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [a["id"] for a in doc["alerts"]]
    assert run.err.count("ALERT BTC funding 8h") == n  # the console sink, on stderr
    no_secret(run.out, run.err, "\n".join(lines))


def test_a_second_run_inside_the_cooldown_posts_nothing(env: Path, receiver: Receiver, market: Market,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rules = {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["webhook", "discord"], "cooldown": 3600}}
    first = check(capsys, monkeypatch, config(env, market.at(0), receiver, rules), 0)
    assert first.code == EXIT_FIRED, first.err
    n = len(first.json()["alerts"])
    assert len(receiver.of("webhook")) == len(receiver.of("discord")) == 1

    inside = check(capsys, monkeypatch, config(env, market.at(30), receiver, rules), 30)
    assert inside.code == 0, inside.err
    doc = inside.json()
    assert doc["alerts"] == [] and doc["deliveries"] == []
    assert len(doc["held"]) == n
    assert {h["until"] for h in doc["held"]} == {"2026-12-04T09:00:00Z"}
    assert len(receiver.of("webhook")) == len(receiver.of("discord")) == 1  # nothing posted

    after = check(capsys, monkeypatch, config(env, market.at(61), receiver, rules), 61)
    assert after.code == EXIT_FIRED, after.err
    assert len(after.json()["alerts"]) == n
    assert len(receiver.of("webhook")) == len(receiver.of("discord")) == 2
    assert receiver.of("webhook")[1].body["as_of"] == "2026-12-04T09:01:00Z"


def test_a_dry_run_sends_nothing_and_starts_no_cooldown(env: Path, receiver: Receiver, market: Market,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(env, market.at(0), receiver, {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["webhook"]}})
    dry = check(capsys, monkeypatch, cfg, 0, "--dry-run")
    assert dry.code == EXIT_FIRED, dry.err
    assert dry.json()["dry_run"] is True and dry.json()["deliveries"] == []
    assert receiver.of("webhook") == []
    real = check(capsys, monkeypatch, cfg, 0)
    assert real.code == EXIT_FIRED
    assert len(receiver.of("webhook")) == 1


def test_429_retry_after_is_waited_and_retried(env: Path, receiver: Receiver, market: Market,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    receiver.faults["discord"] = [(429, {"Retry-After": "1"}, '{"message": "You are being rate limited.", '
                                                              '"retry_after": 1.0, "global": false}')]
    receiver.faults["telegram"] = [(429, {}, '{"ok": false, "error_code": 429, "description": "Too Many Requests: '
                                             'retry after 1", "parameters": {"retry_after": 1}}')]
    cfg = config(env, market.at(0), receiver, {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["discord", "telegram"]}})
    run = check(capsys, monkeypatch, cfg, 0)
    assert run.code == EXIT_FIRED, run.err
    deliveries = {d["sink"]: d for d in run.json()["deliveries"]}
    assert deliveries["discord"]["ok"] and deliveries["discord"]["attempts"] == 2
    assert deliveries["telegram"]["ok"] and deliveries["telegram"]["attempts"] == 2
    first, second = receiver.of("discord")
    assert first.body == second.body  # the same message, sent again after the wait
    assert len(receiver.of("telegram")) == 2


def test_a_failing_sink_is_one_masked_line_and_is_retried_next_run(env: Path, receiver: Receiver, market: Market,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # the receiver's error echoes the secret URL it was called at: dtrack must not repeat it
    echo = f'{{"error": "no such hook {receiver.url}/services/{SLACK_PATH}"}}'
    receiver.faults["slack"] = [(404, {}, echo)]
    cfg = config(env, market.at(0), receiver, {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["slack", "webhook"]}})
    run = check(capsys, monkeypatch, cfg, 0)
    assert run.code == EXIT_UNDELIVERED, run.err
    slack = next(d for d in run.json()["deliveries"] if d["sink"] == "slack")
    assert not slack["ok"] and slack["attempts"] == 1  # a 404 is not retried
    assert slack["error"] == "HTTP 404: no such hook ***"
    assert f"dtrack: alert sink slack (slack, {receiver.url}/…) failed: HTTP 404: no such hook ***" in run.err
    # the logs say what failed and what was sent, masked
    assert "alerts: sink slack (http://127.0.0.1:" in caplog.text and "alerts: 1" not in caplog.text
    assert f"alerts: {len(run.json()['alerts'])} alerts sent to webhook" in caplog.text
    no_secret(run.out, run.err, caplog.text)
    receiver.reset()
    # next run, within the cooldown: the webhook that took it stays quiet, slack is tried again
    again = check(capsys, monkeypatch, cfg, 5)
    assert again.code == EXIT_FIRED, again.err
    assert [d["sink"] for d in again.json()["deliveries"]] == ["slack"]
    assert len(receiver.of("slack")) == 1 and receiver.of("webhook") == []


def test_a_sink_that_cannot_be_reached_is_retried_then_reported(env: Path, receiver: Receiver, market: Market,
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DTRACK_DISCORD_WEBHOOK", f"http://127.0.0.1:{port}/api/webhooks/1/{DISCORD_TOKEN}")
    cfg = config(env, market.at(0), receiver, {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["discord"]}},
                 retries=2)
    run = check(capsys, monkeypatch, cfg, 0)
    assert run.code == EXIT_UNDELIVERED
    (d,) = run.json()["deliveries"]
    assert d["attempts"] == 3 and d["error"] == "cannot connect (ConnectionRefusedError) (after 3 attempts)"
    assert d["target"] == f"http://127.0.0.1:{port}/…"
    no_secret(run.out, run.err)


def test_alerts_test_sends_a_test_message(env: Path, receiver: Receiver, market: Market,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(env, market.at(0), receiver, {})
    for sink in ("discord", "webhook", "slack", "telegram"):
        run = dtrack(capsys, "alerts", "test", sink, "--config", str(cfg))
        assert run.code == 0, run.err
        assert f"test message to {sink} ({sink}, " in run.out and run.out.rstrip().endswith(": sent")
        no_secret(run.out, run.err)
    assert receiver.of("discord")[0].body == {"username": "dtrack", "content": "dtrack test message: this sink works.",
                                              "allowed_mentions": {"parse": []}}
    hook = receiver.of("webhook")[0].body
    assert hook["kind"] == "test" and hook["alerts"] == [] and hook["message"].startswith("dtrack test message")
    assert receiver.of("slack")[0].body == {"text": "dtrack test message: this sink works."}
    assert receiver.of("telegram")[0].body["chat_id"] == "-1001234"
    unknown = dtrack(capsys, "alerts", "test", "pager", "--config", str(cfg))
    assert unknown.code == 2
    assert unknown.err.startswith("dtrack: error: no alert sink named 'pager'; sinks: console, discord, file,")


def test_alerts_list_shows_rules_and_masked_sinks(env: Path, receiver: Receiver, market: Market,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    doc = settings_document(market.at(0).venue_urls())
    doc["alerts"] = {"rules": {"mine": EVERY_BINANCE_BTC}, "sinks": sinks_of(receiver, env)}
    cfg = env / "list.yaml"
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = dtrack(capsys, "alerts", "list", "--config", str(cfg), "--format", "json")
    assert run.code == 0, run.err
    listed = run.json()
    assert [r["name"] for r in listed["rules"]] == [*DEFAULT_RULES, "mine"]
    assert {s["name"]: s["target"] for s in listed["sinks"]} == {
        "console": "stderr", "webhook": "$DTRACK_WEBHOOK_URL", "discord": "$DTRACK_DISCORD_WEBHOOK",
        "slack": f"{receiver.url}/…", "file": str(env / "alerts.jsonl"),
        "telegram": f"{receiver.url}/bot<$DTRACK_TELEGRAM_TOKEN>/sendMessage chat -1001234"}
    table = dtrack(capsys, "alerts", "list", "--config", str(cfg))
    assert "funding_unattractive" in table.out and "|funding 8h| >= 0.1000%" in table.out
    no_secret(run.out, table.out)


def test_liquidation_rules_say_not_available_without_failing_the_others(env: Path, receiver: Receiver,
                                                                        market: Market,
                                                                        capsys: pytest.CaptureFixture[str],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rules = {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["webhook"]},
             "big_liq": {"metric": "liquidation_usd", "op": ">=", "threshold_usd": 1, "sinks": ["webhook"]}}
    run = check(capsys, monkeypatch, config(env, market.at(0), receiver, rules), 0)
    assert run.code == EXIT_FIRED, run.err
    status = {r["name"]: r for r in run.json()["rules"]}
    assert status["binance_btc"]["available"] and status["binance_btc"]["matched"] >= 2
    assert not status["big_liq"]["available"] and status["big_liq"]["note"].startswith("not available: ")
    assert "note: big_liq: not available" in run.err


def test_it_fires_on_the_built_in_sim(env: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"alerts": {"default_rules": False, "sinks": sinks_of(receiver, env),
                      "rules": {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["webhook"]}}}}
    cfg = env / "sim.yaml"
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = dtrack(capsys, "--sim", "alerts", "check", "--config", str(cfg))
    assert run.code == EXIT_FIRED, run.err
    assert "ALERTS FIRED" in run.out and "binance_btc" in run.out
    (hook,) = receiver.of("webhook")
    assert hook.body["count"] >= 2 and {a["venue"] for a in hook.body["alerts"]} == {"binance"}


def test_settings_errors_name_the_key_and_never_the_secret(env: Path, receiver: Receiver, market: Market,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DTRACK_DISCORD_WEBHOOK")
    cfg = config(env, market.at(0), receiver, {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["discord"]}})
    run = check(capsys, monkeypatch, cfg, 0)
    assert run.code == 1
    assert run.err == ("dtrack: config error: alerts sink discord: environment variable DTRACK_DISCORD_WEBHOOK "
                       "is not set (or empty)\n")
    bad = {"alerts": {"sinks": {"d": {"type": "discord", "url": f"ftp://x/{DISCORD_TOKEN}"}}}}
    with pytest.raises(ConfigError) as exc:
        parse_settings(bad)
    assert str(exc.value) == ("settings key alerts.sinks.d: url: expected an http(s) URL with a host, or ${ENV_VAR} "
                              "naming one (the value is not shown: it holds a secret)")
    assert DISCORD_TOKEN not in repr(parse_settings(
        {"alerts": {"sinks": {"d": {"type": "discord", "url": f"https://x/{DISCORD_TOKEN}"}}}}))


@pytest.mark.parametrize(("alerts", "message"), [
    ({"rules": {"r": {"metric": "funding_8h"}}}, "settings key alerts.rules.r: metric funding_8h needs threshold_pct"),
    ({"rules": {"r": {"metric": "liquidation_usd", "threshold_pct": 1}}},
     "settings key alerts.rules.r: metric liquidation_usd takes threshold_usd, not threshold_pct"),
    ({"rules": {"r": {"metric": "funding_8h", "threshold_pct": 1, "op": "=>"}}},
     "settings key alerts.rules.r.op: expected '>' or '>=' or '<' or '<=', got '=>'"),
    ({"rules": {"r": {"metric": "funding_8h", "threshold_pct": 1, "venues": ["binanse"]}}},
     "settings key alerts.rules.r: venues: 'binanse' is not a venue dtrack knows; known: "),
    ({"rules": {"r": {"metric": "funding_8h", "threshold_pct": 1, "sinks": ["pager"]}}},
     "settings key alerts: rules.r.sinks: 'pager' is not a sink; known: console"),
    ({"sinks": {"t": {"type": "telegram", "token": "${T}"}}}, "settings key alerts.sinks.t: a telegram sink needs "
                                                             "chat_id"),
    ({"intervall": 60}, "unknown settings key alerts.intervall; did you mean alerts.interval?"),
])
def test_bad_alert_settings_are_one_clear_line(alerts: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_settings({"alerts": alerts})
    assert str(exc.value).startswith(message)


# --- units ----------------------------------------------------------------------------------------------------

def test_the_metrics_are_the_settings_metrics() -> None:
    assert list(METRICS) == list(ALERT_METRICS)
    for name, unit in ALERT_METRICS.items():
        assert METRICS[name].unit == ("usd" if unit == "usd" else "fraction")


def test_the_default_rules_are_the_seeds() -> None:
    rules = {r.name: r for r in rules_in_force(AlertSettings())}
    assert {n: (r.metric, r.spec.op, r.spec.abs, r.threshold, r.spec.enabled) for n, r in rules.items()} == {
        "funding_extreme": ("funding_8h", ">=", True, 0.001, True),  # 001: 0.1 % per 8 h
        "funding_elevated": ("funding_8h", ">=", False, 0.0008, True),  # 004: 0.08 % per 8 h
        "funding_unattractive": ("funding_8h", "<", False, 0.00015, False),  # 004: 0.015 % per 8 h
        "funding_reversal": ("funding_8h", "<=", False, -0.0005, True),  # 004: -0.05 % per 8 h
        "oi_change_large": ("oi_change_24h", ">=", True, 0.15, True),  # 001: 15 %
        "liquidation_large": ("liquidation_usd", ">=", False, 1_000_000.0, True),  # 001: $1M
        "iv_extreme": ("atm_iv", ">=", False, 1.0, True),  # 001: 100 % IV
    }
    assert all(r.cooldown == 3600.0 and r.sinks == ("console",) for r in rules.values())
    # a rule of the same name in the file replaces the default; default_rules: false drops them all
    mine = AlertSettings(rules={"funding_extreme": AlertRuleSettings(metric="funding_8h", threshold=0.002)})
    assert next(r for r in rules_in_force(mine) if r.name == "funding_extreme").threshold == 0.002
    assert rules_in_force(replace(mine, default_rules=False))[0].name == "funding_extreme"
    assert len(rules_in_force(replace(mine, default_rules=False))) == 1


@pytest.mark.parametrize(("value", "op", "threshold", "absolute", "expected"), [
    (0.0010, ">=", 0.0010, False, True), (0.0010, ">", 0.0010, False, False), (-0.0012, ">=", 0.0010, True, True),
    (-0.0012, ">=", 0.0010, False, False), (-0.0006, "<=", -0.0005, False, True), (0.0001, "<", 0.00015, False, True),
    (-0.0001, "<", 0.00015, True, True), (0.0002, "<", 0.00015, False, False), (float("nan"), "<", 1.0, False, False),
])
def test_compare(value: float, op: str, threshold: float, absolute: bool, expected: bool) -> None:
    assert compare(value, op, threshold, absolute) is expected


def _rule(name: str, metric: str, op: str, threshold: float, **kw: Any) -> Rule:
    unit = METRICS[metric].unit
    spec = AlertRuleSettings(metric=metric, op=op, threshold=threshold if unit == "fraction" else None,
                             threshold_usd=threshold if unit == "usd" else None, **kw)
    return Rule(name=name, spec=spec, cooldown=600.0, sinks=("console",))


def _alert(i: int, **kw: Any) -> Alert:
    reading = Reading(metric="funding_8h", asset="BTC", venue="binance", symbol=f"SYM{i}", value=0.001 + i * 1e-5,
                      time=T0, key=f"binance|SYM{i}", detail="rate <b>&</b> detail")
    return alert_of(_rule("r", "funding_8h", ">=", 0.001, **kw), reading, T0)


def test_payloads_keep_to_the_receivers_limits() -> None:
    alerts = [_alert(i) for i in range(25)]
    discord = discord_payloads(alerts)
    assert [len(p["embeds"]) for p in discord] == [DISCORD_EMBEDS, DISCORD_EMBEDS, 5]
    assert all(len(p["content"]) <= 2000 for p in discord)
    assert all(len(f["value"]) <= 1024 for p in discord for e in p["embeds"] for f in e["fields"])
    assert discord[0]["embeds"][0]["color"] == 0xE67E22
    slack = slack_payloads(alerts)
    assert len(slack) == 1 and len(slack[0]["blocks"]) == 26
    assert "rate &lt;b&gt;&amp;&lt;/b&gt; detail" in slack[0]["blocks"][1]["text"]["text"]  # mrkdwn escaped
    texts = telegram_texts([_alert(i) for i in range(200)])
    assert len(texts) > 1 and all(len(t) <= TELEGRAM_CHARS for t in texts)
    assert sum(t.count("<b>BTC funding 8h") for t in texts) == 200
    assert "rate &lt;b&gt;&amp;&lt;/b&gt; detail" in texts[0]  # HTML escaped


def test_the_alert_message_says_what_where_and_why() -> None:
    a = _alert(0)
    assert a.title == "BTC funding 8h +0.1000% (binance SYM0)"
    assert a.message == "BTC funding 8h +0.1000% (binance SYM0): rule r, funding 8h >= 0.1000%; rate <b>&</b> detail"
    assert a.key == "r|BTC|binance|SYM0"
    assert a.to_row()["fired_at"] == "2026-12-04T08:00:00Z" and len(a.id) == 16


def test_retry_after_from_header_or_body() -> None:
    assert retry_after({"Retry-After": "2"}, None) == 2.0
    assert retry_after({"Retry-After": "Fri, 04 Dec 2026 08:00:30 GMT"}, None, now=T0.timestamp()) == 30.0
    assert retry_after({}, {"retry_after": 0.75}) == 0.75  # Discord
    assert retry_after({}, {"ok": False, "parameters": {"retry_after": 7}}) == 7.0  # Telegram
    assert retry_after({}, {"message": "x"}) is None


def test_post_json_waits_what_the_receiver_asks(receiver: Receiver) -> None:
    receiver.reset()
    receiver.faults["telegram"] = [(429, {}, '{"ok": false, "parameters": {"retry_after": 3}}'),
                                   (502, {}, "bad gateway")]
    receiver.faults["discord"] = [(429, {"Retry-After": "120"}, "{}")]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the injected clock: the waits are recorded, not slept
        slept.append(seconds)

    async def main() -> tuple[int, str]:
        import aiohttp

        policy = Policy(retries=3, backoff=0.5, max_wait=60.0, sleep=sleep)
        mask = Masker([f"{receiver.url}/api/webhooks/1/{DISCORD_TOKEN}"])
        async with aiohttp.ClientSession() as session:
            done = await post_json(session, f"{receiver.url}/bot{TELEGRAM_TOKEN}/sendMessage", {"text": "x"}, policy,
                                   Masker([TELEGRAM_TOKEN]))
            with pytest.raises(SinkError) as exc:
                await post_json(session, f"{receiver.url}/api/webhooks/1/{DISCORD_TOKEN}", {"content": "x"}, policy,
                                mask)
        return done.attempts, str(exc.value)

    attempts, error = asyncio.run(main())
    assert attempts == 3
    assert slept[0] == 3.0 and 0.5 <= slept[1] < 1.5  # the 429's wait, then jittered backoff after the 502
    assert error == ("rate limited (HTTP 429): the receiver asks to wait 120 s, longer than alerts.max_wait (60 s)")
    assert len(receiver.of("discord")) == 1  # never retried past max_wait


def test_the_state_holds_cooldowns_and_gives_back_failed_claims(tmp_path: Path) -> None:
    with AlertBook(tmp_path / "alerts.sqlite3") as book:
        t = T0.timestamp()
        claims = book.claim([("k", "discord", 600.0), ("k", "console", 600.0)], t)
        assert [(c.key, c.sink, c.previous) for c in claims] == [("k", "discord", None), ("k", "console", None)]
        assert book.claim([("k", "discord", 600.0)], t + 599) == []  # inside the cooldown
        book.release([c for c in claims if c.sink == "discord"])  # its delivery failed
        assert book.due("k", "discord", t + 1, 600.0) and not book.due("k", "console", t + 1, 600.0)
        again = book.claim([("k", "console", 600.0)], t + 600)  # the cooldown is over
        assert [(c.sink, c.previous) for c in again] == [("console", t)]
    with AlertBook(tmp_path / "alerts.sqlite3") as reopened:  # kept across runs
        assert reopened.last("k", "console") == t + 600


def test_an_event_is_alerted_once_whatever_the_cooldown() -> None:
    rule = _rule("big", "liquidation_usd", ">=", 1e6, cooldown=0)
    rule = replace(rule, cooldown=0.0)
    reading = Reading(metric="liquidation_usd", asset="BTC", venue="bybit", symbol="BTCUSDT", value=2e6, time=T0,
                      key="bybit|BTCUSDT|abc", event=True)
    a = alert_of(rule, reading, T0)
    assert a.effective_cooldown == 7 * 86400.0
    inputs = Inputs()
    assert [r.value for r in METRICS["liquidation_usd"].read(inputs, ())] == []


def test_masker_hides_secrets_and_their_encodings() -> None:
    url = f"https://discord.com/api/webhooks/1/{DISCORD_TOKEN}"
    mask = Masker([url, "tok en/1"])
    assert mask(f"POST {url} failed") == "POST *** failed"
    assert mask(f"path /api/webhooks/1/{DISCORD_TOKEN}?x") == "path ***?x"
    assert mask("a tok%20en%2F1 b") == "a *** b"


def test_the_collector_job_checks_and_writes_its_console_lines(env: Path, receiver: Receiver, market: Market,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import dtrack
    from dtrack.collect.alerts import AlertJob
    from dtrack.collect.plan import make_plan
    from dtrack.collect.status import StatusLine
    from dtrack.config import load_settings

    cfg = config(env, market.at(0), receiver, {"binance_btc": {**EVERY_BINANCE_BTC, "sinks": ["console", "webhook"]},
                                               "big_liq": {"metric": "liquidation_usd", "threshold_usd": 1}},
                 interval=60)
    settings = load_settings(cfg)
    plan = make_plan(settings, assets=["BTC"], store_url=str(env / "store.sqlite3"))
    lines = io.StringIO()

    async def main() -> tuple[int, int]:
        async with dtrack.AsyncClient(config=settings, clock=lambda: T0) as client:
            job = AlertJob(client, plan, StatusLine(None, messages=lines))
            assert job.enabled and job.interval == 60 and job.assets == ["BTC"]
            stop = asyncio.Event()
            original = job.round

            async def round_then_stop() -> Any:
                try:
                    return await original()
                finally:
                    stop.set()  # one round, then the schedule ends: no sleeping in the test

            job.round = round_then_stop  # type: ignore[method-assign]
            await job.every(stop, first=0.0)
            second = await original()  # inside the cooldown: nothing sent again
            assert second is not None and second.alerts == [] and second.held
            return job.rounds, job.fired

    rounds, fired = asyncio.run(main())
    assert rounds == 2 and fired >= 2
    text = lines.getvalue()
    assert text.count("dtrack collect: ALERT BTC funding 8h") == fired
    assert text.count("dtrack collect: alerts: big_liq: not available") == 1  # said once, not at every round
    assert len(receiver.of("webhook")) == 1
