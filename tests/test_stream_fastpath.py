"""The stream parsers' fast paths build what the slow ones build: ``records.builder`` against each record class's
own constructor, and the stream shortcuts (OKX's open interest and funding, Bybit's numbers read once per
distinct text, Hyperliquid's cap made once per interval) against the REST readers and a fresh parser."""

from __future__ import annotations

import dataclasses
import inspect
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import load_payload
from dtrack import records
from dtrack.errors import Implausible
from dtrack.net.ws import Frame, MalformedFrame
from dtrack.records import DataKind, Instrument, Kind, Margin, Unit, builder
from dtrack.venues.bybit import stream as bybit
from dtrack.venues.fields import Reader
from dtrack.venues.hyperliquid import parse as hl_parse
from dtrack.venues.hyperliquid import stream as hyperliquid
from dtrack.venues.okx import parse as okx_parse
from dtrack.venues.okx import stream as okx
from dtrack.venues.streaming import opt_time_ms

ALL = frozenset({DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES})
RECEIVED = datetime(2024, 10, 12, 10, 18, 40, tzinfo=UTC)
RECORD_CLASSES = [c for c in vars(records).values()
                  if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == records.__name__]


def inst(venue: str, symbol: str, *, size: float = 1.0, unit: Unit = Unit.BASE, margin: Margin = Margin.LINEAR,
         multiplier: float = 1.0) -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=margin, multiplier=multiplier, contract_size=size, contract_unit=unit, market="SWAP")


def fields_of(record: Any) -> list[tuple[str, Any]]:
    return [(f.name, getattr(record, f.name)) for f in dataclasses.fields(record)]


# --- records.builder ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", RECORD_CLASSES, ids=lambda c: c.__name__)
def test_the_builder_makes_what_the_constructor_makes_for_every_field(cls: type) -> None:
    make = builder(cls)
    every = {f.name: f"value of {f.name}" for f in dataclasses.fields(cls)}  # no default left
    required = {f.name: f"value of {f.name}" for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
    for kwargs in (every, required):
        fast, slow = make(**kwargs), cls(**kwargs)
        assert type(fast) is cls
        assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
        assert fields_of(fast) == fields_of(slow)
        assert all(getattr(fast, name) is getattr(slow, name) for name, _ in fields_of(slow))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(make(**every), next(iter(every)), 1)
    assert builder(cls) is make  # made once per class


@pytest.mark.parametrize("cls", RECORD_CLASSES, ids=lambda c: c.__name__)
def test_the_builder_takes_the_constructors_keywords_and_defaults(cls: type) -> None:
    ours = inspect.signature(builder(cls)).parameters
    theirs = inspect.signature(cls).parameters
    assert list(ours) == list(theirs)
    for name, param in theirs.items():
        assert ours[name].kind is inspect.Parameter.KEYWORD_ONLY and param.kind is inspect.Parameter.KEYWORD_ONLY
        assert ours[name].default is param.default or ours[name].default == param.default
    some = {f.name: 1 for f in dataclasses.fields(cls)}
    with pytest.raises(TypeError):
        builder(cls)(**some, not_a_field=1)


def test_the_builder_refuses_what_it_cannot_copy() -> None:
    with pytest.raises(TypeError, match="frozen, slotted"):
        builder(Frame)  # slotted, not frozen

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="__post_init__"):
        builder(Checked)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Listed:
        xs: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="plain slotted"):
        builder(Listed)


# --- shared helpers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, "", "0", 0, "1728728314766", 1728728314766, 1728728314766.0, "12",
                                   "abc", "nan", True, [1], "99999999999999"])
def test_opt_time_ms_is_the_readers(value: Any) -> None:
    r = Reader("okx", "/x")
    row = {"ts": value}

    def outcome(read: Any) -> Any:
        try:
            return read(r, row, "ts")
        except Exception as exc:
            return type(exc), str(exc)

    assert outcome(opt_time_ms) == outcome(Reader.opt_time_ms)


# --- OKX: open interest and funding built as the REST readers build them --------------------------------------

OI_ROW = load_payload("okx__ccxt_fetchOpenInterest.json")["cases"][0]["raw"]["data"][0]
FUNDING_ROW = {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "fundingRate": "0.0001", "nextFundingRate": "",
               "fundingTime": "1728748800000", "nextFundingTime": "1728777600000", "minFundingRate": "-0.00375",
               "maxFundingRate": "0.00375", "method": "current_period", "ts": "1728728314766"}


def push(channel: str, row: dict[str, Any], symbol: str) -> str:
    return json.dumps({"arg": {"channel": channel, "instId": symbol}, "data": [{**row, "instId": symbol}]})


def outcome_of(frame_or_call: Any) -> Any:
    try:
        frame = frame_or_call()
    except Exception as exc:
        return type(exc), str(exc)
    return list(frame.records), [str(e) for e in frame.dropped]


@pytest.mark.parametrize("contract", [inst("okx", "BTC-USDT-SWAP", size=0.01),
                                      inst("okx", "BTC-USD-SWAP", size=100.0, unit=Unit.USD, margin=Margin.INVERSE),
                                      inst("okx", "PEPE-USDT-SWAP", size=10.0, multiplier=1000.0)])
@pytest.mark.parametrize("mark", [None, "62950.1", "0"])
@pytest.mark.parametrize("oi", [OI_ROW, {**OI_ROW, "oiUsd": ""}, {**OI_ROW, "oiCcy": "", "oiUsd": ""},
                                {**OI_ROW, "oi": "-5"}, {**OI_ROW, "oiUsd": "-1"}, None])
@pytest.mark.parametrize("funding_row", [FUNDING_ROW, {**FUNDING_ROW, "minFundingRate": "", "fundingRate": "0.5"}])
def test_okx_open_interest_and_funding_are_the_rest_readers(contract: Instrument, mark: str | None,
                                                            oi: dict[str, Any] | None,
                                                            funding_row: dict[str, Any]) -> None:
    """The stream's open-interest and funding records (and refusals) are the REST readers' of the same rows."""
    p = okx.PublicStream([contract], ALL)
    symbol = contract.symbol
    state_mark: float | None = None
    if mark is not None:
        p.handle(push(okx.MARK, {"markPx": mark, "ts": "1728728314000"}, symbol), RECEIVED)
        state_mark = p.states[symbol].mark
    state_oi = None
    if oi is not None:
        r = Reader("okx", f"{okx.PATH} {okx.OPEN_INTEREST}")
        state_oi = okx_parse.ContractOpenInterest(r.num(oi, "oi"), r.opt_num(oi, "oiCcy"), r.opt_num(oi, "oiUsd"),
                                                  r.opt_time_ms(oi, "ts"))

        def rest_oi() -> Any:
            made = okx_parse.open_interest(contract, state_oi, state_mark, RECEIVED)
            return Frame(records=[] if made is None else [made])

        got = outcome_of(lambda: p.handle(push(okx.OPEN_INTEREST, oi, symbol), RECEIVED))
        want = outcome_of(rest_oi)
        if isinstance(want, tuple) and want[0] is Implausible:  # the stream keeps the refusal in the frame
            want = ([], [want[1]])
        assert got == want
    funding = okx_parse.funding_row(Reader("okx", f"{okx.PATH} {okx.FUNDING}"), {**funding_row, "instId": symbol})

    def rest_funding() -> Any:
        return Frame(records=[okx_parse.funding_rate(contract, funding, RECEIVED, mark=state_mark, oi=state_oi,
                                                     notes=[okx.NOTE])])

    got = outcome_of(lambda: p.handle(push(okx.FUNDING, funding_row, symbol), RECEIVED))
    want = outcome_of(rest_funding)
    if isinstance(want, tuple) and want[0] is Implausible:
        want = ([], [want[1]])
    assert got == want


# --- Bybit: numbers read once per distinct text ---------------------------------------------------------------

BYBIT_PERP = Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                        margin=Margin.LINEAR, market="linear")


def bybit_snapshot() -> dict[str, Any]:
    cases = load_payload("bybit__ws_tickers__docs.json")["cases"]
    raw: dict[str, Any] = next(c["raw"] for c in cases if c["input"].get("label") == "LinearPerpetual")
    return raw


def test_bybit_numbers_kept_by_text_are_what_a_fresh_parser_reads() -> None:
    snap = bybit_snapshot()
    frames = [snap, {**snap, "data": {**snap["data"], "markPrice": "66700.1"}},
              {"topic": "tickers.BTCUSDT", "type": "delta", "data": {"symbol": "BTCUSDT", "openInterest": "5"},
               "ts": snap["ts"] + 100},
              {**snap, "ts": snap["ts"] + 200, "data": {**snap["data"], "fundingRate": "", "indexPrice": 115000}},
              {**snap, "ts": snap["ts"] + 300}]
    kept = bybit.TickerStream("linear", [BYBIT_PERP], {}, ALL)
    for k, frame in enumerate(frames):
        fresh = bybit.TickerStream("linear", [BYBIT_PERP], {}, ALL)
        for earlier in frames[:k + 1]:
            want = outcome_of(lambda earlier=earlier, fresh=fresh: fresh.handle(json.dumps(earlier), RECEIVED))
        assert outcome_of(lambda frame=frame: kept.handle(json.dumps(frame), RECEIVED)) == want


@pytest.mark.parametrize("bad", [{"markPrice": "x"}, {"fundingRate": "nan", "markPrice": "y"}, {"lastPrice": True},
                                 {"indexPrice": [1]}, {"openInterest": "inf"}])
def test_bybit_an_odd_number_after_a_good_one_is_still_refused(bad: dict[str, Any]) -> None:
    snap = bybit_snapshot()
    p = bybit.TickerStream("linear", [BYBIT_PERP], {}, ALL)
    p.handle(json.dumps(snap), RECEIVED)
    with pytest.raises(MalformedFrame) as kept:
        p.handle(json.dumps({**snap, "data": {**snap["data"], **bad}}), RECEIVED)
    with pytest.raises(MalformedFrame) as fresh:
        bybit.TickerStream("linear", [BYBIT_PERP], {}, ALL).handle(
            json.dumps({**snap, "data": {**snap["data"], **bad}}), RECEIVED)
    assert str(kept.value) == str(fresh.value)


# --- Hyperliquid: the cap made once per interval --------------------------------------------------------------

@pytest.mark.parametrize("hours", [1.0, 4.0, 8.0])
def test_hyperliquid_cap_made_once_is_the_readers(hours: float) -> None:
    assert hyperliquid._funding_cap(hours) == hl_parse.funding_cap(hours)
    assert hyperliquid._funding_cap(hours) is hyperliquid._funding_cap(hours)


def test_the_fast_paths_still_hold_records_to_the_rules() -> None:
    """A mark of 0 is refused on the fast path with the rule's own message."""
    contract = inst("okx", "BTC-USDT-SWAP", size=0.01)
    p = okx.PublicStream([contract], ALL)
    frame = p.handle(push(okx.MARK, {"markPx": "0", "ts": "1728728314000"}, contract.symbol), RECEIVED)
    assert frame.records == [] and len(frame.dropped) == 1 and "markPx" in str(frame.dropped[0])
