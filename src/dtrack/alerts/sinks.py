"""Where alerts go: console, a JSON-lines file, a generic webhook, Discord, Slack and Telegram.

Each HTTP sink posts JSON in its receiver's own format (the payload builders below are pure), honours a 429's
``Retry-After`` (the header, or Discord's and Telegram's ``retry_after`` in the body) up to ``alerts.max_wait``,
retries timeouts, refused connections and 5xx with jittered exponential backoff (``alerts.retries``,
``alerts.backoff``), and never retries another 4xx (a bad URL or payload does not get better).

Secrets: webhook URLs and bot tokens come from settings, where ``${ENV_VAR}`` is replaced by the environment's
value. They never appear in output, logs or errors: a sink shows its target as ``https://host/…``, and every
message it makes passes through its ``Masker`` (which also hides the URL-encoded forms).

Payloads (one POST per check and sink; several when the receiver's limits say so):
- webhook: ``{"source": "dtrack", "schema_version": 1, "kind": "alerts", "as_of", "count", "alerts": [row...]}``,
  each row ``Alert.to_row()`` (at most 100 a POST); a test: ``kind`` ``test``, ``alerts`` empty, ``message``;
- discord: ``{"username": "dtrack", "content", "embeds": [...], "allowed_mentions": {"parse": []}}``, one embed
  per alert (title, description, colour, fields value / threshold / venue, timestamp), at most 10 a message;
- slack: ``{"text": fallback, "blocks": [header, one mrkdwn section per alert]}``, at most 40 alerts a message;
- telegram: ``{"chat_id", "text": HTML, "parse_mode": "HTML", "disable_web_page_preview": true}`` to
  ``<api_url>/bot<token>/sendMessage``, at most 4096 characters a message;
- jsonl: one ``Alert.to_row()`` a line; console: one ``ALERT …`` line per alert.
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from dtrack.config import AlertSettings, AlertSinkSettings
from dtrack.errors import ConfigError, DtrackError
from dtrack.report.format import iso

if TYPE_CHECKING:
    import aiohttp

    from dtrack.alerts.rules import Alert

log = logging.getLogger(__name__)

#: what a masked secret is shown as
HIDDEN = "***"
WEBHOOK_BATCH = 100
DISCORD_EMBEDS = 10
SLACK_ALERTS = 40
TELEGRAM_CHARS = 4096
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SinkError(DtrackError):
    """A sink could not take the alerts (its message is masked: no secret in it)."""

    kind = "sink"


# --- secrets --------------------------------------------------------------------------------------------------


def expand(text: str, env: Mapping[str, str], where: str) -> str:
    """``text`` with each ``${NAME}`` replaced by the environment's value; a variable not set is a ``ConfigError``
    naming it (never its value)."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        got = env.get(name)
        if not got:
            raise ConfigError(f"{where}: environment variable {name} is not set (or empty)")
        return got

    return _ENV_REF.sub(value, text)


class Masker:
    """Hides secrets in any text: each secret, its URL-encoded form and, for a URL, its path and query."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        parts: set[str] = set()
        for s in secrets:
            if not s:
                continue
            parts.update({s, quote(s, safe=""), quote(s, safe="/:")})
            split = urlsplit(s)
            if split.scheme and split.netloc:
                rest = s[len(f"{split.scheme}://{split.netloc}"):]
                if len(rest) > 1:
                    parts.add(rest)
        # longest first: a URL before its own path
        self._parts = sorted((p for p in parts if len(p) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for part in self._parts:
            text = text.replace(part, HIDDEN)
        return text


def shown_url(url: str) -> str:
    """A URL as dtrack shows it: scheme and host, the rest hidden (``https://discord.com/…``)."""
    split = urlsplit(url)
    host = split.hostname or "?"
    port = f":{split.port}" if split.port else ""
    return f"{split.scheme}://{host}{port}/…"


# --- payloads (pure) ------------------------------------------------------------------------------------------


def fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (an ellipsis last when cut): receivers refuse longer fields."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _chunks(items: Sequence[Alert], size: int) -> list[Sequence[Alert]]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [items]


def webhook_payloads(alerts: Sequence[Alert], as_of: datetime) -> list[dict[str, Any]]:
    """The generic webhook's bodies: every alert as ``Alert.to_row()``, at most ``WEBHOOK_BATCH`` a POST."""
    return [{"source": "dtrack", "schema_version": 1, "kind": "alerts", "as_of": iso(as_of), "count": len(part),
             "alerts": [a.to_row() for a in part]} for part in _chunks(alerts, WEBHOOK_BATCH)]


def webhook_test(as_of: datetime, text: str) -> dict[str, Any]:
    """The generic webhook's test body."""
    return {"source": "dtrack", "schema_version": 1, "kind": "test", "as_of": iso(as_of), "count": 0, "alerts": [],
            "message": text}


#: Discord embed colours: above a threshold (orange), below one (blue)
COLOR_ABOVE, COLOR_BELOW = 0xE67E22, 0x3498DB


def _field(name: str, value: str, inline: bool = True) -> dict[str, Any]:
    return {"name": fit(name, 256), "value": fit(value, 1024) or "-", "inline": inline}


def discord_payloads(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """Discord webhook messages: one embed per alert, at most ``DISCORD_EMBEDS`` a message; mentions disabled
    (an asset named ``@everyone`` pings no one)."""
    out = []
    for part in _chunks(alerts, DISCORD_EMBEDS):
        embeds = [{
            "title": fit(a.title, 256),
            "description": fit(a.message, 4096),
            "color": COLOR_BELOW if a.op.startswith("<") else COLOR_ABOVE,
            "fields": [_field("value", a.shown_value), _field("rule", f"{a.rule}: {a.condition}"),
                       _field("venue", a.where)],
            "timestamp": iso(a.time or a.fired_at),
        } for a in part]
        out.append({"username": "dtrack", "content": fit(f"dtrack: {_count(len(part))}", 2000), "embeds": embeds,
                    "allowed_mentions": {"parse": []}})
    return out


def discord_test(text: str) -> dict[str, Any]:
    """A Discord test message."""
    return {"username": "dtrack", "content": fit(text, 2000), "allowed_mentions": {"parse": []}}


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``&``, ``<`` and ``>`` only."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payloads(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """Slack incoming-webhook messages: ``text`` (the notification) and a header plus one section per alert."""
    out = []
    for part in _chunks(alerts, SLACK_ALERTS):
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": fit(f"dtrack: {_count(len(part))}", 150)}}]
        blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": fit(
            f"*{_slack_escape(a.title)}*\n{_slack_escape(a.message)}", 3000)}} for a in part]
        out.append({"text": fit("dtrack: " + "; ".join(a.title for a in part), 3000), "blocks": blocks})
    return out


def slack_test(text: str) -> dict[str, Any]:
    """A Slack test message."""
    return {"text": text}


def telegram_texts(alerts: Sequence[Alert]) -> list[str]:
    """Telegram HTML messages, each at most ``TELEGRAM_CHARS`` characters (an alert never split)."""
    texts: list[str] = []
    current = ""
    for a in alerts:
        item = f"<b>{html.escape(fit(a.title, 200))}</b>\n{html.escape(fit(a.message, 1500))}"
        if current and len(current) + 2 + len(item) > TELEGRAM_CHARS:
            texts.append(current)
            current = ""
        current = f"{current}\n\n{item}" if current else f"<b>dtrack: {_count(len(alerts))}</b>\n\n{item}"
    return [*texts, current] if current else texts


def telegram_payload(chat_id: str, text: str) -> dict[str, Any]:
    """A Telegram ``sendMessage`` body (HTML: no MarkdownV2 escaping pitfalls)."""
    return {"chat_id": chat_id, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}


def _count(n: int) -> str:
    return f"{n} alert{'s' if n != 1 else ''}"


def console_line(alert: Alert) -> str:
    """The console sink's line."""
    return f"ALERT {alert.message}"


# --- delivery -------------------------------------------------------------------------------------------------

Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class Policy:
    """How an HTTP sink delivers: ``timeout`` per request, ``retries`` after a failure, ``backoff`` base seconds,
    ``max_wait`` the longest Retry-After sat out; ``sleep`` and ``rng`` are injectable (tests)."""

    timeout: float = 10.0
    retries: int = 3
    backoff: float = 1.0
    max_wait: float = 60.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    #: every wait taken, seconds (what a test checks)
    waits: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, alerts: AlertSettings, sleep: Sleep | None = None) -> Policy:
        """The policy of the ``alerts:`` settings."""
        return cls(timeout=alerts.timeout, retries=alerts.retries, backoff=alerts.backoff, max_wait=alerts.max_wait,
                   sleep=sleep or asyncio.sleep)

    def backoff_for(self, attempt: int) -> float:
        """Jittered exponential backoff before retry ``attempt`` (1, 2, ...): base x 2^(n-1) x [0.5, 1.5)."""
        return float(self.backoff * 2.0 ** (attempt - 1) * (0.5 + self.rng.random()))


def retry_after(headers: Mapping[str, str], body: Any, now: float | None = None) -> float | None:
    """Seconds a 429 asks to wait: the ``Retry-After`` header (seconds or an HTTP date), else the body's
    ``retry_after`` (Discord: seconds, maybe fractional) or ``parameters.retry_after`` (Telegram)."""
    raw = headers.get("Retry-After")
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                when = None
            seconds = (when.timestamp() - (time.time() if now is None else now)) if when is not None else math.nan
        if math.isfinite(seconds):
            return max(0.0, seconds)
    if isinstance(body, dict):
        for got in (body.get("retry_after"), (body.get("parameters") or {}).get("retry_after")
                    if isinstance(body.get("parameters"), dict) else None):
            if isinstance(got, int | float) and not isinstance(got, bool) and math.isfinite(got):
                return max(0.0, float(got))
    return None


def _body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass(slots=True)
class Outcome:
    """What one delivery did: the attempts made (all requests), and the error (None: delivered)."""

    attempts: int = 0
    error: str | None = None


Check = Callable[[int, Any, str], str | None]


async def post_json(session: aiohttp.ClientSession, url: str, payload: Mapping[str, Any], policy: Policy,
                    mask: Masker, check: Check | None = None, outcome: Outcome | None = None) -> Outcome:
    """POST ``payload`` as JSON to ``url`` until a 2xx (and ``check(status, body, text)`` finds nothing wrong), with
    Retry-After honoured on 429 and backoff on timeouts, connection errors and 5xx; raise ``SinkError`` (masked)
    when it cannot."""
    import aiohttp

    out = outcome if outcome is not None else Outcome()
    timeout = aiohttp.ClientTimeout(total=policy.timeout)
    problem = "not sent"
    for attempt in range(1, policy.retries + 2):
        out.attempts += 1
        wait: float | None = None
        try:
            async with session.post(url, json=payload, timeout=timeout, allow_redirects=False) as resp:
                status, text, headers = resp.status, await resp.text(errors="replace"), resp.headers
        except TimeoutError:
            problem = f"no answer within {policy.timeout:g} s"
        except aiohttp.ClientConnectorError as exc:
            problem = f"cannot connect ({type(exc.os_error).__name__ if exc.os_error else 'error'})"
        except aiohttp.ClientError as exc:
            problem = f"{type(exc).__name__}"
        else:
            body = _body(text)
            if 200 <= status < 300:
                wrong = check(status, body, text) if check is not None else None
                if wrong is None:
                    return out
                raise SinkError(mask(wrong))
            problem = f"HTTP {status}" + (f": {_snippet(body, text)}" if text.strip() else "")
            if status == 429:
                wait = retry_after(headers, body)
                if wait is not None and wait > policy.max_wait:
                    raise SinkError(mask(f"rate limited (HTTP 429): the receiver asks to wait {wait:g} s, longer "
                                         f"than alerts.max_wait ({policy.max_wait:g} s)"))
            elif status < 500 and status != 408:
                raise SinkError(mask(problem))  # a bad request does not get better
        if attempt > policy.retries:
            break
        pause = wait if wait is not None else policy.backoff_for(attempt)
        policy.waits.append(pause)
        log.debug("sink retry %d in %.3f s: %s", attempt, pause, mask(problem))
        await policy.sleep(pause)
    raise SinkError(mask(f"{problem} (after {out.attempts} attempts)"))


def _snippet(body: Any, text: str) -> str:
    """What an error answer says, short: Telegram's ``description``, Discord's ``message``, else the text."""
    if isinstance(body, dict):
        for key in ("description", "message", "error"):
            if isinstance(body.get(key), str):
                return fit(" ".join(body[key].split()), 200)
    return fit(" ".join(text.split()), 200)


# --- the sinks ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Context:
    """What a delivery uses: the HTTP session (None: made by the first HTTP sink that needs one), the policy,
    and the time the alerts are as of."""

    session: aiohttp.ClientSession | None
    policy: Policy
    as_of: datetime


class Sink:
    """A named destination of alerts. ``target`` is what dtrack shows of it (masked)."""

    type = "console"

    def __init__(self, name: str) -> None:
        self.name = name
        self.mask = Masker()

    @property
    def target(self) -> str:
        """Where it sends, as shown (no secret)."""
        return ""

    @property
    def remote(self) -> bool:
        """Whether it needs the network."""
        return False

    async def send(self, alerts: Sequence[Alert], ctx: Context, outcome: Outcome) -> None:
        """Deliver ``alerts`` (raise ``SinkError`` when it cannot)."""
        raise NotImplementedError

    async def send_test(self, text: str, ctx: Context, outcome: Outcome) -> None:
        """Deliver a test message."""
        raise NotImplementedError


class ConsoleSink(Sink):
    """One line per alert to ``write`` (the CLI: stderr; the collector: its message line)."""

    type = "console"

    def __init__(self, name: str, write: Callable[[str], None]) -> None:
        super().__init__(name)
        self.write = write

    @property
    def target(self) -> str:
        return "stderr"

    async def send(self, alerts: Sequence[Alert], ctx: Context, outcome: Outcome) -> None:
        outcome.attempts += 1
        for a in alerts:
            self.write(console_line(a))

    async def send_test(self, text: str, ctx: Context, outcome: Outcome) -> None:
        outcome.attempts += 1
        self.write(text)


class JsonlSink(Sink):
    """One JSON object per alert appended to a file (``Alert.to_row()``)."""

    type = "jsonl"

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path

    @property
    def target(self) -> str:
        return str(self.path)

    def _append(self, rows: Sequence[dict[str, Any]]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(r, allow_nan=False, separators=(",", ":")) + "\n" for r in rows))
        except OSError as exc:
            raise SinkError(f"cannot append to {str(self.path)!r} ({exc.strerror or exc})") from None

    async def send(self, alerts: Sequence[Alert], ctx: Context, outcome: Outcome) -> None:
        outcome.attempts += 1
        self._append([a.to_row() for a in alerts])

    async def send_test(self, text: str, ctx: Context, outcome: Outcome) -> None:
        outcome.attempts += 1
        self._append([webhook_test(ctx.as_of, text)])


class HttpSink(Sink):
    """A sink that POSTs JSON to ``url`` (a secret)."""

    type = "webhook"

    def __init__(self, name: str, url: str) -> None:
        super().__init__(name)
        self.url = url
        self.mask = Masker([url])

    @property
    def target(self) -> str:
        return shown_url(self.url)

    @property
    def remote(self) -> bool:
        return True

    def payloads(self, alerts: Sequence[Alert], as_of: datetime) -> list[dict[str, Any]]:
        """The bodies to POST."""
        return webhook_payloads(alerts, as_of)

    def test_payload(self, text: str, as_of: datetime) -> dict[str, Any]:
        """The body of a test message."""
        return webhook_test(as_of, text)

    def check(self, status: int, body: Any, text: str) -> str | None:
        """What is wrong with a 2xx answer (None: nothing)."""
        return None

    async def _post(self, payload: Mapping[str, Any], ctx: Context, outcome: Outcome) -> None:
        assert ctx.session is not None
        await post_json(ctx.session, self.url, payload, ctx.policy, self.mask, self.check, outcome)

    async def send(self, alerts: Sequence[Alert], ctx: Context, outcome: Outcome) -> None:
        for payload in self.payloads(alerts, ctx.as_of):
            await self._post(payload, ctx, outcome)

    async def send_test(self, text: str, ctx: Context, outcome: Outcome) -> None:
        await self._post(self.test_payload(text, ctx.as_of), ctx, outcome)


class DiscordSink(HttpSink):
    """A Discord channel webhook (``https://discord.com/api/webhooks/<id>/<token>``)."""

    type = "discord"

    def payloads(self, alerts: Sequence[Alert], as_of: datetime) -> list[dict[str, Any]]:
        return discord_payloads(alerts)

    def test_payload(self, text: str, as_of: datetime) -> dict[str, Any]:
        return discord_test(text)


class SlackSink(HttpSink):
    """A Slack incoming webhook (``https://hooks.slack.com/services/T…/B…/…``)."""

    type = "slack"

    def payloads(self, alerts: Sequence[Alert], as_of: datetime) -> list[dict[str, Any]]:
        return slack_payloads(alerts)

    def test_payload(self, text: str, as_of: datetime) -> dict[str, Any]:
        return slack_test(text)


class TelegramSink(HttpSink):
    """A Telegram bot's ``sendMessage`` to one chat (``<api_url>/bot<token>/sendMessage``)."""

    type = "telegram"

    def __init__(self, name: str, api_url: str, token: str, chat_id: str) -> None:
        super().__init__(name, f"{api_url.rstrip('/')}/bot{token}/sendMessage")
        self.api_url = api_url.rstrip("/")
        self.chat_id = chat_id
        self.mask = Masker([self.url, token])

    @property
    def target(self) -> str:
        return f"{self.api_url}/bot{HIDDEN}/sendMessage chat {self.chat_id}"

    def payloads(self, alerts: Sequence[Alert], as_of: datetime) -> list[dict[str, Any]]:
        return [telegram_payload(self.chat_id, t) for t in telegram_texts(alerts)]

    def test_payload(self, text: str, as_of: datetime) -> dict[str, Any]:
        return telegram_payload(self.chat_id, html.escape(text))

    def check(self, status: int, body: Any, text: str) -> str | None:
        if isinstance(body, dict) and body.get("ok") is True:
            return None
        return f"Telegram did not accept the message: {_snippet(body, text)}"


def make_sink(name: str, spec: AlertSinkSettings, *, state_dir: Path, env: Mapping[str, str],
              console: Callable[[str], None]) -> Sink:
    """The sink of one ``alerts.sinks`` entry, its secrets read from the environment where written ``${VAR}``."""
    where = f"alerts sink {name}"
    if spec.type == "console":
        return ConsoleSink(name, console)
    if spec.type == "jsonl":
        path = spec.path if spec.path is not None else state_dir / "alerts.jsonl"
        return JsonlSink(name, Path(os.path.expanduser(str(path))))
    if spec.type == "telegram":
        assert spec.token is not None and spec.chat_id is not None
        return TelegramSink(name, spec.api_url, expand(spec.token, env, where), expand(spec.chat_id, env, where))
    assert spec.url is not None
    url = expand(spec.url, env, where)
    split = urlsplit(url)
    if split.scheme.lower() not in ("http", "https") or not split.hostname:
        raise ConfigError(f"{where}: its url is not an http(s) URL with a host (the value is not shown: it holds "
                          f"a secret)")
    cls = {"webhook": HttpSink, "discord": DiscordSink, "slack": SlackSink}[spec.type]
    return cls(name, url)


def make_sinks(alerts: AlertSettings, names: Sequence[str], *, state_dir: Path, env: Mapping[str, str],
               console: Callable[[str], None]) -> dict[str, Sink]:
    """The sinks named (``console`` is built in unless the settings define it)."""
    out: dict[str, Sink] = {}
    for name in dict.fromkeys(names):
        spec = alerts.sinks.get(name)
        if spec is None:
            if name != "console":
                raise ConfigError(f"alerts: no sink named {name!r}; known: "
                                  f"{', '.join(sorted({'console', *alerts.sinks}))}")
            out[name] = ConsoleSink(name, console)
        else:
            out[name] = make_sink(name, spec, state_dir=state_dir, env=env, console=console)
    return out
