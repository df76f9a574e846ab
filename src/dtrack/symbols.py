"""Asset names as users type them, and venue multiplier prefixes (pure).

Users type ``BTC``, ``eth`` or ccxt-style ``BTC/USDT:USDT``. Venues list some small-priced coins
in multiples: ``1000PEPE`` (Binance, Bybit), ``1MBABYDOGE`` (Binance), ``kPEPE`` (Hyperliquid).
``split_multiplier`` maps such a base to ``(asset, multiplier)``; ``1INCH`` is not a multiple.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dtrack.errors import UsageError, clip

_POW10 = re.compile(r"^(10{1,6})([A-Z][A-Z0-9]*)$")
_MEGA = re.compile(r"^1M([A-Z][A-Z0-9]*)$")
_KILO = re.compile(r"^k([A-Z][A-Z0-9]*)$")
_ASSET = re.compile(r"^[A-Za-z0-9]{1,20}$")


def split_multiplier(base: str) -> tuple[str, float]:
    """``1000PEPE`` -> ``("PEPE", 1000.0)``; ``kPEPE`` -> ``("PEPE", 1000.0)``; ``BTC`` -> ``("BTC", 1.0)``."""
    if m := _POW10.match(base):
        return m.group(2), float(m.group(1))
    if m := _MEGA.match(base):
        return m.group(1), 1_000_000.0
    if m := _KILO.match(base):
        return m.group(1), 1000.0
    return base.upper(), 1.0


@dataclass(frozen=True, slots=True)
class AssetQuery:
    """One asset the user asked for, optionally narrowed to a quote / settle currency."""

    asset: str
    quote: str | None = None
    settle: str | None = None
    text: str = ""


def parse_asset(text: str) -> AssetQuery:
    """Parse ``BTC``, ``eth``, ``BTC/USDT`` or ``BTC/USDT:USDT`` (ccxt style)."""
    raw = text.strip()
    base, _, rest = raw.partition("/")
    quote, _, settle = rest.partition(":")
    parts_ok = all(_ASSET.match(part) for part in (quote, settle) if part)  # each 1-20 letters or digits
    if not _ASSET.match(base) or not parts_ok or ("/" in raw and not quote) or (":" in rest and not settle):
        raise UsageError(f"cannot read asset {clip(text)!r}: type an asset like BTC or eth, or BTC/USDT:USDT")
    asset, _mult = split_multiplier(base if base.startswith("k") and len(base) > 1 and base[1:].isupper()
                                    else base.upper())
    return AssetQuery(asset=asset, quote=quote.upper() or None, settle=settle.upper() or None, text=raw)


def close_matches(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names closest to ``name`` (for "did you mean")."""
    return difflib.get_close_matches(name.upper(), sorted(set(known)), n=n, cutoff=0.5)
