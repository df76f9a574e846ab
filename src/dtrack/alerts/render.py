"""The ``dtrack alerts`` views: the check's JSON document and tables, and the listing of rules and sinks.

Nothing here shows a secret: sinks appear by name, type and masked target (a ``${VAR}`` as the variable's name).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dtrack.report.format import iso
from dtrack.report.table import Column, Table, Text, View

if TYPE_CHECKING:
    from dtrack.alerts.check import Held
    from dtrack.alerts.rules import Alert
    from dtrack.config import AlertSettings, AlertSinkSettings
    from dtrack.results import AlertsResult

_ENV = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def _sent_to(result: AlertsResult, alert: Alert) -> list[str]:
    took = {d.sink for d in result.deliveries if d.ok}
    return [s for s in alert.sinks if s in took]


def to_json(result: AlertsResult) -> dict[str, Any]:
    """The ``dtrack alerts check`` (or ``test``) document."""
    return {
        "as_of": iso(result.as_of),
        "kind": "test" if result.test else "check",
        "dry_run": not result.sent,
        "assets": list(result.assets),
        "fired": len(result.alerts),
        "alerts": [{**a.to_row(), "sinks": list(a.sinks), "sent_to": _sent_to(result, a)} for a in result.alerts],
        "held": [{**h.alert.to_row(), "until": iso(h.until)} for h in result.held],
        "deliveries": [d.to_row() for d in result.deliveries],
        "rules": [s.to_row() for s in result.rules],
        "notes": list(result.notes),
        "errors": [f.to_row() for f in result.failures],
    }


ALERT_COLUMNS = ("rule", "asset", "venue", "symbol", "value", "threshold", "op", "abs", "time", "fired_at", "message")


def to_csv(result: AlertsResult) -> str:
    """The fired alerts as CSV (one row each)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ALERT_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for a in result.alerts:
        writer.writerow({k: ("" if v is None else v) for k, v in a.to_row().items()})
    return buf.getvalue()


def _alerts_table(title: str, alerts: Sequence[Alert], last: str, last_cells: Sequence[str], mark: str) -> Table:
    table = Table(title, [Column("Rule"), Column("Asset"), Column("Where", priority=1),
                          Column("Value", align="right"), Column("Condition", priority=3), Column(last, priority=4),
                          Column("Detail", priority=6, wrap=True, min_width=24)])
    for a, cell in zip(alerts, last_cells, strict=True):
        table.add_row(a.rule, a.asset, a.where, a.shown_value, a.condition, cell, a.detail, mark=mark,
                      style="red" if mark else "")
    return table


def render_table(result: AlertsResult) -> View:
    """What fired (marked ``!``), what its cooldown held, what each sink did, and the rules whose data was
    missing."""
    view = View()
    if result.test:
        for d in result.deliveries:
            view.add(Text(f"test message to {d.sink} ({d.type}, {d.target}): "
                          + ("sent" if d.ok else f"FAILED: {d.error}")))
        return view
    checked = len(result.rules)
    head = (f"{checked} rule{'s' if checked != 1 else ''} checked on {', '.join(result.assets)}: "
            f"{len(result.alerts)} fired, {len(result.held)} held by cooldown"
            + ("" if result.sent else " (dry run: nothing sent)"))
    view.add(Text(head))
    if result.alerts:
        view.add(_alerts_table("ALERTS FIRED", result.alerts, "Sent to",
                               [", ".join(_sent_to(result, a)) or ("-" if result.sent else "(dry run)")
                                for a in result.alerts], "!"))
    if result.held:
        view.add(_alerts_table("HELD BY COOLDOWN", [h.alert for h in result.held], "Until",
                               [_until(h) for h in result.held], ""))
    if result.deliveries:
        table = Table("DELIVERIES", [Column("Sink"), Column("Type"), Column("Alerts", align="right"),
                                     Column("Result"), Column("Target", priority=5)])
        for d in result.deliveries:
            table.add_row(d.sink, d.type, str(d.alerts), "sent" if d.ok else f"FAILED: {d.error}", d.target,
                          mark="" if d.ok else "x")
        view.add(table)
    for note in result.notes:
        view.add(Text(f"note: {note}", style="dim"))
    return view


def _until(held: Held) -> str:
    return (iso(held.until) or "-").replace("T", " ").replace("Z", " UTC")


# --- dtrack alerts list ---------------------------------------------------------------------------------------


def sink_target(spec: AlertSinkSettings, state_dir: Any) -> str:
    """What a configured sink sends to, as shown: ``$VAR`` for a secret from the environment, else the URL's scheme
    and host only."""
    from dtrack.alerts.sinks import shown_url

    if spec.type == "console":
        return "stderr"
    if spec.type == "jsonl":
        return str(spec.path if spec.path is not None else state_dir / "alerts.jsonl")
    if spec.type == "telegram":
        env = _ENV.match(spec.token or "")
        shown = f"${env.group(1)}" if env is not None else "***"
        return f"{spec.api_url}/bot<{shown}>/sendMessage chat {spec.chat_id}"
    url = spec.url or ""
    if (m := _ENV.match(url)) is not None:
        return f"${m.group(1)}"
    if "${" in url:
        return "(a URL built from the environment)"
    return shown_url(url)


def listing(alerts: AlertSettings, state_dir: Any) -> dict[str, Any]:
    """``dtrack alerts list`` as a document: every rule in force (enabled or not) and every sink."""
    from dtrack.alerts.rules import rules_in_force

    sinks = [{"name": "console", "type": "console", "target": "stderr"}] if "console" not in alerts.sinks else []
    sinks += [{"name": name, "type": spec.type, "target": sink_target(spec, state_dir)}
              for name, spec in alerts.sinks.items()]
    return {"rules": [r.to_row() for r in rules_in_force(alerts)], "sinks": sinks,
            "defaults": {"assets": list(alerts.assets), "cooldown": alerts.cooldown,
                         "default_sinks": list(alerts.default_sinks), "interval": alerts.interval,
                         "default_rules": alerts.default_rules}}


def listing_view(doc: dict[str, Any]) -> View:
    """The listing as tables."""
    rules = Table("ALERT RULES", [Column("Name"), Column("Condition"), Column("Assets", priority=3),
                                  Column("Venues", priority=4), Column("Cooldown", align="right", priority=5),
                                  Column("Sinks", priority=2), Column("On", priority=1)])
    for r in doc["rules"]:
        rules.add_row(r["name"], r["condition"], ", ".join(r["assets"]) or "all", ", ".join(r["venues"]) or "all",
                      f"{r['cooldown']:g} s", ", ".join(r["sinks"]), "yes" if r["enabled"] else "no",
                      style="" if r["enabled"] else "dim")
    sinks = Table("SINKS", [Column("Name"), Column("Type"), Column("Target")])
    for s in doc["sinks"]:
        sinks.add_row(s["name"], s["type"], s["target"])
    return View(rules, sinks)
