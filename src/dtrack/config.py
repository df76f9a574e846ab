"""Settings: settings.yaml + environment -> one frozen ``Settings``.

Where the file comes from: ``--config FILE``, else ``$DTRACK_CONFIG``, else
``$XDG_CONFIG_HOME/dtrack/settings.yaml`` (``~/.config/dtrack/settings.yaml``) if it exists.
Environment overrides: ``DTRACK_CACHE_DIR``, ``DTRACK_STATE_DIR``, ``DTRACK_TIMEOUT``.
Thresholds and fees are written in percent (the key says ``_pct``); inside dtrack they are fractions.
Any bad value raises ``ConfigError`` naming the key and what would be right.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dtrack.errors import ConfigError


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """Per-venue overrides. ``rest_urls`` maps a venue host key (``usdm``, ``coinm`` ...) to a URL;
    ``rest_url`` overrides the venue's main host."""

    enabled: bool = True
    rest_url: str | None = None
    rest_urls: Mapping[str, str] = field(default_factory=dict)
    ws_url: str | None = None
    taker_fee: float | None = None  # fraction


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Network behaviour: seconds, attempts."""

    timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.25
    max_wait: float = 10.0  # longest Retry-After / limiter wait dtrack will sit through


@dataclass(frozen=True, slots=True)
class SentimentSettings:
    """Funding sentiment bands, fractions per 8 h (absolute lower edges)."""

    extreme: float = 0.0008
    strong: float = 0.0003
    moderate: float = 0.00005


@dataclass(frozen=True, slots=True)
class FundingSettings:
    """Funding-command defaults."""

    sentiment: SentimentSettings = field(default_factory=SentimentSettings)
    alert_threshold: float | None = None  # fraction per 8 h
    arb_holding_days: float = 30.0


@dataclass(frozen=True, slots=True)
class OISettings:
    """``oi`` command defaults: divergence thresholds (fractions of the window's change)."""

    divergence_oi: float = 0.02
    divergence_price: float = 0.01


@dataclass(frozen=True, slots=True)
class BasisSettings:
    """``basis`` command defaults: how long a perpetual funding carry is assumed held (for its fees) and the
    spot taker fee (fraction) of the spot leg of every carry."""

    perp_holding_days: float = 30.0
    spot_taker_fee: float = 0.001


@dataclass(frozen=True, slots=True)
class OptionsSettings:
    """``options`` command defaults: IV-rank bands (fractions) and the dealer positioning assumed for GEX."""

    rank_high: float = 0.8
    rank_low: float = 0.2
    dealer_calls: str = "short"
    dealer_puts: str = "long"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything dtrack reads from settings.yaml and the environment."""

    venues: Mapping[str, VenueSettings] = field(default_factory=dict)
    http: HttpSettings = field(default_factory=HttpSettings)
    funding: FundingSettings = field(default_factory=FundingSettings)
    oi: OISettings = field(default_factory=OISettings)
    basis: BasisSettings = field(default_factory=BasisSettings)
    options: OptionsSettings = field(default_factory=OptionsSettings)
    cache_dir: Path = field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache") / "dtrack")
    state_dir: Path = field(default_factory=lambda: _xdg("XDG_STATE_HOME", ".local/state") / "dtrack")
    instruments_ttl: float = 3600.0
    funding_interval_ttl: float = 900.0
    source: str = "defaults"

    def venue(self, name: str) -> VenueSettings:
        """The settings of one venue (defaults when the file says nothing)."""
        return self.venues.get(name, VenueSettings())

    def taker_fee(self, venue: str, default: float) -> float:
        """Taker fee of a venue as a fraction: the settings' ``taker_fee_pct``, else ``default``
        (the registry's public base-tier fee)."""
        fee = self.venue(venue).taker_fee
        return fee if fee is not None else default

    def with_venue_urls(self, urls: Mapping[str, Mapping[str, str]]) -> Settings:
        """A copy whose venues point at other hosts (``{venue: {host_key: url}}``)."""
        venues = dict(self.venues)
        for name, hosts in urls.items():
            old = venues.get(name, VenueSettings())
            venues[name] = replace(old, rest_urls={**old.rest_urls, **hosts})
        return replace(self, venues=venues)


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def _expect(cond: bool, key: str, what: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"settings key {key!r}: expected {what}, got {value!r}")


def _number(raw: Mapping[str, Any], key: str, path: str, default: float, *, minimum: float = 0.0) -> float:
    if key not in raw or raw[key] is None:
        return default
    value = raw[key]
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= minimum
    _expect(ok, f"{path}{key}", f"a finite number >= {minimum:g}", value)
    return float(value)


def _count(raw: Mapping[str, Any], key: str, path: str, default: int, maximum: int) -> int:
    if key not in raw or raw[key] is None:
        return default
    value = raw[key]
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum
    _expect(ok, f"{path}{key}", f"a whole number from 0 to {maximum}", value)
    return int(value)


def _mapping(raw: Any, key: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    _expect(isinstance(raw, Mapping), key, "a mapping", raw)
    return dict(raw)


def _check_keys(raw: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"settings key {path}{key!r} is not known; known keys here: {', '.join(sorted(allowed))}"
            )


def _url(value: Any, key: str) -> str:
    _expect(isinstance(value, str) and value.startswith(("http://", "https://", "ws://", "wss://")),
            key, "an http(s):// or ws(s):// URL", value)
    return str(value).rstrip("/")


def _venue_settings(name: str, raw: Any) -> VenueSettings:
    path = f"venues.{name}."
    data = _mapping(raw, f"venues.{name}")
    _check_keys(data, {"enabled", "rest_url", "rest_urls", "ws_url", "taker_fee_pct"}, path)
    enabled = data.get("enabled", True)
    _expect(isinstance(enabled, bool), path + "enabled", "true or false", enabled)
    rest_url = _url(data["rest_url"], path + "rest_url") if data.get("rest_url") else None
    ws_url = _url(data["ws_url"], path + "ws_url") if data.get("ws_url") else None
    hosts = _mapping(data.get("rest_urls"), path + "rest_urls")
    rest_urls = {str(k): _url(v, f"{path}rest_urls.{k}") for k, v in hosts.items()}
    fee_pct = _number(data, "taker_fee_pct", path, -1.0, minimum=-1.0)
    if fee_pct != -1.0:
        _expect(0 <= fee_pct < 5, path + "taker_fee_pct", "a percent between 0 and 5", fee_pct)
    fee = fee_pct / 100.0 if fee_pct >= 0 else None
    return VenueSettings(enabled=enabled, rest_url=rest_url, rest_urls=rest_urls, ws_url=ws_url, taker_fee=fee)


def _oi_settings(raw: Mapping[str, Any], base: OISettings) -> OISettings:
    _check_keys(raw, {"divergence_oi_pct", "divergence_price_pct"}, "oi.")
    return OISettings(
        divergence_oi=_number(raw, "divergence_oi_pct", "oi.", base.divergence_oi * 100) / 100,
        divergence_price=_number(raw, "divergence_price_pct", "oi.", base.divergence_price * 100) / 100,
    )


def _basis_settings(raw: Mapping[str, Any], base: BasisSettings) -> BasisSettings:
    _check_keys(raw, {"perp_holding_days", "spot_taker_fee_pct"}, "basis.")
    fee_pct = _number(raw, "spot_taker_fee_pct", "basis.", base.spot_taker_fee * 100)
    _expect(fee_pct < 5, "basis.spot_taker_fee_pct", "a percent between 0 and 5", fee_pct)
    return BasisSettings(perp_holding_days=_number(raw, "perp_holding_days", "basis.", base.perp_holding_days,
                                                   minimum=0.01), spot_taker_fee=fee_pct / 100)


def _options_settings(raw: Mapping[str, Any], base: OptionsSettings) -> OptionsSettings:
    _check_keys(raw, {"rank_high_pct", "rank_low_pct", "dealer_calls", "dealer_puts"}, "options.")
    high = _number(raw, "rank_high_pct", "options.", base.rank_high * 100) / 100
    low = _number(raw, "rank_low_pct", "options.", base.rank_low * 100) / 100
    if not 0 <= low < high <= 1:
        raise ConfigError("settings keys 'options.rank_low_pct' / 'rank_high_pct': expected 0 <= low < high <= 100")
    sides = {}
    for key in ("dealer_calls", "dealer_puts"):
        value = raw.get(key, getattr(base, key))
        _expect(value in ("short", "long"), "options." + key, "'short' or 'long'", value)
        sides[key] = str(value)
    return OptionsSettings(rank_high=high, rank_low=low, **sides)


def parse_settings(raw: Any, source: str = "settings") -> Settings:
    """Validate a parsed settings document into ``Settings`` (pure)."""
    data = _mapping(raw, "<top level>")
    _check_keys(data, {"venues", "http", "funding", "oi", "basis", "options", "cache_dir", "state_dir",
                       "instruments_ttl", "funding_interval_ttl"}, "")
    base = Settings()
    venues = {str(k): _venue_settings(str(k), v) for k, v in _mapping(data.get("venues"), "venues").items()}
    http_raw = _mapping(data.get("http"), "http")
    _check_keys(http_raw, {"timeout", "retries", "backoff", "max_wait"}, "http.")
    http = HttpSettings(
        timeout=_number(http_raw, "timeout", "http.", base.http.timeout, minimum=0.01),
        retries=_count(http_raw, "retries", "http.", base.http.retries, 10),
        backoff=_number(http_raw, "backoff", "http.", base.http.backoff),
        max_wait=_number(http_raw, "max_wait", "http.", base.http.max_wait),
    )
    fund_raw = _mapping(data.get("funding"), "funding")
    _check_keys(fund_raw, {"sentiment", "alert_threshold_pct", "arb_holding_days"}, "funding.")
    sent_raw = _mapping(fund_raw.get("sentiment"), "funding.sentiment")
    _check_keys(sent_raw, {"extreme_pct", "strong_pct", "moderate_pct"}, "funding.sentiment.")
    dflt = base.funding.sentiment
    sentiment = SentimentSettings(
        extreme=_number(sent_raw, "extreme_pct", "funding.sentiment.", dflt.extreme * 100) / 100,
        strong=_number(sent_raw, "strong_pct", "funding.sentiment.", dflt.strong * 100) / 100,
        moderate=_number(sent_raw, "moderate_pct", "funding.sentiment.", dflt.moderate * 100) / 100,
    )
    if not sentiment.extreme > sentiment.strong > sentiment.moderate:
        raise ConfigError("settings key 'funding.sentiment': expected extreme_pct > strong_pct > moderate_pct")
    alert = fund_raw.get("alert_threshold_pct")
    if alert is not None:
        alert = _number(fund_raw, "alert_threshold_pct", "funding.", 0.0) / 100
    funding = FundingSettings(
        sentiment=sentiment,
        alert_threshold=alert,
        arb_holding_days=_number(fund_raw, "arb_holding_days", "funding.", base.funding.arb_holding_days,
                                 minimum=0.01),
    )
    settings = Settings(
        venues=venues,
        http=http,
        funding=funding,
        oi=_oi_settings(_mapping(data.get("oi"), "oi"), base.oi),
        basis=_basis_settings(_mapping(data.get("basis"), "basis"), base.basis),
        options=_options_settings(_mapping(data.get("options"), "options"), base.options),
        instruments_ttl=_number(data, "instruments_ttl", "", base.instruments_ttl),
        funding_interval_ttl=_number(data, "funding_interval_ttl", "", base.funding_interval_ttl),
        source=source,
    )
    dirs: dict[str, Path] = {}
    for key in ("cache_dir", "state_dir"):
        if data.get(key) is not None:
            _expect(isinstance(data[key], str), key, "a directory path", data[key])
            dirs[key] = Path(os.path.expanduser(data[key]))
    return replace(settings, cache_dir=dirs.get("cache_dir", settings.cache_dir),
                   state_dir=dirs.get("state_dir", settings.state_dir))


def _env_overrides(settings: Settings, env: Mapping[str, str]) -> Settings:
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
            raise ConfigError(f"environment DTRACK_TIMEOUT: expected seconds > 0, got {env['DTRACK_TIMEOUT']!r}")
        settings = replace(settings, http=replace(settings.http, timeout=timeout))
    return settings


def default_config_path(env: Mapping[str, str]) -> Path:
    """Where dtrack looks for settings.yaml when neither --config nor DTRACK_CONFIG is given."""
    base = env.get("XDG_CONFIG_HOME")
    root = Path(base) if base else Path.home() / ".config"
    return root / "dtrack" / "settings.yaml"


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``path`` / ``$DTRACK_CONFIG`` / the user config dir, then the environment."""
    env = os.environ if env is None else env
    explicit = path or env.get("DTRACK_CONFIG")
    file = Path(explicit) if explicit else default_config_path(env)
    if explicit and not file.exists():
        raise ConfigError(f"settings file {str(file)!r} does not exist (given by --config or DTRACK_CONFIG)")
    if not file.exists():
        return _env_overrides(Settings(), env)
    import yaml  # lazy: keeps `dtrack --help` fast

    if file.is_dir():
        raise ConfigError(f"settings file {str(file)!r} is a directory; give a settings.yaml file")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"settings file {str(file)!r} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"settings file {str(file)!r} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"settings file {str(file)!r} is not valid YAML{where}") from None
    return _env_overrides(parse_settings(raw or {}, source=str(file)), env)
