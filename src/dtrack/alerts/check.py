"""One alert check from end to end (``AsyncClient.alerts_check``), and a sink's test message
(``AsyncClient.alerts_test``).

A check: the rules in force (``alerts:`` settings) -> the client's queries their metrics need, asked concurrently
(funding, open interest with changes, basis, options per asset, recent liquidations) -> each rule evaluated
(``rules.evaluate``) -> per alert and sink, claimed in the state unless its cooldown holds it -> each sink's alerts
delivered, concurrently across sinks; a delivery that failed gives its claims back, so the next check retries
that sink only.

A query that fails never stops the rules that do not need it: its rules say "not available" and the venues that
failed are listed. A bad asset is a usage error, as in every command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dtrack.alerts.metrics import METRICS, Inputs
from dtrack.alerts.rules import Alert, Rule, evaluate, readings, rules_in_force, sources
from dtrack.alerts.sinks import Context, Outcome, Policy, Sink, SinkError, make_sinks
from dtrack.alerts.state import AlertBook, Claim, book_path
from dtrack.errors import DtrackError, SymbolNotFound, UsageError
from dtrack.results import AlertsResult, Failure, unique

if TYPE_CHECKING:
    from pathlib import Path

    from dtrack.client.core import AsyncClient
    from dtrack.config import AlertSettings

log = logging.getLogger(__name__)

#: how far back ``liquidation_usd`` looks for events (each is alerted once: see ``rules.EVENT_MEMORY``)
LIQUIDATION_LOOKBACK = "1h"
#: the most recent events read for ``liquidation_usd``
LIQUIDATION_LIMIT = 10_000
TEST_TEXT = "dtrack test message: this sink works."


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """What one sink was sent: how many alerts, whether it took them, the requests made, the error (masked)."""

    sink: str
    type: str
    target: str
    alerts: int
    ok: bool
    attempts: int
    error: str | None = None

    def to_row(self) -> dict[str, Any]:
        """The delivery as a flat JSON-able dict."""
        return {"sink": self.sink, "type": self.type, "target": self.target, "alerts": self.alerts, "ok": self.ok,
                "attempts": self.attempts, "error": self.error}


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleStatus:
    """One rule's check: the readings it compared, how many matched, whether its data was there at all."""

    rule: Rule
    readings: int
    matched: int
    available: bool
    note: str = ""

    def to_row(self) -> dict[str, Any]:
        """The rule's line as a flat JSON-able dict."""
        return {"name": self.rule.name, "metric": self.rule.metric, "condition": self.rule.condition(),
                "readings": self.readings, "matched": self.matched, "available": self.available, "note": self.note}


@dataclass(frozen=True, slots=True, kw_only=True)
class Held:
    """An alert its cooldown held back: sent before, not again before ``until``."""

    alert: Alert
    until: datetime | None


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _assets(texts: Sequence[str]) -> list[str]:
    from dtrack.symbols import parse_asset

    return list(dict.fromkeys(parse_asset(t).asset for part in texts for t in part.split(",") if t.strip()))


def choose_rules(client: AsyncClient, names: Sequence[str] | None) -> list[Rule]:
    """The rules to check: the enabled ones, or those named (enabled or not; an unknown name is a usage error)."""
    every = rules_in_force(client.settings.alerts)
    if not names:
        return [r for r in every if r.spec.enabled]
    known = {r.name: r for r in every}
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"no alert rule named {missing[0]!r}; rules: {', '.join(known) or '(none)'}")
    return [known[n] for n in dict.fromkeys(names)]


async def check(client: AsyncClient, assets: str | Sequence[str] | None = None, *, rules: Sequence[str] | None = None,
                send: bool = True, console: Callable[[str], None] | None = None,
                sleep: Callable[[float], Awaitable[None]] | None = None,
                env: Mapping[str, str] | None = None) -> AlertsResult:
    """See ``AsyncClient.alerts_check``."""
    settings = client.settings
    cfg = settings.alerts
    chosen = choose_rules(client, [rules] if isinstance(rules, str) else rules)
    texts = [assets] if isinstance(assets, str) else list(assets or ())
    base = _assets(texts) or list(cfg.assets) or list(settings.collect.assets)
    wanted = list(dict.fromkeys([*base, *(a.upper() for r in chosen for a in r.spec.assets)]))
    sink_names = [n for r in chosen for n in r.sinks]
    sinks = make_sinks(cfg, sink_names, state_dir=settings.state_dir, env=os.environ if env is None else env,
                       console=console or _stderr)
    inputs, failures, problems, answered, asked = await read_inputs(client, wanted, chosen)
    now = client.now()
    fired: list[Alert] = []
    statuses: list[RuleStatus] = []
    for rule in chosen:
        source = METRICS[rule.metric].source
        found = evaluate(rule, inputs, base, now)
        available = source in answered
        note = "" if available else f"not available: {problems.get(source, 'no answer')}"
        statuses.append(RuleStatus(rule=rule, readings=len(readings(rule, inputs, base)), matched=len(found),
                                   available=available, note=note))
        fired += found
    fired = list({a.key: a for a in fired}.values())  # one alert per key, whatever matched it twice
    notes = [f"{s.rule.name}: {s.note}" for s in statuses if s.note]
    notes += [f"{source}: {text}" for source, text in problems.items() if source in answered]
    path = book_path(settings.state_dir, client.simulated)
    sent, held, deliveries = await _deliver(fired, sinks, path, now, send, cfg, sleep)
    return AlertsResult(as_of=now, failures=unique(failures), all_failed=bool(asked) and not answered,
                        assets=base, rules=statuses, alerts=sent, held=held, deliveries=deliveries, notes=notes,
                        sent=send)


async def read_inputs(client: AsyncClient, assets: list[str], rules: Sequence[Rule]
                      ) -> tuple[Inputs, list[Failure], dict[str, str], set[str], list[str]]:
    """Ask the client what the rules need, concurrently: the inputs, the venues' failures, what could not be read
    (source -> why), the sources that answered, and the sources asked."""
    needed = sources(rules)
    min_usd = min((r.threshold for r in rules if r.metric == "liquidation_usd"), default=0.0)
    jobs: dict[str, Awaitable[Any]] = {}
    if "funding" in needed:
        jobs["funding"] = client.funding(assets)
    if "oi" in needed:
        jobs["oi"] = client.open_interest(assets, changes=True)
    if "basis" in needed:
        jobs["basis"] = client.basis(assets)
    if "options" in needed:
        jobs.update({f"options:{a}": client.options(a) for a in assets})
    if "liquidations" in needed:
        query = getattr(client, "liquidations", None)
        if query is not None:
            jobs["liquidations"] = query(assets, since=LIQUIDATION_LOOKBACK, recent=True, min_size=max(min_usd, 0.0),
                                         limit=LIQUIDATION_LIMIT)
    names = list(jobs)
    done = await asyncio.gather(*jobs.values(), return_exceptions=True)
    inputs = Inputs()
    failures: list[Failure] = []
    problems: dict[str, str] = {}
    answered: set[str] = set()
    if "liquidations" in needed and "liquidations" not in jobs:
        problems["liquidations"] = "this dtrack has no liquidations query"
    for name, outcome in zip(names, done, strict=True):
        source = name.partition(":")[0]
        if isinstance(outcome, UsageError | SymbolNotFound) and source in ("funding", "oi"):
            raise outcome  # a bad asset: the same answer as every command gives
        if isinstance(outcome, DtrackError):
            what = f"{name.partition(':')[2]}: {outcome}" if ":" in name else str(outcome)
            problems[source] = "; ".join(p for p in (problems.get(source), what) if p)
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        failures += outcome.failures
        if getattr(outcome, "all_failed", False):
            problems.setdefault(source, getattr(outcome, "note", "") or "no venue answered")
            continue
        answered.add(source)
        if source == "funding":
            inputs.funding = outcome
        elif source == "oi":
            inputs.oi = outcome
        elif source == "basis":
            inputs.basis = outcome
        elif source == "options":
            inputs.options.append(outcome)
        else:
            inputs.liquidations = outcome
    return inputs, failures, problems, answered, needed


async def _deliver(alerts: list[Alert], sinks: Mapping[str, Sink], path: Path, now: datetime, send: bool,
                   cfg: AlertSettings, sleep: Callable[[float], Awaitable[None]] | None
                   ) -> tuple[list[Alert], list[Held], list[Delivery]]:
    """Claim and send: the alerts that went (or, without ``send``, would go), those held by their cooldown, and
    what each sink did."""
    if not alerts:
        return [], [], []
    stamp = now.timestamp()
    wanted = [(a.key, s, a.effective_cooldown) for a in alerts for s in a.sinks]
    with AlertBook(path) as book:
        if send:
            claims = book.claim(wanted, stamp)
        else:
            claims = [Claim(k, s, stamp, book.last(k, s)) for k, s, c in wanted if book.due(k, s, stamp, c)]
        claimed = {(c.key, c.sink) for c in claims}
        went = [a for a in alerts if any((a.key, s) in claimed for s in a.sinks)]
        held = [Held(alert=a, until=_until(book, a)) for a in alerts if a not in went]
        deliveries: list[Delivery] = []
        if send and went:
            per_sink = {name: [a for a in went if (a.key, name) in claimed] for name in sinks}
            per_sink = {name: items for name, items in per_sink.items() if items}
            deliveries = await deliver(per_sink, sinks, Policy.of(cfg, sleep), now)
            failed = {d.sink for d in deliveries if not d.ok}
            book.release([c for c in claims if c.sink in failed])
    return went, held, deliveries


def _until(book: AlertBook, alert: Alert) -> datetime | None:
    lasts = [t for s in alert.sinks if (t := book.last(alert.key, s)) is not None]
    if not lasts:
        return None
    return datetime.fromtimestamp(min(lasts) + alert.effective_cooldown, UTC)


async def deliver(per_sink: Mapping[str, Sequence[Alert]], sinks: Mapping[str, Sink], policy: Policy,
                  as_of: datetime) -> list[Delivery]:
    """Send each sink its alerts, the sinks concurrently (one HTTP session for them all)."""
    remote = any(sinks[n].remote for n in per_sink)
    async with _Session(remote) as session:
        ctx = Context(session=session, policy=policy, as_of=as_of)
        return list(await asyncio.gather(*(_one(sinks[n], items, ctx) for n, items in per_sink.items())))


async def _one(sink: Sink, alerts: Sequence[Alert], ctx: Context, test: str | None = None) -> Delivery:
    outcome = Outcome()
    error: str | None = None
    try:
        if test is not None:
            await sink.send_test(test, ctx, outcome)
        else:
            await sink.send(alerts, ctx, outcome)
    except SinkError as exc:
        error = sink.mask(str(exc))
    except Exception as exc:  # a bug must not lose the other sinks' deliveries; masked all the same
        log.debug("sink %s failed", sink.name, exc_info=False)
        error = sink.mask(f"internal error ({type(exc).__name__}: {exc})")
    if error is None:
        log.info("alerts: %s sent to %s (%s)", "test message" if test else f"{len(alerts)} alerts", sink.name,
                 sink.target)
    else:
        log.warning("alerts: sink %s (%s) failed: %s", sink.name, sink.target, error)
    return Delivery(sink=sink.name, type=sink.type, target=sink.target, alerts=len(alerts), ok=error is None,
                    attempts=outcome.attempts, error=error)


class _Session:
    """An aiohttp session for the remote sinks (proxies from the environment), or None when none is remote."""

    def __init__(self, needed: bool) -> None:
        self.needed = needed
        self.session: Any = None

    async def __aenter__(self) -> Any:
        if self.needed:
            import aiohttp

            self.session = aiohttp.ClientSession(trust_env=True)
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()


async def test_sink(client: AsyncClient, name: str, *, console: Callable[[str], None] | None = None,
                    sleep: Callable[[float], Awaitable[None]] | None = None,
                    env: Mapping[str, str] | None = None) -> AlertsResult:
    """See ``AsyncClient.alerts_test``."""
    settings = client.settings
    known = sorted({"console", *settings.alerts.sinks})
    if name not in known:
        raise UsageError(f"no alert sink named {name!r}; sinks: {', '.join(known)} (settings alerts.sinks)")
    sinks = make_sinks(settings.alerts, [name], state_dir=settings.state_dir,
                       env=os.environ if env is None else env, console=console or _stderr)
    sink = sinks[name]
    now = client.now()
    async with _Session(sink.remote) as session:
        ctx = Context(session=session, policy=Policy.of(settings.alerts, sleep), as_of=now)
        delivery = await _one(sink, [], ctx, test=TEST_TEXT)
    return AlertsResult(as_of=now, assets=[], rules=[], alerts=[], held=[], deliveries=[delivery], notes=[],
                        sent=True, test=True)
