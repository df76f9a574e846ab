"""Order-book levels as venues send them: in arrays (Binance ``depth``, Bybit ``orderbook``, OKX ``books``, Deribit
``get_order_book``) or as objects (Hyperliquid ``l2Book`` ``{px, sz, n}``, the dYdX indexer's ``orderbooks``
``{price, size}``): one reader of a side of each shape, one rule for a level and one check of the whole book, pure,
shared so that every venue converts and refuses alike."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from dtrack.records import BookSide, Instrument, Unit, oi_base_and_usd
from dtrack.venues import plausible
from dtrack.venues.fields import Reader


def array_side(r: Reader, levels: Any, key: str, instrument: Instrument, unit: Unit, rules: plausible.Rules,
               names: tuple[str, str] = ("price", "size")) -> BookSide:
    """One side of a book whose levels are arrays ``[price, size, ...]``, in the order sent, as (price per ONE unit
    of the asset, size in coins of the asset). ``unit`` is the venue's quantity: the venue's base coin (x the
    contract's multiplier), USD (Bybit and Deribit inverse amounts), or contracts of the instrument's terms; USD and
    USD-sized contracts are converted at the level's own price (``records.oi_base_and_usd``). A price must be
    plausible and a size > 0 (a level of nothing is no level); errors call the two values by the venue's ``names``."""
    out = []
    for item in r.arr(levels, key):
        level = r.arr(item, f"{key} level")
        if len(level) < 2:
            raise r.fail(f"level {level!r} of {key!r} has {len(level)} values, expected [{names[0]}, {names[1]}, ...]")
        out.append(_level(r, {names[0]: level[0], names[1]: level[1]}, key, instrument, unit, rules, names))
    return tuple(out)


def object_side(r: Reader, levels: Any, key: str, instrument: Instrument, unit: Unit, rules: plausible.Rules,
                fields: tuple[str, str] = ("px", "sz")) -> BookSide:
    """One side of a book whose levels are objects (``{px, sz, n}``, ``{price, size}``: the price and size under the
    keys ``fields``, other keys not read), in the order sent, converted and held to the rules of ``array_side``."""
    return tuple(_level(r, r.obj(item, f"{key} level"), key, instrument, unit, rules, fields)
                 for item in r.arr(levels, key))


def _level(r: Reader, row: Mapping[str, Any], key: str, instrument: Instrument, unit: Unit, rules: plausible.Rules,
           names: tuple[str, str]) -> tuple[float, float]:
    """One level of side ``key``: its price (``row[names[0]]``, plausible) per ONE unit of the asset and its size
    (``row[names[1]]`` in ``unit``, > 0) in coins of the asset (see ``array_side``)."""
    price, size = r.num(row, names[0]), r.num(row, names[1])
    rules.price(f"{key} {names[0]}", price)
    if not size > 0:
        raise rules.refuse(f"{key} {names[1]}", size, "a resting size must be > 0")
    per_coin = price / instrument.multiplier
    return per_coin, oi_base_and_usd(instrument, size, unit, per_coin)[0]


def check_book(r: Reader, rules: plausible.Rules, instrument: Instrument, bids: BookSide, asks: BookSide,
               field: str) -> None:
    """Refuse a side out of best-first order (bids strictly falling, asks strictly rising) and a crossed book (best
    bid >= best ask; ``field`` names the two sides in the error)."""
    if any(a[0] <= b[0] for a, b in pairwise(bids)):
        raise r.fail(f"{instrument.symbol}: bids are not in descending price order")
    if any(b[0] <= a[0] for a, b in pairwise(asks)):
        raise r.fail(f"{instrument.symbol}: asks are not in ascending price order")
    if bids and asks and bids[0][0] >= asks[0][0]:
        raise rules.refuse(field, [bids[0][0], asks[0][0]], "a crossed book (best bid >= best ask)")
