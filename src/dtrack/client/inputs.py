"""Inputs as users type them: assets (``BTC``, ``eth``), ccxt symbols (``BTC/USDT:USDT``), venue-native
symbols (``BTCUSDT``, ``BTC-PERPETUAL``, ``BTC-USDT-SWAP``, ``1000PEPEUSDT``, ``kPEPE``) and normalized ids
(``BTC-USDT-PERP``), durations (``24h``, ``7d``) and sizes. Pure: a venue-native symbol is resolved
against the venues' instrument lists handed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from dtrack.errors import SymbolNotFound, UsageError, clip
from dtrack.records import Instrument, Kind
from dtrack.symbols import close_matches, parse_asset

_DURATION = re.compile(r"^\s*(\d{1,9}(?:\.\d{1,6})?)\s*([hdw])\s*$", re.IGNORECASE)
_MIN_SIZE = re.compile(r"^\s*(\$)?\s*([0-9]+(?:\.[0-9]+)?)\s*(usd)?\s*$", re.IGNORECASE)
MAX_DURATION = timedelta(days=365)


def shown(text: str) -> str:
    """User input as echoed in a message: quoted and clipped (``errors.clip``)."""
    return repr(clip(text))


def parse_duration(value: str | timedelta, option: str, longest: timedelta = MAX_DURATION) -> timedelta:
    """``24h``, ``7d``, ``2w`` (or a timedelta) -> timedelta between 1 h and ``longest``; anything else is a
    usage error naming the option."""
    if isinstance(value, timedelta):
        hours = value.total_seconds() / 3600
        text = f"{hours:g}h"
    else:
        m = _DURATION.match(value)
        if not m:
            raise UsageError(f"bad {option} {shown(value)}: expected a duration like 24h, 7d or 2w")
        hours, text = float(m.group(1)) * {"h": 1, "d": 24, "w": 168}[m.group(2).lower()], value
    if not 1 <= hours <= longest.total_seconds() / 3600:
        raise UsageError(f"bad {option} {shown(text)}: expected between 1h and {longest.days}d")
    return timedelta(hours=hours)


def parse_min_size(value: str | float | None) -> tuple[float | None, float | None]:
    """Trade-flow minimum: ``25`` -> 25 coins; ``$100000`` / ``100000usd`` -> a USD premium."""
    if value is None:
        return None, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"bad --min-size {value!r}: expected a size in coins >= 0")
        return float(value), None
    m = _MIN_SIZE.match(str(value))
    if not m or not math.isfinite(size := float(m.group(2))):
        raise UsageError(f"bad --min-size {shown(str(value))}: expected coins (25) or a USD premium ($100000 "
                         "or 100000usd)")
    return (None, size) if m.group(1) or m.group(3) else (size, None)


def as_list(assets: str | Iterable[str] | None) -> list[str]:
    """One asset or several, as a list (a lone string is one asset, not its characters)."""
    if assets is None:
        return []
    return [assets] if isinstance(assets, str) else list(assets)


@dataclass(frozen=True, slots=True)
class Wanted:
    """One thing the user asked for: an asset, narrowed to a quote / settle currency (ccxt) or to
    venue-native contracts (``contracts``: (venue, symbol) pairs), or neither."""

    text: str
    asset: str
    quote: str | None = None
    settle: str | None = None
    contracts: frozenset[tuple[str, str]] = frozenset()

    @property
    def narrowed(self) -> bool:
        """The input names contracts, not a whole asset."""
        return bool(self.quote or self.settle or self.contracts)

    def matches(self, inst: Instrument) -> bool:
        """Whether ``inst`` is something this input asked for (a ccxt ``BASE/QUOTE:SETTLE`` is a perpetual)."""
        if inst.asset != self.asset:
            return False
        if self.contracts:
            return (inst.venue, inst.symbol) in self.contracts
        if self.settle is not None and inst.kind is not Kind.PERP:
            return False
        return self.quote in (None, inst.quote) and self.settle in (None, inst.settle)


def _native(text: str, listed: Sequence[Instrument]) -> list[Instrument]:
    key = text.strip().lower()
    return [i for i in listed if key in (i.symbol.lower(), i.normalized_id.lower())]


def resolve(texts: Sequence[str], instruments: Mapping[str, Sequence[Instrument]], kinds: Sequence[Kind], *,
            complete: bool, where: str = "") -> list[Wanted]:
    """What each input names, against the venues' listings of ``kinds``.

    An asset (any case) or a ccxt symbol is read as such; a venue-native symbol or normalized id names the
    contracts that carry it (``BTCUSDT`` is Binance's and Bybit's). With ``complete`` (every venue's
    list was read), a name nobody lists is ``SymbolNotFound`` with the closest names; otherwise it is
    kept (it may live on the venue that failed).
    """
    listed = [i for insts in instruments.values() for i in insts if i.kind in kinds]
    known = {i.asset for i in listed}
    out: list[Wanted] = []
    for text in texts:
        try:
            query = parse_asset(text)
        except UsageError:
            query = None
        # A venue symbol names its contracts, except a bare asset name (Hyperliquid's ``BTC``): that is the asset.
        natives = [i for i in _native(text, listed) if i.symbol.upper() != i.asset]
        if query is not None and query.asset in known and not natives:
            out.append(Wanted(text=text, asset=query.asset, quote=query.quote, settle=query.settle))
        elif natives:
            assets = sorted({i.asset for i in natives})
            out.append(Wanted(text=text, asset=assets[0],
                              contracts=frozenset((i.venue, i.symbol) for i in natives if i.asset == assets[0])))
        elif query is not None and not complete:
            out.append(Wanted(text=text, asset=query.asset, quote=query.quote, settle=query.settle))
        elif query is not None:
            raise SymbolNotFound(query.asset, close_matches(query.asset, known), where=where)
        elif complete:
            raise SymbolNotFound(text, close_matches(text.strip().upper(), known), where=where)
        else:
            raise UsageError(f"cannot read asset {shown(text)}: type an asset like BTC or eth, a ccxt symbol like "
                             "BTC/USDT:USDT, or a venue symbol like BTCUSDT")
    return out


def check_readable(texts: Sequence[str]) -> None:
    """Reject, before any request, input that can be neither an asset nor a venue symbol."""
    for text in texts:
        if not text.strip():
            raise UsageError("an asset is empty: type an asset like BTC or eth")
        if len(text) > 64 or not re.fullmatch(r"[A-Za-z0-9/:_.\-]+", text.strip()):
            raise UsageError(f"cannot read asset {shown(text)}: type an asset like BTC or eth, a ccxt symbol like "
                             "BTC/USDT:USDT, or a venue symbol like BTCUSDT")


def parsed_assets(texts: Sequence[str]) -> list[str]:
    """The assets of the inputs that read as assets or ccxt symbols (before any listing is known)."""
    out: list[str] = []
    for text in texts:
        try:
            out.append(parse_asset(text).asset)
        except UsageError:
            continue
    return list(dict.fromkeys(out))


def unique_assets(wanted: Sequence[Wanted]) -> list[str]:
    """The assets asked for, in order, each once."""
    return list(dict.fromkeys(w.asset for w in wanted))
