"""Settings: settings.yaml + environment -> one frozen ``Settings``.

Where the file comes from: ``--config FILE``, else ``$DTRACK_CONFIG``, else
``$XDG_CONFIG_HOME/dtrack/settings.yaml`` (``~/.config/dtrack/settings.yaml``) if it exists.
Environment overrides: ``DTRACK_CACHE_DIR``, ``DTRACK_STATE_DIR``, ``DTRACK_TIMEOUT``, ``DTRACK_STORE``.

The schema is declared once, on the dataclasses below: each field's type and default, and for keys with
limits a ``setting(...)`` rule (bounds, choices, URL schemes, the keys a mapping may hold). One generic
loader (``parse_settings``) walks it: the YAML key is the field name, plus ``_pct`` for a value written
in percent (kept inside dtrack as a fraction); a missing or null key keeps the default. Any bad value,
unknown key or unreadable file raises ``ConfigError``: one line naming the key and what would be right.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dtrack.errors import ConfigError, clip

T = TypeVar("T")

HTTP = ("http", "https")
WS = ("ws", "wss")
MAX_FILE_BYTES = 1 << 20  # a settings file is a few hundred bytes; refuse to slurp /dev/zero


@dataclass(frozen=True, slots=True)
class Rule:
    """What one settings key accepts, in the units written in the file (percent for ``pct`` keys)."""

    pct: bool = False  # written in percent (the key ends in ``_pct``), kept as a fraction
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    below: float | None = None  # exclusive upper bound
    choices: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()  # a URL with one of these schemes and a host
    keys: Callable[[tuple[str, ...]], Collection[str]] | None = None  # the keys a mapping may hold (by path)
    keys_are: str = "known keys of {path}"  # names those keys in messages; ``{1}``: the path's second part


_DEFAULT_RULE = Rule()
_INTERNAL = {"internal": True}  # a field that is not a settings key


def setting(default: Any = MISSING, *, factory: Callable[[], Any] | None = None, **rule: Any) -> Any:
    """A settings field with a ``Rule`` (``setting(10.0, low=0.01)``; ``factory`` for mutable defaults)."""
    meta = {"rule": Rule(**rule)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _venue_names(_path: tuple[str, ...]) -> Collection[str]:
    from dtrack.venues import VENUES

    return VENUES


def _venue_hosts(path: tuple[str, ...]) -> Collection[str]:
    """Host keys of the venue at ``venues.<name>.rest_urls`` (from the registry: no adapter import)."""
    from dtrack.venues import VENUES

    info = VENUES.get(path[1])
    return info.hosts if info is not None else ()


def _venue_ws_hosts(path: tuple[str, ...]) -> Collection[str]:
    """WebSocket host keys of the venue at ``venues.<name>.ws_urls`` (from the registry)."""
    from dtrack.venues import VENUES

    info = VENUES.get(path[1])
    return tuple(info.ws_hosts) if info is not None else ()


# --- the schema ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """Per-venue overrides. ``rest_urls`` maps a venue host key (``usdm``, ``coinm`` ...) to a URL;
    ``rest_url`` overrides the venue's main host. ``ws_urls`` maps a venue's WebSocket host key (``fstream``,
    ``stream``, ``ws`` ...: the registry's ``ws_hosts``) to a ws(s) base URL; the channel path follows it."""

    enabled: bool = True
    rest_url: str | None = setting(None, schemes=HTTP)
    rest_urls: Mapping[str, str] = setting(factory=dict, schemes=HTTP, keys=_venue_hosts, keys_are="known {1} hosts")
    ws_urls: Mapping[str, str] = setting(factory=dict, schemes=WS, keys=_venue_ws_hosts,
                                         keys_are="known {1} WebSocket hosts")
    taker_fee: float | None = setting(None, pct=True, low=0, below=5)  # fraction; None: the registry's


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Network behaviour: seconds, attempts."""

    timeout: float = setting(10.0, low=0.01)
    retries: int = setting(2, low=0, high=10)
    backoff: float = setting(0.25, low=0)
    max_wait: float = setting(10.0, low=0)  # longest Retry-After / limiter wait dtrack will sit through
    #: overall deadline of one query (seconds): after it, what answered is shown and the rest is listed
    deadline: float = setting(20.0, low=0.01, high=3600)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """WebSocket streams (seconds): reconnects back off exponentially from ``backoff_base`` up to ``backoff_cap``
    with jitter; ``stall_seconds`` replaces every channel's own silence threshold (None: each venue protocol's,
    from its channel's normal cadence); ``connect_timeout`` bounds one connect + handshake."""

    backoff_base: float = setting(0.5, low=0.001, high=60)
    backoff_cap: float = setting(30.0, low=0.001, high=3600)
    stall_seconds: float | None = setting(None, low=0.01, high=3600)
    connect_timeout: float = setting(10.0, low=0.01, high=300)

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None."""
        if self.backoff_base <= self.backoff_cap:
            return None
        return f"expected backoff_base <= backoff_cap, got {self.backoff_base:g} / {self.backoff_cap:g}"


@dataclass(frozen=True, slots=True)
class SentimentSettings:
    """Funding sentiment bands, fractions per 8 h (absolute lower edges)."""

    extreme: float = setting(0.0008, pct=True, low=0)
    strong: float = setting(0.0003, pct=True, low=0)
    moderate: float = setting(0.00005, pct=True, low=0)

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None."""
        if self.extreme > self.strong > self.moderate:
            return None
        return (f"expected extreme_pct > strong_pct > moderate_pct, got {self.extreme * 100:g} / "
                f"{self.strong * 100:g} / {self.moderate * 100:g}")


@dataclass(frozen=True, slots=True)
class FundingSettings:
    """Funding-command defaults."""

    sentiment: SentimentSettings = field(default_factory=SentimentSettings)
    alert_threshold: float | None = setting(None, pct=True, low=0)  # fraction per 8 h
    arb_holding_days: float = setting(30.0, low=0.01)


@dataclass(frozen=True, slots=True)
class OISettings:
    """``oi`` command defaults: divergence thresholds (fractions of the window's change)."""

    divergence_oi: float = setting(0.02, pct=True, low=0)
    divergence_price: float = setting(0.01, pct=True, low=0)


@dataclass(frozen=True, slots=True)
class BasisSettings:
    """``basis`` command defaults: how long a perpetual funding carry is assumed held (for its fees) and the
    spot taker fee (fraction) of the spot leg of every carry."""

    perp_holding_days: float = setting(30.0, low=0.01)
    spot_taker_fee: float = setting(0.001, pct=True, low=0, below=5)


@dataclass(frozen=True, slots=True)
class OptionsSettings:
    """``options`` command defaults: IV-rank bands (fractions), the dealer positioning assumed for GEX, and
    ``fresh_seconds``: ``options`` (without ``--chain``, ``--gex`` or ``--flow``) answers from the store, without
    the network, when the collector's per-expiry metrics of every asked asset on every chosen venue are at most this
    old (default 1800: twice the collector's options interval; ``0``: never; ``--live`` asks the venues anyway)."""

    rank_high: float = setting(0.8, pct=True, low=0, high=100)
    rank_low: float = setting(0.2, pct=True, low=0, high=100)
    dealer_calls: str = setting("short", choices=("short", "long"))
    dealer_puts: str = setting("long", choices=("short", "long"))
    fresh_seconds: float = setting(1800.0, low=0, high=86400)

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None."""
        if self.rank_low < self.rank_high:
            return None
        return (f"expected rank_low_pct < rank_high_pct, got {self.rank_low * 100:g} / "
                f"{self.rank_high * 100:g}")


@dataclass(frozen=True, slots=True)
class LiquidationsSettings:
    """``liquidations`` command defaults: ``min_size_usd``, the smallest event ``--recent`` lists (USD; the seed's
    large-liquidation alert: $1M); ``recent_limit``, how many it lists; ``listen_seconds``, how long ``--sim``
    listens to the simulated venues when the store holds no liquidation in the window."""

    min_size_usd: float = setting(1_000_000.0, low=0)
    recent_limit: int = setting(20, low=1, high=100_000)
    listen_seconds: float = setting(20.0, low=1, high=3600)


#: the seed's leverage mix (seed 004): leverage -> share (``analytics.liquidation_map.DEFAULT_LEVERAGE``)
SEED_LEVERAGE = {"2": 0.05, "3": 0.13, "5": 0.25, "10": 0.25, "20": 0.15, "25": 0.10, "50": 0.05, "100": 0.02}


@dataclass(frozen=True, slots=True)
class LiquidationMapSettings:
    """The ESTIMATED liquidation map (``liquidations --map``) and its scoring (``--score``): the ``leverage`` mix
    (leverage -> share; normalized), flat maintenance-margin rates per venue (``maintenance_rate_pct``, over the
    built-in first-tier rates; ``default_maintenance_rate_pct`` for a venue named nowhere), the window of open
    interest and klines read (``window_days``), the bins (``range_pct`` either side of the price, ``bins`` in all,
    even), the density labels (multiples of the median non-empty bin), the cascade bands' reference open interest
    (USD: the seed's thresholds are for this much) and the scoring's ``score_horizon_hours`` and ``score_top_k``."""

    leverage: Mapping[str, float] = setting(factory=lambda: dict(SEED_LEVERAGE), low=0)
    maintenance_rate: Mapping[str, float] = setting(factory=dict, pct=True, low=0, below=50, keys=_venue_names,
                                                    keys_are="known venues")
    default_maintenance_rate: float = setting(0.005, pct=True, low=0, below=50)
    window_days: float = setting(30.0, low=1, high=365)
    range: float = setting(0.10, pct=True, low=0.5, high=90)
    bins: int = setting(50, low=2, high=1000)
    density_high: float = setting(2.0, low=1)
    density_critical: float = setting(4.0, low=1)
    cascade_reference_oi_usd: float = setting(18.5e9, low=1)
    score_horizon_hours: float = setting(24.0, low=1, high=720)
    score_top_k: int = setting(5, low=1, high=1000)

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None."""
        if self.bins % 2:
            return f"bins: expected an even number (half below the price, half above), got {self.bins}"
        for key in self.leverage:
            try:
                ok = float(key) > 1 and math.isfinite(float(key))
            except ValueError:
                ok = False
            if not ok:
                return f"leverage: expected leverages > 1 as keys (like 10: 0.25), got {clip(key)!r}"
        if not sum(self.leverage.values()) > 0:
            return "leverage: expected shares that sum to more than 0"
        if self.density_high > self.density_critical:
            return (f"expected density_high <= density_critical, got {self.density_high:g} / "
                    f"{self.density_critical:g}")
        return None


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Days each store table keeps (by its time axis: ``received_at`` for snapshots, ``time`` for history);
    ``0`` keeps a table forever (in the file; ``None`` inside dtrack). Snapshots of current state 90 days,
    settled / venue-kept history, events and bookkeeping forever. ``dtrack store prune`` applies them."""

    funding_rates: float | None = setting(90.0, low=0)
    open_interest: float | None = setting(90.0, low=0)
    long_short: float | None = setting(90.0, low=0)
    price_quotes: float | None = setting(90.0, low=0)
    spot_prices: float | None = setting(90.0, low=0)
    option_quotes: float | None = setting(90.0, low=0)
    option_expiries: float | None = setting(90.0, low=0)
    book_snapshots: float | None = setting(90.0, low=0)
    funding_points: float | None = setting(None, low=0)
    oi_points: float | None = setting(None, low=0)
    price_points: float | None = setting(None, low=0)
    option_trades: float | None = setting(None, low=0)
    vol_points: float | None = setting(None, low=0)
    liquidations: float | None = setting(None, low=0)
    gaps: float | None = setting(None, low=0)
    collector_runs: float | None = setting(None, low=0)
    instruments: float | None = setting(None, low=0)

    def days(self) -> dict[str, float | None]:
        """Table -> days kept (None: forever)."""
        return {f.name: (getattr(self, f.name) or None) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The history store: ``url`` (a SQLite file path, ``sqlite:///path`` or ``postgresql://…``; None: the
    SQLite file in the user's data dir; ``$DTRACK_STORE`` and ``--store`` override it), retention, and
    ``fresh_seconds``: ``funding``, ``oi`` and ``basis`` answer from the store, without the network, when it
    holds snapshots at most this old of everything they show (``--live`` asks the venues anyway)."""

    url: str | None = None
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    fresh_seconds: float = setting(60.0, low=0, high=86400)

    def invalid(self) -> str | None:
        """What is wrong with the URL, or None (checked at load time; nothing is opened)."""
        from dtrack.store import parse_store_url

        try:
            parse_store_url(self.url)
        except ConfigError as exc:
            return f"url: {exc}"
        return None


#: the snapshot kinds the collector polls, and the record kinds it keeps from the live streams
COLLECT_SNAPSHOTS = ("funding", "open_interest", "basis", "options")
COLLECT_STREAM_KINDS = ("funding", "open_interest", "quotes", "liquidations")


@dataclass(frozen=True, slots=True)
class CollectSnapshots:
    """Seconds between two snapshots of each kind (``0``: never): current funding, open interest, quotes and
    spot (basis), options (the per-expiry metrics; the whole chains too with ``collect.option_chains``), and
    ``book``: the order-book depth metrics of every perpetual (``book_snapshots``: mid, spread, depth within
    0.1 / 0.5 / 1 / 5 % of the mid, imbalance, truncation; not one of ``intervals()``: its own job)."""

    funding: float = setting(60.0, low=0, high=86400)
    open_interest: float = setting(300.0, low=0, high=86400)
    basis: float = setting(300.0, low=0, high=86400)
    options: float = setting(900.0, low=0, high=86400)
    book: float = setting(60.0, low=0, high=86400)

    def intervals(self) -> dict[str, float]:
        """Kind -> seconds, for the kinds that are polled."""
        return {k: getattr(self, k) for k in COLLECT_SNAPSHOTS if getattr(self, k) > 0}


@dataclass(frozen=True, slots=True)
class CollectStreams:
    """The collector's live streams: on/off, which record kinds it keeps (``liquidations``: every liquidation
    event, never conflated), and ``conflation``: seconds between two stored records of one (kind, venue, symbol)
    of the ticker kinds, the latest one winning (``0``: every frame)."""

    enabled: bool = True
    kinds: tuple[str, ...] = setting(COLLECT_STREAM_KINDS, choices=COLLECT_STREAM_KINDS)
    conflation: float = setting(1.0, low=0, high=3600)


@dataclass(frozen=True, slots=True)
class CollectSettings:
    """``dtrack collect``: what it collects (``assets``; ``venues``, empty: every active venue enabled here),
    how often (``snapshots``), the live ``streams``; writes every ``flush_interval`` s, keeps at most
    ``max_buffered_rows`` while the store is down (the oldest beyond it are dropped and recorded as a gap),
    refreshes its run's heartbeat at least every ``heartbeat`` s, and on start backfills ``backfill_days`` of
    history (``0``: none). An options snapshot stores the per-expiry metrics (``option_expiries``); the whole
    chains (``option_quotes``, thousands of rows a round) only with ``option_chains``. Every
    ``liquidation_map_interval`` s (``0``: never) it stores each asset's estimated liquidation map
    (``liquidation_levels``), to be scored later."""

    assets: tuple[str, ...] = ("BTC", "ETH", "SOL")
    venues: tuple[str, ...] = ()
    snapshots: CollectSnapshots = field(default_factory=CollectSnapshots)
    option_chains: bool = False
    streams: CollectStreams = field(default_factory=CollectStreams)
    flush_interval: float = setting(1.0, low=0.05, high=60)
    max_buffered_rows: int = setting(100_000, low=100, high=10_000_000)
    heartbeat: float = setting(5.0, low=0.1, high=3600)
    backfill_days: float = setting(7.0, low=0, high=3650)
    liquidation_map_interval: float = setting(3600.0, low=0, high=86400)

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None."""
        from dtrack.venues import VENUES

        unknown = [v for v in self.venues if v not in VENUES]
        if unknown:
            return f"venues: {unknown[0]!r} is not a venue dtrack knows; known: {', '.join(VENUES)}"
        if not self.assets:
            return "assets: name at least one asset, e.g. [BTC, ETH]"
        if self.heartbeat < self.flush_interval:
            return f"expected heartbeat >= flush_interval, got {self.heartbeat:g} / {self.flush_interval:g}"
        return None


#: the metrics an alert rule can watch -> the unit of its threshold (``pct``: ``threshold_pct``, a percent kept as a
#: fraction; ``usd``: ``threshold_usd``); what each one measures is in ``dtrack.alerts.metrics``
ALERT_METRICS = {
    "funding_8h": "pct", "funding_apr": "pct", "funding_spread": "pct", "oi_change_1h": "pct",
    "oi_change_24h": "pct", "liquidation_usd": "usd", "liquidations_1h_usd": "usd", "atm_iv": "pct",
    "iv_rank": "pct", "basis_apr": "pct",
}
ALERT_OPS = (">", ">=", "<", "<=")
ALERT_SINK_TYPES = ("console", "jsonl", "webhook", "discord", "slack", "telegram")
_ENV_REF = re.compile(r"\$\{([^}]*)\}")


def _secret_problem(value: str, what: str) -> str | None:
    """What is wrong with a secret-bearing value (a webhook URL, a bot token), without ever echoing it: each
    ``${NAME}`` must be an environment variable name; a URL without them must be http(s) with a host."""
    names = _ENV_REF.findall(value)
    if any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names):
        return f"{what}: ${{...}} must hold an environment variable name like ${{DTRACK_DISCORD_WEBHOOK}}"
    if names or what != "url":
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme.lower() in HTTP and bool(parts.hostname) and not any(c.isspace() for c in value)
    except ValueError:
        ok = False
    if not ok:
        return ("url: expected an http(s) URL with a host, or ${ENV_VAR} naming one (the value is not shown: "
                "it holds a secret)")
    return None


@dataclass(frozen=True, slots=True, repr=False)
class AlertSinkSettings:
    """Where alerts go: ``type`` console, jsonl (``path``; default ``<state_dir>/alerts.jsonl``), webhook (a JSON
    POST to ``url``), discord and slack (their incoming-webhook ``url``), telegram (``token``, ``chat_id``, and
    ``api_url``, the Bot API base). ``url`` and ``token`` are secrets: write them as ``${ENV_VAR}`` to keep them
    out of the file; dtrack never shows them (``repr`` masks them too)."""

    type: str = setting("", choices=ALERT_SINK_TYPES)
    url: str | None = None
    token: str | None = None
    chat_id: str | None = None
    api_url: str = setting("https://api.telegram.org", schemes=HTTP)
    path: Path | None = None

    def __repr__(self) -> str:
        return f"AlertSinkSettings(type={self.type!r}, url=<hidden>, token=<hidden>, chat_id={self.chat_id!r})"

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None (never showing a secret)."""
        if not self.type:
            return f"type: name one of {', '.join(ALERT_SINK_TYPES)}"
        need = {"webhook": ("url",), "discord": ("url",), "slack": ("url",), "telegram": ("token", "chat_id")}
        for key in need.get(self.type, ()):
            if not getattr(self, key):
                return f"a {self.type} sink needs {key}"
        for key in ("url", "token"):
            value = getattr(self, key)
            if value and (problem := _secret_problem(value, key)):
                return problem
        return None


@dataclass(frozen=True, slots=True)
class AlertRuleSettings:
    """One alert rule: it fires when ``metric`` (its absolute value with ``abs``) compares by ``op`` to the
    threshold (``threshold_pct`` for the percent metrics, ``threshold_usd`` for the USD ones), for the ``assets``
    and ``venues`` named (empty: every asset checked, every venue); then not again for the same asset, venue and
    contract before ``cooldown`` seconds (None: ``alerts.cooldown``); it goes to ``sinks`` (empty:
    ``alerts.default_sinks``)."""

    metric: str = setting("", choices=tuple(ALERT_METRICS))
    op: str = setting(">=", choices=ALERT_OPS)
    abs: bool = False
    threshold: float | None = setting(None, pct=True)
    threshold_usd: float | None = setting(None, low=0)
    assets: tuple[str, ...] = ()
    venues: tuple[str, ...] = ()
    cooldown: float | None = setting(None, low=0, high=30 * 86400)
    sinks: tuple[str, ...] = ()
    enabled: bool = True

    @property
    def value(self) -> float:
        """The threshold in the metric's unit (a fraction, or USD)."""
        value = self.threshold if ALERT_METRICS.get(self.metric) == "pct" else self.threshold_usd
        return float(value) if value is not None else math.nan

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None."""
        from dtrack.venues import VENUES

        if not self.metric:
            return f"metric: name one of {', '.join(ALERT_METRICS)}"
        unit = ALERT_METRICS[self.metric]
        want, other = ("threshold_pct", self.threshold_usd) if unit == "pct" else ("threshold_usd", self.threshold)
        if other is not None:
            wrong = "threshold_usd" if unit == "pct" else "threshold_pct"
            return f"metric {self.metric} takes {want}, not {wrong}"
        if (self.threshold if unit == "pct" else self.threshold_usd) is None:
            return f"metric {self.metric} needs {want}"
        unknown = [v for v in self.venues if v not in VENUES]
        if unknown:
            return f"venues: {unknown[0]!r} is not a venue dtrack knows; known: {', '.join(VENUES)}"
        return None


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """``dtrack alerts`` and the collector's alert job: the ``rules`` (with ``default_rules``, the seeds' rules
    too, a rule of the same name replacing one), the ``sinks``, what is checked (``assets``; empty:
    ``collect.assets``), how often the collector checks (``interval`` seconds; 0: never), the default
    ``cooldown`` (seconds) and ``default_sinks``, and delivery: ``timeout`` per request, ``retries`` after a
    failure (jittered exponential backoff from ``backoff`` s), ``max_wait`` the longest Retry-After sat out."""

    rules: Mapping[str, AlertRuleSettings] = setting(factory=dict)
    sinks: Mapping[str, AlertSinkSettings] = setting(factory=dict)
    default_rules: bool = True
    default_sinks: tuple[str, ...] = ("console",)
    assets: tuple[str, ...] = ()
    interval: float = setting(300.0, low=0, high=86400)
    cooldown: float = setting(3600.0, low=0, high=30 * 86400)
    timeout: float = setting(10.0, low=0.1, high=300)
    retries: int = setting(3, low=0, high=10)
    backoff: float = setting(1.0, low=0, high=60)
    max_wait: float = setting(60.0, low=0, high=3600)

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None: every sink a rule names must exist."""
        known = {"console", *self.sinks}
        for name in self.default_sinks:
            if name not in known:
                return f"default_sinks: {name!r} is not a sink; known: {', '.join(sorted(known))}"
        for rule, spec in self.rules.items():
            for name in spec.sinks:
                if name not in known:
                    return f"rules.{rule}.sinks: {name!r} is not a sink; known: {', '.join(sorted(known))}"
        return None


@dataclass(frozen=True, slots=True)
class VolSettings:
    """``vol`` command: the regime bands (annualized volatility, percent in the file; seed 004: low up to
    ``low_max_pct`` 40, medium up to ``medium_max_pct`` 80, high up to ``high_max_pct`` 150, extreme above), the
    adaptive leverage's ``target_pct`` volatility (40: leverage = 40 % / realized) and its maximum leverage per
    regime (seed 004: 10, 5, 2, 1), and the days of rolling series shown before the current window
    (``rolling_days``)."""

    low_max: float = setting(0.40, pct=True, low=1, high=1000)
    medium_max: float = setting(0.80, pct=True, low=1, high=1000)
    high_max: float = setting(1.50, pct=True, low=1, high=1000)
    target: float = setting(0.40, pct=True, low=1, high=1000)
    max_leverage_low: float = setting(10.0, low=0.1, high=200)
    max_leverage_medium: float = setting(5.0, low=0.1, high=200)
    max_leverage_high: float = setting(2.0, low=0.1, high=200)
    max_leverage_extreme: float = setting(1.0, low=0.1, high=200)
    rolling_days: float = setting(90.0, low=1, high=730)

    @property
    def caps(self) -> dict[str, float]:
        """Regime -> maximum leverage."""
        return {"low": self.max_leverage_low, "medium": self.max_leverage_medium, "high": self.max_leverage_high,
                "extreme": self.max_leverage_extreme}

    def invalid(self) -> str | None:
        """What is wrong across the keys, or None."""
        if self.low_max < self.medium_max < self.high_max:
            return None
        return (f"expected low_max_pct < medium_max_pct < high_max_pct, got {self.low_max * 100:g} / "
                f"{self.medium_max * 100:g} / {self.high_max * 100:g}")


@dataclass(frozen=True, slots=True)
class CarrySettings:
    """``carry`` command defaults: the taker ``fee_pct`` per leg per trade of a new position, the backtest and the
    simulation; ``perp_leverage``, the perpetual's leverage in the capital definition (capital = spot notional +
    perp notional / leverage; 1: the short fully collateralized); ``notional_usd`` of ``simulate`` and ``backtest``;
    the Monte Carlo's funding standard deviation per 8 h (``funding_vol_pct``, seed 004: 0.01), its mean-reversion
    ``half_life_hours`` (0: independent draws, the seed's model), the price's daily volatility (``price_vol_pct``,
    seed 004: 2), ``paths`` and ``seed``."""

    fee: float = setting(0.0005, pct=True, low=0, below=5)
    perp_leverage: float = setting(1.0, low=0.01, high=200)
    notional_usd: float = setting(100_000.0, low=1)
    funding_vol: float = setting(0.0001, pct=True, low=0, below=1)
    half_life_hours: float = setting(24.0, low=0, high=100_000)
    price_vol: float = setting(0.02, pct=True, low=0, below=100)
    paths: int = setting(1000, low=2, high=100_000)
    seed: int = setting(7, low=0)


@dataclass(frozen=True, slots=True)
class ExecSimSettings:
    """The execution simulator (``dtrack execsim``): the book depth asked of the venue (levels a side; the venue
    caps it), the days of hourly candles read for the volatility and the VWAP volume profile, the defaults of
    ``--over`` (hours), ``--slices`` and ``--paths``, and the model's fixed parameters: ``permanent_share`` (φ, the
    share of the square-root impact that stays in the mid; seed 004's 0.1), ``resilience`` (consumed depth refilled
    per hour, as a multiple of an hour's average volume) and ``passive_share`` (the share of the volume that trades
    against a resting iceberg's side)."""

    book_depth: int = setting(1000, low=1, high=10000)
    profile_days: float = setting(14.0, low=1, high=90)
    over_hours: float = setting(6.0, low=0.01, high=168)
    slices: int = setting(24, low=1, high=10000)
    paths: int = setting(1000, low=1, high=100000)
    permanent_share: float = setting(0.1, low=0, high=1)
    resilience: float = setting(1.0, low=0)
    passive_share: float = setting(0.5, low=0, high=1)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything dtrack reads from settings.yaml and the environment."""

    venues: Mapping[str, VenueSettings] = setting(factory=dict, keys=_venue_names, keys_are="known venues")
    http: HttpSettings = field(default_factory=HttpSettings)
    streams: StreamSettings = field(default_factory=StreamSettings)
    funding: FundingSettings = field(default_factory=FundingSettings)
    oi: OISettings = field(default_factory=OISettings)
    basis: BasisSettings = field(default_factory=BasisSettings)
    options: OptionsSettings = field(default_factory=OptionsSettings)
    liquidations: LiquidationsSettings = field(default_factory=LiquidationsSettings)
    liquidation_map: LiquidationMapSettings = field(default_factory=LiquidationMapSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    collect: CollectSettings = field(default_factory=CollectSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    execsim: ExecSimSettings = field(default_factory=ExecSimSettings)
    carry: CarrySettings = field(default_factory=CarrySettings)
    vol: VolSettings = field(default_factory=VolSettings)
    cache_dir: Path = field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache") / "dtrack")
    state_dir: Path = field(default_factory=lambda: _xdg("XDG_STATE_HOME", ".local/state") / "dtrack")
    instruments_ttl: float = setting(3600.0, low=0)
    funding_interval_ttl: float = setting(900.0, low=0)
    source: str = field(default="defaults", metadata=_INTERNAL)

    def venue(self, name: str) -> VenueSettings:
        """The settings of one venue (defaults when the file says nothing)."""
        return self.venues.get(name, VenueSettings())

    def taker_fee(self, venue: str, default: float) -> float:
        """Taker fee of a venue as a fraction: the settings' ``taker_fee_pct``, else ``default``
        (the registry's public base-tier fee)."""
        fee = self.venue(venue).taker_fee
        return fee if fee is not None else default

    def with_venue_urls(self, rest: Mapping[str, Mapping[str, str]],
                        ws: Mapping[str, Mapping[str, str]] | None = None) -> Settings:
        """A copy whose venues point at other hosts: ``rest`` and ``ws`` are ``{venue: {host_key: base URL}}``
        (REST hosts, WebSocket hosts; e.g. the simulated venues' ``venue_urls()`` and ``venue_ws_urls()``)."""
        venues = dict(self.venues)
        for name, hosts in rest.items():
            old = venues.get(name, VenueSettings())
            venues[name] = replace(old, rest_urls={**old.rest_urls, **hosts})
        for name, hosts in (ws or {}).items():
            old = venues.get(name, VenueSettings())
            venues[name] = replace(old, ws_urls={**old.ws_urls, **hosts})
        return replace(self, venues=venues)


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


# --- the generic loader ---------------------------------------------------------------------------------------


def _show(path: tuple[str, ...]) -> str:
    """``funding.alert_threshold_pct``; a part that is not a plain word is quoted, a long one clipped."""
    return ".".join(p if re.fullmatch(r"[\w-]{1,40}", p) else repr(clip(p)) for p in path) or "<top level>"


def _echo(value: Any) -> str:
    """A value from the file as a message shows it: quoted, one line, at most about 40 characters."""
    return repr(clip(value)) if isinstance(value, str) else clip(repr(value))


def _fail(path: tuple[str, ...], what: str, value: Any) -> ConfigError:
    return ConfigError(f"settings key {_show(path)}: expected {what}, got {_echo(value)}")


def _key(f: Field[Any]) -> str:
    """The YAML key of a field: its name, plus ``_pct`` for a value written in percent."""
    return f.name + "_pct" if _rule(f).pct else f.name


def _rule(f: Field[Any]) -> Rule:
    rule: Rule = f.metadata.get("rule", _DEFAULT_RULE)
    return rule


def _mapping(raw: Any, path: tuple[str, ...]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(path, "a mapping of settings keys", raw)
    return {str(k): v for k, v in raw.items()}


def _check_keys(data: Mapping[str, Any], allowed: Collection[str], path: tuple[str, ...], keys_are: str) -> None:
    """An unknown key is an error naming it and the closest known key (or all of them)."""
    for key in data:
        if key in allowed:
            continue
        near = difflib.get_close_matches(key.lower(), list(allowed), n=1, cutoff=0.6)
        if near:
            hint = f"did you mean {_show((*path, near[0]))}?"
        else:
            known = keys_are.format(*path, path=_show(path)) if path else "known top-level keys"
            hint = f"{known}: {', '.join(allowed) or '(none)'}"
        raise ConfigError(f"unknown settings key {_show((*path, key))}; {hint}")


def _section(cls: type[T], raw: Any, path: tuple[str, ...]) -> T:
    """One settings dataclass from its mapping: unknown keys refused, each value checked by its type and rule."""
    data = _mapping(raw, path)
    keyed = {_key(f): f for f in fields(cls) if not f.metadata.get("internal")}  # type: ignore[arg-type]
    _check_keys(data, keyed, path, _DEFAULT_RULE.keys_are)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, f in keyed.items():
        value = data.get(key)
        hint = hints[f.name]
        if value is None or (value == "" and _optional(hint) and _rule(f).schemes):
            continue  # absent or null (or an empty optional URL): the default
        values[f.name] = _value(hint, value, (*path, key), _rule(f))
    made = cls(**values)
    check: Callable[[], str | None] | None = getattr(made, "invalid", None)
    if check is not None and (problem := check()):
        raise ConfigError(f"settings key {_show(path)}: {problem}")
    return made


def _optional(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def _value(hint: Any, value: Any, path: tuple[str, ...], rule: Rule) -> Any:
    """``value`` checked and converted to ``hint`` (``X | None``, a section, ``Mapping[str, X]``, a scalar)."""
    if _optional(hint):
        (hint,) = (a for a in typing.get_args(hint) if a is not type(None))
    if is_dataclass(hint):
        return _section(hint, value, path)  # type: ignore[arg-type]
    if typing.get_origin(hint) is Mapping:
        data = _mapping(value, path)
        if rule.keys is not None:
            _check_keys(data, rule.keys(path), path, rule.keys_are)
        item = typing.get_args(hint)[1]
        return {k: _value(item, v, (*path, k), rule) for k, v in data.items() if v is not None or is_dataclass(item)}
    if typing.get_origin(hint) is tuple:
        return _names(value, path, rule)
    if hint is bool:
        if not isinstance(value, bool):
            raise _fail(path, "true or false", value)
        return value
    if hint is int:
        return _whole(value, path, rule)
    if hint is float:
        return _number(value, path, rule)
    if hint is Path:
        if not isinstance(value, str) or not value.strip():
            raise _fail(path, "a directory path", value)
        return Path(os.path.expanduser(value))
    if hint is str:
        if rule.schemes:
            return _url(value, path, rule.schemes)
        if rule.choices and value not in rule.choices:
            raise _fail(path, " or ".join(repr(c) for c in rule.choices), value)
        if not isinstance(value, str):
            raise _fail(path, "text", value)
        return value
    raise TypeError(f"settings field {_show(path)}: no loader for {hint!r}")  # a schema bug, not a user error


def _names(value: Any, path: tuple[str, ...], rule: Rule) -> tuple[str, ...]:
    """A list of names (a YAML list, or one comma-separated string), each one of ``rule.choices`` if given;
    repeats dropped, order kept."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise _fail(path, "a list of names like [BTC, ETH] (or 'BTC, ETH')", value)
    names = tuple(dict.fromkeys(i.strip() for i in items))
    for name in names:
        if rule.choices and name not in rule.choices:
            raise _fail(path, f"names among {', '.join(rule.choices)}", name)
    return names


def _bounds(rule: Rule) -> str:
    parts = [f">= {rule.low:g}" if rule.low is not None else "",
             f"<= {rule.high:g}" if rule.high is not None else "",
             f"< {rule.below:g}" if rule.below is not None else ""]
    return " and ".join(p for p in parts if p)


def _number(value: Any, path: tuple[str, ...], rule: Rule) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (rule.low is None or value >= rule.low) and (rule.high is None or value <= rule.high)
    ok = ok and (rule.below is None or value < rule.below)
    if not ok:
        noun = "a percent" if rule.pct else "a number"
        bounds = _bounds(rule)
        raise _fail(path, f"{noun} {bounds}" if bounds else noun, value)
    return float(value) / 100 if rule.pct else float(value)


def _whole(value: Any, path: tuple[str, ...], rule: Rule) -> int:
    low, high = int(rule.low or 0), int(rule.high if rule.high is not None else 2**31)
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise _fail(path, f"a whole number from {low} to {high}", value)
    return value


_LABEL = r"(?!-)[\w-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")


def _url(value: Any, path: tuple[str, ...], schemes: tuple[str, ...]) -> str:
    """A base URL with one of ``schemes`` and a real host (checked here, so that a typo is a config error
    at load time rather than a venue failure later); the trailing ``/`` is dropped."""
    want = f"a URL with {' or '.join(s + '://' for s in schemes)} and a host, like {schemes[-1]}://host[:port][/path]"
    if not isinstance(value, str):
        raise _fail(path, want, value)
    try:
        parts = urlsplit(value)
        port = parts.port
        problem = ""
    except ValueError as exc:  # a port that is not a number from 0 to 65535, an unclosed [IPv6]
        port, problem = None, str(exc)[:1].lower() + str(exc)[1:]
    if not problem:
        host = parts.hostname or ""
        if parts.scheme.lower() not in schemes:
            problem = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        elif not host:
            problem = "no host"
        elif not _valid_host(host):
            problem = f"{_echo(host)} is not a host name"
        elif any(c.isspace() or not c.isprintable() for c in value):
            problem = "whitespace or a control character"
        elif port == 0:
            problem = "port 0"
        elif parts.query or parts.fragment:
            problem = "a base URL takes no ?query or #fragment"
    if problem:
        raise ConfigError(f"settings key {_show(path)}: expected {want}; got {_echo(value)} ({problem})")
    return value.rstrip("/")


def _valid_host(host: str) -> bool:
    import ipaddress

    if ":" in host:  # urlsplit unwraps [IPv6]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    if re.fullmatch(r"[\d.]+", host):  # all digits: must be an IPv4 address (not 256.1.1.1)
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return bool(_HOSTNAME.match(host))


def parse_settings(raw: Any, source: str = "settings") -> Settings:
    """Validate a parsed settings document into ``Settings`` (pure)."""
    return replace(_section(Settings, raw, ()), source=source)


# --- the environment and the file -------------------------------------------------------------------------------


def _env_overrides(settings: Settings, env: Mapping[str, str]) -> Settings:
    if env.get("DTRACK_STORE"):
        from dtrack.store import parse_store_url

        try:
            parse_store_url(env["DTRACK_STORE"])
        except ConfigError as exc:
            raise ConfigError(f"environment DTRACK_STORE: {exc}") from None
        settings = replace(settings, store=replace(settings.store, url=env["DTRACK_STORE"]))
    if env.get("DTRACK_CACHE_DIR"):
        settings = replace(settings, cache_dir=Path(env["DTRACK_CACHE_DIR"]))
    if env.get("DTRACK_STATE_DIR"):
        settings = replace(settings, state_dir=Path(env["DTRACK_STATE_DIR"]))
    if env.get("DTRACK_TIMEOUT"):
        try:
            timeout = float(env["DTRACK_TIMEOUT"])
        except ValueError:
            timeout = math.nan
        if not (math.isfinite(timeout) and timeout > 0):
            raise ConfigError(f"environment DTRACK_TIMEOUT: expected seconds > 0, "
                              f"got {_echo(env['DTRACK_TIMEOUT'])}")
        settings = replace(settings, http=replace(settings.http, timeout=timeout))
    return settings


def default_config_path(env: Mapping[str, str]) -> Path:
    """Where dtrack looks for settings.yaml when neither --config nor DTRACK_CONFIG is given."""
    base = env.get("XDG_CONFIG_HOME")
    root = Path(base) if base else Path.home() / ".config"
    return root / "dtrack" / "settings.yaml"


def _read(file: Path, explicit: bool) -> str | None:
    """The text of the settings file; None when the default file is absent. Every OS error is a ConfigError."""
    name = repr(clip(str(file), 80))
    try:
        with open(file, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        if not explicit:
            return None
        raise ConfigError(f"settings file {name} does not exist (given by --config or DTRACK_CONFIG)") from None
    except IsADirectoryError:
        raise ConfigError(f"settings file {name} is a directory; give a settings.yaml file") from None
    except PermissionError:
        raise ConfigError(f"settings file {name} cannot be read (permission denied); let this user read it "
                          f"or give another --config") from None
    except OSError as exc:  # a name too long, an I/O error ...
        raise ConfigError(f"settings file {name} cannot be read ({exc.strerror or exc})") from None
    except ValueError:  # an embedded NUL
        raise ConfigError(f"settings file {name} is not a valid path") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"settings file {name} is larger than {MAX_FILE_BYTES // 1024} KiB; "
                          f"give a settings.yaml file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"settings file {name} is not UTF-8 text") from None


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``path`` / ``$DTRACK_CONFIG`` / the user config dir, then the environment."""
    env = os.environ if env is None else env
    explicit = path or env.get("DTRACK_CONFIG")
    file = Path(explicit) if explicit else default_config_path(env)
    text = _read(file, explicit=bool(explicit))
    if text is None:
        return _env_overrides(Settings(), env)
    import yaml  # lazy: keeps `dtrack --help` fast

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"settings file {clip(str(file), 80)!r} is not valid YAML{where}") from None
    except RecursionError:
        raise ConfigError(f"settings file {clip(str(file), 80)!r} nests too deeply") from None
    return _env_overrides(parse_settings(raw or {}, source=str(file)), env)
