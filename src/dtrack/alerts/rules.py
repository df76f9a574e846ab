"""Alert rules: the seeds' defaults, the rules in force, and their evaluation (pure: no I/O, no clock).

A rule compares one metric (``dtrack.alerts.metrics``), or its absolute value, with a threshold, for the assets and
venues it names; every reading that matches is an ``Alert``. Whether an alert is sent or held by its cooldown is
the state's business (``dtrack.alerts.state``), not the rule's.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dtrack.alerts.metrics import METRICS, Inputs, Reading
from dtrack.config import AlertRuleSettings, AlertSettings
from dtrack.report.format import iso

#: how long a one-off event (a liquidation) is remembered after it was alerted: alerted once, whatever the cooldown
EVENT_MEMORY = 7 * 86400.0


def _rule(metric: str, op: str, threshold: float, *, absolute: bool = False, enabled: bool = True) -> AlertRuleSettings:
    unit = METRICS[metric].unit
    return AlertRuleSettings(metric=metric, op=op, abs=absolute, enabled=enabled,
                             threshold=threshold if unit == "fraction" else None,
                             threshold_usd=threshold if unit == "usd" else None)


#: the rules of the seeds (001 "Monitoring & Alerts": funding_extreme, oi_change_large, liquidation_large,
#: iv_extreme; 004 §26.P.1: funding elevated, unattractive and reversal per 8 h). ``funding_unattractive`` is off
#: by default: most perpetuals pay less than 0.015 % per 8 h most of the time; turn it on, with ``assets`` and
#: ``venues``, for the carry you hold.
DEFAULT_RULES: dict[str, AlertRuleSettings] = {
    "funding_extreme": _rule("funding_8h", ">=", 0.001, absolute=True),
    "funding_elevated": _rule("funding_8h", ">=", 0.0008),
    "funding_unattractive": _rule("funding_8h", "<", 0.00015, enabled=False),
    "funding_reversal": _rule("funding_8h", "<=", -0.0005),
    "oi_change_large": _rule("oi_change_24h", ">=", 0.15, absolute=True),
    "liquidation_large": _rule("liquidation_usd", ">=", 1_000_000.0),
    "iv_extreme": _rule("atm_iv", ">=", 1.0),
}


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule in force: its name, its settings, the cooldown (seconds) and sinks that apply, and whether it is
    one of the seeds' defaults (``default``) unchanged."""

    name: str
    spec: AlertRuleSettings
    cooldown: float
    sinks: tuple[str, ...]
    default: bool = False

    @property
    def metric(self) -> str:
        """The metric watched."""
        return self.spec.metric

    @property
    def threshold(self) -> float:
        """The threshold in the metric's unit (fraction or USD)."""
        return self.spec.value

    def condition(self) -> str:
        """``|funding 8h| >= 0.1000%``: the rule's test as text."""
        return condition(self.metric, self.spec.op, self.spec.abs, self.threshold)

    def to_row(self) -> dict[str, Any]:
        """The rule as a flat JSON-able dict (``dtrack alerts list``)."""
        m = METRICS[self.metric]
        return {"name": self.name, "metric": self.metric, "op": self.spec.op, "abs": self.spec.abs,
                "threshold": self.threshold, "unit": m.unit, "condition": self.condition(),
                "assets": list(self.spec.assets), "venues": list(self.spec.venues), "cooldown": self.cooldown,
                "sinks": list(self.sinks), "enabled": self.spec.enabled, "default": self.default}


def rules_in_force(alerts: AlertSettings) -> list[Rule]:
    """Every rule of the settings (enabled or not): the seeds' defaults unless ``default_rules`` is off, a rule of
    the same name in the file replacing one, then the file's own rules in their order."""
    specs: dict[str, tuple[AlertRuleSettings, bool]] = {}
    if alerts.default_rules:
        specs.update({name: (spec, True) for name, spec in DEFAULT_RULES.items()})
    specs.update({name: (spec, False) for name, spec in alerts.rules.items()})
    return [Rule(name=name, spec=spec, default=default,
                 cooldown=spec.cooldown if spec.cooldown is not None else alerts.cooldown,
                 sinks=spec.sinks or alerts.default_sinks)
            for name, (spec, default) in specs.items()]


def condition(metric: str, op: str, absolute: bool, threshold: float) -> str:
    """A rule's test as text: ``|funding 8h| >= 0.1000%``, ``funding 8h <= -0.0500%``, ``liquidation >= $1.00M``."""
    m = METRICS[metric]
    label = f"|{m.label}|" if absolute else m.label
    return f"{label} {op} {m.show(threshold, signed=False)}"


def compare(value: float, op: str, threshold: float, absolute: bool = False) -> bool:
    """Whether ``value`` (its absolute value with ``absolute``) is ``op`` ``threshold``; NaN never matches."""
    x = abs(value) if absolute else value
    if not (math.isfinite(x) and math.isfinite(threshold)):
        return False
    if op == ">":
        return x > threshold
    if op == ">=":
        return x >= threshold
    if op == "<":
        return x < threshold
    if op == "<=":
        return x <= threshold
    raise ValueError(f"unknown comparison {op!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One rule matched by one reading, at ``fired_at``. ``key`` is what the cooldown and de-duplication go by
    (rule, asset, venue, contract or event); ``id`` identifies this firing (the key and the time) for receivers
    that de-duplicate."""

    rule: str
    metric: str
    asset: str
    venue: str
    symbol: str | None
    value: float
    op: str
    abs: bool
    threshold: float
    time: datetime | None
    fired_at: datetime
    detail: str
    key: str
    event: bool
    cooldown: float
    sinks: tuple[str, ...]

    @property
    def id(self) -> str:
        """A stable id of this firing (16 hex digits)."""
        return hashlib.sha256(f"{self.key}@{iso(self.fired_at)}".encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """The metric's label (``funding 8h``)."""
        return METRICS[self.metric].label

    @property
    def shown_value(self) -> str:
        """The value as text (``+0.1234%``, ``$1.20M``)."""
        return METRICS[self.metric].show(self.value)

    @property
    def condition(self) -> str:
        """The rule's test as text (``|funding 8h| >= 0.1000%``)."""
        return condition(self.metric, self.op, self.abs, self.threshold)

    @property
    def where(self) -> str:
        """``binance BTCUSDT``, ``all venues``, ``binance/okx``."""
        venue = "all venues" if self.venue == "all" else self.venue
        return f"{venue} {self.symbol}" if self.symbol else venue

    @property
    def title(self) -> str:
        """One short line: ``BTC funding 8h +0.1234% (binance BTCUSDT)``."""
        return f"{self.asset} {self.label} {self.shown_value} ({self.where})"

    @property
    def message(self) -> str:
        """The whole alert in one line: what, where, which rule and the numbers behind it."""
        detail = f"; {self.detail}" if self.detail else ""
        return f"{self.title}: rule {self.rule}, {self.condition}{detail}"

    @property
    def effective_cooldown(self) -> float:
        """The cooldown that applies (one-off events are remembered ``EVENT_MEMORY`` at least)."""
        return max(self.cooldown, EVENT_MEMORY) if self.event else self.cooldown

    def to_row(self) -> dict[str, Any]:
        """The alert as a flat JSON-able dict (the webhook payload's and the JSON lines' row): fractions and USD
        as plain numbers, times ISO-8601 UTC."""
        return {"id": self.id, "rule": self.rule, "metric": self.metric, "asset": self.asset, "venue": self.venue,
                "symbol": self.symbol, "value": self.value, "unit": METRICS[self.metric].unit, "op": self.op,
                "abs": self.abs, "threshold": self.threshold, "time": iso(self.time), "fired_at": iso(self.fired_at),
                "title": self.title, "message": self.message, "detail": self.detail}


def readings(rule: Rule, inputs: Inputs, assets: Sequence[str]) -> list[Reading]:
    """What one rule compares: its metric's readings on its venues, of its assets (else ``assets``)."""
    wanted = {a.upper() for a in (rule.spec.assets or assets)}
    return [r for r in METRICS[rule.metric].read(inputs, rule.spec.venues) if r.asset.upper() in wanted]


def evaluate(rule: Rule, inputs: Inputs, assets: Sequence[str], now: datetime) -> list[Alert]:
    """The alerts of one rule on the answers read: the readings (``readings``) that match its condition."""
    return [alert_of(rule, r, now) for r in readings(rule, inputs, assets)
            if compare(r.value, rule.spec.op, rule.threshold, rule.spec.abs)]


def alert_of(rule: Rule, reading: Reading, now: datetime) -> Alert:
    """The alert of a matching reading."""
    return Alert(rule=rule.name, metric=rule.metric, asset=reading.asset, venue=reading.venue, symbol=reading.symbol,
                 value=reading.value, op=rule.spec.op, abs=rule.spec.abs, threshold=rule.threshold, time=reading.time,
                 fired_at=now, detail=reading.detail, key=f"{rule.name}|{reading.asset}|{reading.key}",
                 event=reading.event, cooldown=rule.cooldown, sinks=rule.sinks)


def sources(rules: Iterable[Rule]) -> list[str]:
    """The queries the rules need (``funding``, ``oi``, ``basis``, ``options``, ``liquidations``), in that order."""
    needed = {METRICS[r.metric].source for r in rules}
    return [s for s in ("funding", "oi", "basis", "options", "liquidations") if s in needed]
