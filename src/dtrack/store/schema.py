"""The store's schema: one declaration per table (columns, natural key, time axis, retention class), the
record type each table holds, and the versioned migrations that create them.

Tables follow the records (``dtrack.records``): the columns of a table are the keys of its record's
``to_row()``, in order, with times as UTC epoch milliseconds (``BIGINT``), booleans as ``BOOLEAN`` (0/1 in
SQLite), enums as their lowercase token. ``TABLES`` is what the engines use to write and read (column
types, keys); ``MIGRATIONS`` is the frozen SQL that built the tables, one ordered step per version, applied
once and recorded in ``schema_version``. A change of a record's row is a new migration step (ALTER TABLE …)
plus the matching change of its ``Table``; tests check the two agree on both engines.

The SQL here is the same for SQLite and PostgreSQL. Every identifier comes from this module; values are
always bound parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

#: How a column is stored: text, a float, a whole number, a boolean, or a time (UTC epoch ms)
ColumnType = Literal["text", "real", "int", "bool", "time"]

SQL_TYPES: Mapping[ColumnType, str] = {"text": "TEXT", "real": "DOUBLE PRECISION", "int": "BIGINT",
                                       "bool": "BOOLEAN", "time": "BIGINT"}

#: Retention classes: a snapshot (the current state polled again and again: kept 90 days by default), a
#: history (settled or venue-kept series, events: kept forever by default), bookkeeping (gaps, runs: forever)
Retention = Literal["snapshot", "history", "bookkeeping"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its name (the row key), how it is stored, and whether it may be null."""

    name: str
    type: ColumnType
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    """One table: its columns in row order, its natural key, its time axis and what it holds.

    ``key`` lists the natural key's parts; a part that is a tuple of columns is their COALESCE (a snapshot's
    venue ``time``, else its ``received_at``). ``axis`` is the time column that ``since``/``until``, the time
    range of ``info`` and pruning use (``received_at`` for snapshots: always known). ``merge`` names columns
    a repeated key may fill in when they were null (a gap's ``end`` once the gap is over); other tables keep the
    first row written (``ON CONFLICT DO NOTHING``), except for ``latest`` columns, which a later row of the key
    overwrites (a collector run's heartbeat and status). ``record`` is the record class whose rows it holds.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str | tuple[str, ...], ...]
    axis: str
    retention: Retention
    record: str | None = None
    merge: tuple[str, ...] = ()
    latest: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError when the table has none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The plain columns of the key (for ``ON CONFLICT (…)``); only tables without COALESCE parts merge."""
        return tuple(p for p in self.key if isinstance(p, str))


def _c(spec: str) -> tuple[Column, ...]:
    """Columns from a compact spec: ``"venue text, time time?, ..."`` (``?``: nullable)."""
    out = []
    for part in spec.split(","):
        name, typ = part.split()
        nullable = typ.endswith("?")
        out.append(Column(name, typ.rstrip("?"), nullable))  # type: ignore[arg-type]
    return tuple(out)


_INSTRUMENT = ("venue text, symbol text, asset text, quote text, settle text, kind text, margin text, multiplier real, "
               "contract_size real, contract_unit text, expiry time?, market text, normalized_id text")
_SNAPSHOT_KEY: tuple[str | tuple[str, ...], ...] = ("venue", "symbol", ("time", "received_at"))

TABLE_LIST: tuple[Table, ...] = (
    Table("funding_rates", _c(
        f"{_INSTRUMENT}, rate real, interval_hours real, interval_source text, time time?, received_at time, "
        "predicted_rate real?, next_funding_time time?, mark_price real?, index_price real?, open_interest_usd real?, "
        "note text, rate_8h real, apr real, funding_long real?, funding_short real?, borrow_long real?, "
        "borrow_short real?"), _SNAPSHOT_KEY, "received_at", "snapshot", "FundingRate"),
    Table("funding_points", _c(
        "venue text, symbol text, time time, rate real, interval_hours real, received_at time, rate_8h real"),
        ("venue", "symbol", "time"), "time", "history", "FundingPoint"),
    Table("open_interest", _c(
        f"{_INSTRUMENT}, amount real, unit text, base real, usd real, price_used real, price_source text, "
        "time time?, received_at time, note text, long_usd real?, short_usd real?"), _SNAPSHOT_KEY, "received_at",
        "snapshot", "OpenInterest"),
    Table("oi_points", _c("venue text, symbol text, time time, base real, usd real?, received_at time"),
          ("venue", "symbol", "time"), "time", "history", "OIPoint"),
    Table("long_short", _c(
        "venue text, asset text, symbol text, definition text, ratio real, long_share real, time time?, "
        "received_at time, period text"),
        ("venue", "symbol", "definition", "period", ("time", "received_at")), "received_at", "snapshot",
        "LongShortRatio"),
    Table("price_quotes", _c(
        f"{_INSTRUMENT}, time time?, received_at time, mark_price real?, index_price real?, last_price real?, "
        "volume_24h_usd real?, volume_24h_base real?"),
        _SNAPSHOT_KEY, "received_at", "snapshot", "PriceQuote"),
    Table("spot_prices", _c(
        "venue text, asset text, quote text, symbol text, price real, time time?, received_at time, source text"),
        _SNAPSHOT_KEY, "received_at", "snapshot", "SpotPrice"),
    # a kline timed at its close: ``price`` the close, ``high``/``low`` the bar's (null in rows written before
    # step 8, and where the venue's klines of the period were not all read)
    Table("price_points", _c("venue text, symbol text, time time, price real, received_at time, high real?, "
                             "low real?"),
          ("venue", "symbol", "time"), "time", "history", "PricePoint"),
    Table("option_quotes", _c(
        "venue text, symbol text, asset text, expiry time, strike real, is_call bool, time time?, received_at time, "
        "underlying_price real, index_price real?, mark_price_usd real?, mark_price_coin real?, bid_price_usd real?, "
        "ask_price_usd real?, mark_iv real?, bid_iv real?, ask_iv real?, delta real?, gamma real?, vega real?, "
        "theta real?, open_interest real, volume real, contract_size real, settle text, price_note text, "
        "normalized_id text"), _SNAPSHOT_KEY, "received_at", "snapshot", "OptionQuote"),
    # the per-expiry metrics of ``dtrack options`` (venue "all": the cross-venue aggregate); ``time`` is the
    # latest venue time of the expiry's quotes, ``received_at`` when dtrack computed them
    Table("option_expiries", _c(
        "venue text, asset text, expiry time, time time?, received_at time, days real, forward real?, "
        "forward_source text?, atm_iv real?, rr25 real?, bf25 real?, pcr_oi real?, pcr_volume real?, "
        "pcr_premium real?, max_pain real?, oi_contracts real?, oi_coins real, oi_usd real, volume_usd real, "
        "options int, call_oi real, put_oi real, call_volume real, put_volume real"),
        ("venue", "asset", "expiry", ("time", "received_at")), "received_at", "snapshot", "OptionExpiry"),
    Table("option_trades", _c(
        "venue text, symbol text, asset text, expiry time, strike real, is_call bool, time time, received_at time, "
        "side text, amount real, contract_size real, price_usd real, index_price real, iv real?, block bool, "
        "trade_id text, normalized_id text, premium_usd real"),
        ("venue", "symbol", "trade_id", "time"), "time", "history", "OptionTrade"),
    Table("vol_points", _c("venue text, symbol text, time time, value real, received_at time"),
          ("venue", "symbol", "time"), "time", "history", "VolPoint"),
    # one row per liquidation event (``records.Liquidation``): ``side`` is the side of the POSITION liquidated,
    # ``coverage`` how complete the venue's feed is, ``key`` the event's identity (de-duplicates backlog pushes,
    # reconnects and several collectors)
    Table("liquidations", _c(
        f"{_INSTRUMENT}, side text, price real, price_kind text, amount real, unit text, base real, usd real, "
        "time time, received_at time, coverage text, key text, note text"),
        ("venue", "symbol", "key"), "time", "history", "Liquidation"),
    # the estimated liquidation map as computed at ``time`` (``records.LiquidationLevel``), kept to be scored
    # against the liquidations that followed
    Table("liquidation_levels", _c(
        "asset text, method text, time time, received_at time, price real, side text, low real, high real, "
        "usd real, venues text"),
        ("asset", "method", "time", "side", "low"), "time", "snapshot", "LiquidationLevel"),
    # the depth metrics of an order book (``records.BookSnapshot``, seed 003 ``order_book_snapshots``): mid, spread,
    # depth within 1 % per side in coins and USD, imbalance, truncation, and every band asked as JSON text
    Table("book_snapshots", _c(
        f"{_INSTRUMENT}, time time?, received_at time, mid real, best_bid real, best_ask real, spread_bps real, "
        "bid_base_1pct real, ask_base_1pct real, bid_usd_1pct real, ask_usd_1pct real, imbalance_1pct real?, "
        "truncated_1pct bool, levels_bid int, levels_ask int, bands text"),
        _SNAPSHOT_KEY, "received_at", "snapshot", "BookSnapshot"),
    # the basis-trade positions of ``dtrack carry`` (``records.CarryPosition``): user data, kept forever; closing
    # one fills in its exit
    Table("carry_positions", _c(
        "id text, asset text, spot_venue text, perp_venue text, perp_symbol text, size real, spot_entry real, "
        "perp_entry real, opened_at time, fee_pct real, closed_at time?, spot_exit real?, perp_exit real?, note text"),
        ("id",), "opened_at", "bookkeeping", "CarryPosition", merge=("closed_at", "spot_exit", "perp_exit")),
    # ``collector``: the run that had the gap (its run_id; "" for a stream read outside a collector)
    Table("gaps", _c("venue text, stream text, start time, end time?, reason text, received_at time, collector text"),
          ("venue", "stream", "start", "collector"), "start", "bookkeeping", "Gap", merge=("end",)),
    # ``last_seen``: the run's heartbeat (its last flush); ``what``: what it collects (assets, venues, kinds)
    Table("collector_runs", _c(
        "run_id text, host text, pid int, started_at time, ended_at time?, status text, note text, last_seen time?, "
        "what text"),
        ("run_id",), "started_at", "bookkeeping", latest=("ended_at", "status", "note", "last_seen")),
    # the contracts' terms (reference data), so that stored series are read by asset without a venue at hand
    Table("instruments", _c(f"{_INSTRUMENT}, seen_at time"), ("venue", "symbol"), "seen_at", "bookkeeping",
          latest=("seen_at",)),
)

TABLES: Mapping[str, Table] = {t.name: t for t in TABLE_LIST}
#: record class name -> its table
TABLE_OF_RECORD: Mapping[str, Table] = {t.record: t for t in TABLE_LIST if t.record}


def q(identifier: str) -> str:
    """A quoted SQL identifier (``"end"``, ``"time"``): identifiers come only from this module."""
    if not identifier.replace("_", "").isalnum():
        raise ValueError(f"not a schema identifier: {identifier!r}")
    return f'"{identifier}"'


def key_sql(table: Table) -> str:
    """The natural key as SQL index parts: ``"venue", "symbol", (COALESCE("time", "received_at"))``."""
    return ", ".join(q(p) if isinstance(p, str) else f"(COALESCE({', '.join(q(c) for c in p)}))" for p in table.key)


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: statements run in order, in one transaction, once."""

    version: int
    description: str
    statements: tuple[str, ...]


# --- the migrations (frozen: never edit a released step; add the next one) ------------------------------------

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the tables of funding, open interest, quotes, spot, klines, options, volatility, long/short, "
                 "liquidations, order books, gaps and collector runs", (
        'CREATE TABLE "funding_rates" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"quote" TEXT NOT NULL, "settle" TEXT NOT NULL, "kind" TEXT NOT NULL, "margin" TEXT NOT NULL, '
        '"multiplier" DOUBLE PRECISION NOT NULL, "contract_size" DOUBLE PRECISION NOT NULL, '
        '"contract_unit" TEXT NOT NULL, "expiry" BIGINT, "market" TEXT NOT NULL, '
        '"normalized_id" TEXT NOT NULL, "rate" DOUBLE PRECISION NOT NULL, '
        '"interval_hours" DOUBLE PRECISION NOT NULL, "interval_source" TEXT NOT NULL, "time" BIGINT, '
        '"received_at" BIGINT NOT NULL, "predicted_rate" DOUBLE PRECISION, "next_funding_time" BIGINT, '
        '"mark_price" DOUBLE PRECISION, "index_price" DOUBLE PRECISION, '
        '"open_interest_usd" DOUBLE PRECISION, "note" TEXT NOT NULL, "rate_8h" DOUBLE PRECISION NOT NULL, '
        '"apr" DOUBLE PRECISION NOT NULL)',
        'CREATE UNIQUE INDEX "funding_rates_key" ON "funding_rates" ("venue", "symbol", (COALESCE("time", '
        '"received_at")))',
        'CREATE INDEX "funding_rates_received_at" ON "funding_rates" ("received_at")',
        'CREATE TABLE "funding_points" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, '
        '"time" BIGINT NOT NULL, "rate" DOUBLE PRECISION NOT NULL, '
        '"interval_hours" DOUBLE PRECISION NOT NULL, "received_at" BIGINT NOT NULL, '
        '"rate_8h" DOUBLE PRECISION NOT NULL)',
        'CREATE UNIQUE INDEX "funding_points_key" ON "funding_points" ("venue", "symbol", "time")',
        'CREATE TABLE "open_interest" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"quote" TEXT NOT NULL, "settle" TEXT NOT NULL, "kind" TEXT NOT NULL, "margin" TEXT NOT NULL, '
        '"multiplier" DOUBLE PRECISION NOT NULL, "contract_size" DOUBLE PRECISION NOT NULL, '
        '"contract_unit" TEXT NOT NULL, "expiry" BIGINT, "market" TEXT NOT NULL, '
        '"normalized_id" TEXT NOT NULL, "amount" DOUBLE PRECISION NOT NULL, "unit" TEXT NOT NULL, '
        '"base" DOUBLE PRECISION NOT NULL, "usd" DOUBLE PRECISION NOT NULL, '
        '"price_used" DOUBLE PRECISION NOT NULL, "price_source" TEXT NOT NULL, "time" BIGINT, '
        '"received_at" BIGINT NOT NULL, "note" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "open_interest_key" ON "open_interest" ("venue", "symbol", (COALESCE("time", '
        '"received_at")))',
        'CREATE INDEX "open_interest_received_at" ON "open_interest" ("received_at")',
        'CREATE TABLE "oi_points" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "time" BIGINT NOT NULL, '
        '"base" DOUBLE PRECISION NOT NULL, "usd" DOUBLE PRECISION, "received_at" BIGINT NOT NULL)',
        'CREATE UNIQUE INDEX "oi_points_key" ON "oi_points" ("venue", "symbol", "time")',
        'CREATE TABLE "long_short" ("venue" TEXT NOT NULL, "asset" TEXT NOT NULL, "symbol" TEXT NOT NULL, '
        '"definition" TEXT NOT NULL, "ratio" DOUBLE PRECISION NOT NULL, '
        '"long_share" DOUBLE PRECISION NOT NULL, "time" BIGINT, "received_at" BIGINT NOT NULL, '
        '"period" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "long_short_key" ON "long_short" ("venue", "symbol", "definition", "period", '
        '(COALESCE("time", "received_at")))',
        'CREATE INDEX "long_short_received_at" ON "long_short" ("received_at")',
        'CREATE TABLE "price_quotes" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"quote" TEXT NOT NULL, "settle" TEXT NOT NULL, "kind" TEXT NOT NULL, "margin" TEXT NOT NULL, '
        '"multiplier" DOUBLE PRECISION NOT NULL, "contract_size" DOUBLE PRECISION NOT NULL, '
        '"contract_unit" TEXT NOT NULL, "expiry" BIGINT, "market" TEXT NOT NULL, '
        '"normalized_id" TEXT NOT NULL, "time" BIGINT, "received_at" BIGINT NOT NULL, '
        '"mark_price" DOUBLE PRECISION, "index_price" DOUBLE PRECISION, "last_price" DOUBLE PRECISION)',
        'CREATE UNIQUE INDEX "price_quotes_key" ON "price_quotes" ("venue", "symbol", (COALESCE("time", '
        '"received_at")))',
        'CREATE INDEX "price_quotes_received_at" ON "price_quotes" ("received_at")',
        'CREATE TABLE "spot_prices" ("venue" TEXT NOT NULL, "asset" TEXT NOT NULL, "quote" TEXT NOT NULL, '
        '"symbol" TEXT NOT NULL, "price" DOUBLE PRECISION NOT NULL, "time" BIGINT, '
        '"received_at" BIGINT NOT NULL, "source" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "spot_prices_key" ON "spot_prices" ("venue", "symbol", (COALESCE("time", '
        '"received_at")))',
        'CREATE INDEX "spot_prices_received_at" ON "spot_prices" ("received_at")',
        'CREATE TABLE "price_points" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "time" BIGINT NOT NULL, '
        '"price" DOUBLE PRECISION NOT NULL, "received_at" BIGINT NOT NULL)',
        'CREATE UNIQUE INDEX "price_points_key" ON "price_points" ("venue", "symbol", "time")',
        'CREATE TABLE "option_quotes" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"expiry" BIGINT NOT NULL, "strike" DOUBLE PRECISION NOT NULL, "is_call" BOOLEAN NOT NULL, '
        '"time" BIGINT, "received_at" BIGINT NOT NULL, "underlying_price" DOUBLE PRECISION NOT NULL, '
        '"index_price" DOUBLE PRECISION, "mark_price_usd" DOUBLE PRECISION, '
        '"mark_price_coin" DOUBLE PRECISION, "bid_price_usd" DOUBLE PRECISION, '
        '"ask_price_usd" DOUBLE PRECISION, "mark_iv" DOUBLE PRECISION, "bid_iv" DOUBLE PRECISION, '
        '"ask_iv" DOUBLE PRECISION, "delta" DOUBLE PRECISION, "gamma" DOUBLE PRECISION, '
        '"vega" DOUBLE PRECISION, "theta" DOUBLE PRECISION, "open_interest" DOUBLE PRECISION NOT NULL, '
        '"volume" DOUBLE PRECISION NOT NULL, "contract_size" DOUBLE PRECISION NOT NULL, '
        '"settle" TEXT NOT NULL, "price_note" TEXT NOT NULL, "normalized_id" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "option_quotes_key" ON "option_quotes" ("venue", "symbol", (COALESCE("time", '
        '"received_at")))',
        'CREATE INDEX "option_quotes_received_at" ON "option_quotes" ("received_at")',
        'CREATE TABLE "option_trades" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"expiry" BIGINT NOT NULL, "strike" DOUBLE PRECISION NOT NULL, "is_call" BOOLEAN NOT NULL, '
        '"time" BIGINT NOT NULL, "received_at" BIGINT NOT NULL, "side" TEXT NOT NULL, '
        '"amount" DOUBLE PRECISION NOT NULL, "contract_size" DOUBLE PRECISION NOT NULL, '
        '"price_usd" DOUBLE PRECISION NOT NULL, "index_price" DOUBLE PRECISION NOT NULL, '
        '"iv" DOUBLE PRECISION, "block" BOOLEAN NOT NULL, "trade_id" TEXT NOT NULL, '
        '"normalized_id" TEXT NOT NULL, "premium_usd" DOUBLE PRECISION NOT NULL)',
        'CREATE UNIQUE INDEX "option_trades_key" ON "option_trades" ("venue", "symbol", "trade_id", "time")',
        'CREATE TABLE "vol_points" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "time" BIGINT NOT NULL, '
        '"value" DOUBLE PRECISION NOT NULL, "received_at" BIGINT NOT NULL)',
        'CREATE UNIQUE INDEX "vol_points_key" ON "vol_points" ("venue", "symbol", "time")',
        'CREATE TABLE "liquidations" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"side" TEXT NOT NULL, "price" DOUBLE PRECISION NOT NULL, "amount" DOUBLE PRECISION NOT NULL, '
        '"usd" DOUBLE PRECISION, "time" BIGINT NOT NULL, "received_at" BIGINT NOT NULL, '
        '"sampled" BOOLEAN NOT NULL, "note" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "liquidations_key" ON "liquidations" ("venue", "symbol", "time", "side", '
        '"price", "amount")',
        'CREATE TABLE "book_snapshots" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "time" BIGINT, '
        '"received_at" BIGINT NOT NULL, "depth" BIGINT NOT NULL, "bids" TEXT NOT NULL, "asks" TEXT NOT NULL, '
        '"note" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "book_snapshots_key" ON "book_snapshots" ("venue", "symbol", (COALESCE("time", '
        '"received_at")))',
        'CREATE INDEX "book_snapshots_received_at" ON "book_snapshots" ("received_at")',
        'CREATE TABLE "gaps" ("venue" TEXT NOT NULL, "stream" TEXT NOT NULL, "start" BIGINT NOT NULL, '
        '"end" BIGINT, "reason" TEXT NOT NULL, "received_at" BIGINT NOT NULL)',
        'CREATE UNIQUE INDEX "gaps_key" ON "gaps" ("venue", "stream", "start")',
        'CREATE TABLE "collector_runs" ("run_id" TEXT NOT NULL, "host" TEXT NOT NULL, "pid" BIGINT NOT NULL, '
        '"started_at" BIGINT NOT NULL, "ended_at" BIGINT, "status" TEXT NOT NULL, "note" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "collector_runs_key" ON "collector_runs" ("run_id")',
        'CREATE INDEX "collector_runs_started_at" ON "collector_runs" ("started_at")',
    )),
    Migration(2, "gaps say which collector had them; collector runs keep a heartbeat and what they collect; "
                 "the instruments table", (
        'ALTER TABLE "gaps" ADD COLUMN "collector" TEXT NOT NULL DEFAULT \'\'',
        'DROP INDEX "gaps_key"',
        'CREATE UNIQUE INDEX "gaps_key" ON "gaps" ("venue", "stream", "start", "collector")',
        'ALTER TABLE "collector_runs" ADD COLUMN "last_seen" BIGINT',
        'ALTER TABLE "collector_runs" ADD COLUMN "what" TEXT NOT NULL DEFAULT \'\'',
        'CREATE TABLE "instruments" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"quote" TEXT NOT NULL, "settle" TEXT NOT NULL, "kind" TEXT NOT NULL, "margin" TEXT NOT NULL, '
        '"multiplier" DOUBLE PRECISION NOT NULL, "contract_size" DOUBLE PRECISION NOT NULL, '
        '"contract_unit" TEXT NOT NULL, "expiry" BIGINT, "market" TEXT NOT NULL, "normalized_id" TEXT NOT NULL, '
        '"seen_at" BIGINT NOT NULL)',
        'CREATE UNIQUE INDEX "instruments_key" ON "instruments" ("venue", "symbol")',
        'CREATE INDEX "instruments_asset" ON "instruments" ("asset")',
    )),
    Migration(3, "funding snapshots keep what each side pays where the sides differ (GMX: funding and borrow per "
                 "side); open-interest snapshots keep the long and short sides where a venue publishes both", (
        'ALTER TABLE "funding_rates" ADD COLUMN "funding_long" DOUBLE PRECISION',
        'ALTER TABLE "funding_rates" ADD COLUMN "funding_short" DOUBLE PRECISION',
        'ALTER TABLE "funding_rates" ADD COLUMN "borrow_long" DOUBLE PRECISION',
        'ALTER TABLE "funding_rates" ADD COLUMN "borrow_short" DOUBLE PRECISION',
        'ALTER TABLE "open_interest" ADD COLUMN "long_usd" DOUBLE PRECISION',
        'ALTER TABLE "open_interest" ADD COLUMN "short_usd" DOUBLE PRECISION',
    )),
    Migration(4, "option per-expiry metrics (forward, ATM IV, 25-delta risk reversal and butterfly, put/call "
                 "ratios, max pain, open interest) per venue and across venues", (
        'CREATE TABLE "option_expiries" ("venue" TEXT NOT NULL, "asset" TEXT NOT NULL, "expiry" BIGINT NOT NULL, '
        '"time" BIGINT, "received_at" BIGINT NOT NULL, "days" DOUBLE PRECISION NOT NULL, '
        '"forward" DOUBLE PRECISION, "forward_source" TEXT, "atm_iv" DOUBLE PRECISION, "rr25" DOUBLE PRECISION, '
        '"bf25" DOUBLE PRECISION, "pcr_oi" DOUBLE PRECISION, "pcr_volume" DOUBLE PRECISION, '
        '"pcr_premium" DOUBLE PRECISION, "max_pain" DOUBLE PRECISION, "oi_contracts" DOUBLE PRECISION, '
        '"oi_coins" DOUBLE PRECISION NOT NULL, "oi_usd" DOUBLE PRECISION NOT NULL, '
        '"volume_usd" DOUBLE PRECISION NOT NULL, "options" BIGINT NOT NULL, "call_oi" DOUBLE PRECISION NOT NULL, '
        '"put_oi" DOUBLE PRECISION NOT NULL, "call_volume" DOUBLE PRECISION NOT NULL, '
        '"put_volume" DOUBLE PRECISION NOT NULL)',
        'CREATE UNIQUE INDEX "option_expiries_key" ON "option_expiries" ("venue", "asset", "expiry", '
        '(COALESCE("time", "received_at")))',
        'CREATE INDEX "option_expiries_received_at" ON "option_expiries" ("received_at")',
    )),
    Migration(5, "liquidation events with the position side, the price the venue sent, the quantity in the "
                 "venue's unit, coins and USD, the feed's coverage and a de-duplication key (replaces the unused "
                 "table of step 1); the estimated liquidation map, kept hourly to be scored", (
        'DROP TABLE "liquidations"',
        'CREATE TABLE "liquidations" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"quote" TEXT NOT NULL, "settle" TEXT NOT NULL, "kind" TEXT NOT NULL, "margin" TEXT NOT NULL, '
        '"multiplier" DOUBLE PRECISION NOT NULL, "contract_size" DOUBLE PRECISION NOT NULL, '
        '"contract_unit" TEXT NOT NULL, "expiry" BIGINT, "market" TEXT NOT NULL, "normalized_id" TEXT NOT NULL, '
        '"side" TEXT NOT NULL, "price" DOUBLE PRECISION NOT NULL, "price_kind" TEXT NOT NULL, '
        '"amount" DOUBLE PRECISION NOT NULL, "unit" TEXT NOT NULL, "base" DOUBLE PRECISION NOT NULL, '
        '"usd" DOUBLE PRECISION NOT NULL, "time" BIGINT NOT NULL, "received_at" BIGINT NOT NULL, '
        '"coverage" TEXT NOT NULL, "key" TEXT NOT NULL, "note" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "liquidations_key" ON "liquidations" ("venue", "symbol", "key")',
        'CREATE INDEX "liquidations_time" ON "liquidations" ("time")',
        'CREATE INDEX "liquidations_asset_time" ON "liquidations" ("asset", "time")',
        'CREATE TABLE "liquidation_levels" ("asset" TEXT NOT NULL, "method" TEXT NOT NULL, "time" BIGINT NOT NULL, '
        '"received_at" BIGINT NOT NULL, "price" DOUBLE PRECISION NOT NULL, "side" TEXT NOT NULL, '
        '"low" DOUBLE PRECISION NOT NULL, "high" DOUBLE PRECISION NOT NULL, "usd" DOUBLE PRECISION NOT NULL, '
        '"venues" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "liquidation_levels_key" ON "liquidation_levels" ("asset", "method", "time", "side", '
        '"low")',
        'CREATE INDEX "liquidation_levels_time" ON "liquidation_levels" ("time")',
    )),
    Migration(6, "price quotes keep the contract's rolling 24 h traded volume, one side, in USD and in units of "
                 "the asset (null where the venue's quote answer carries none)", (
        'ALTER TABLE "price_quotes" ADD COLUMN "volume_24h_usd" DOUBLE PRECISION',
        'ALTER TABLE "price_quotes" ADD COLUMN "volume_24h_base" DOUBLE PRECISION',
    )),
    Migration(7, "order-book snapshots hold depth metrics per contract (mid, spread, depth within 1 % per side in "
                 "coins and USD, imbalance, truncation, every band as JSON; replaces the unused table of step 1); "
                 "the basis-trade positions of dtrack carry", (
        'DROP TABLE "book_snapshots"',
        'CREATE TABLE "book_snapshots" ("venue" TEXT NOT NULL, "symbol" TEXT NOT NULL, "asset" TEXT NOT NULL, '
        '"quote" TEXT NOT NULL, "settle" TEXT NOT NULL, "kind" TEXT NOT NULL, "margin" TEXT NOT NULL, '
        '"multiplier" DOUBLE PRECISION NOT NULL, "contract_size" DOUBLE PRECISION NOT NULL, '
        '"contract_unit" TEXT NOT NULL, "expiry" BIGINT, "market" TEXT NOT NULL, "normalized_id" TEXT NOT NULL, '
        '"time" BIGINT, "received_at" BIGINT NOT NULL, "mid" DOUBLE PRECISION NOT NULL, '
        '"best_bid" DOUBLE PRECISION NOT NULL, "best_ask" DOUBLE PRECISION NOT NULL, '
        '"spread_bps" DOUBLE PRECISION NOT NULL, "bid_base_1pct" DOUBLE PRECISION NOT NULL, '
        '"ask_base_1pct" DOUBLE PRECISION NOT NULL, "bid_usd_1pct" DOUBLE PRECISION NOT NULL, '
        '"ask_usd_1pct" DOUBLE PRECISION NOT NULL, "imbalance_1pct" DOUBLE PRECISION, '
        '"truncated_1pct" BOOLEAN NOT NULL, "levels_bid" BIGINT NOT NULL, "levels_ask" BIGINT NOT NULL, '
        '"bands" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "book_snapshots_key" ON "book_snapshots" ("venue", "symbol", (COALESCE("time", '
        '"received_at")))',
        'CREATE INDEX "book_snapshots_received_at" ON "book_snapshots" ("received_at")',
        'CREATE TABLE "carry_positions" ("id" TEXT NOT NULL, "asset" TEXT NOT NULL, "spot_venue" TEXT NOT NULL, '
        '"perp_venue" TEXT NOT NULL, "perp_symbol" TEXT NOT NULL, "size" DOUBLE PRECISION NOT NULL, '
        '"spot_entry" DOUBLE PRECISION NOT NULL, "perp_entry" DOUBLE PRECISION NOT NULL, '
        '"opened_at" BIGINT NOT NULL, "fee_pct" DOUBLE PRECISION NOT NULL, "closed_at" BIGINT, '
        '"spot_exit" DOUBLE PRECISION, "perp_exit" DOUBLE PRECISION, "note" TEXT NOT NULL)',
        'CREATE UNIQUE INDEX "carry_positions_key" ON "carry_positions" ("id")',
        'CREATE INDEX "carry_positions_opened_at" ON "carry_positions" ("opened_at")',
    )),
    Migration(8, "klines keep the bar's high and low beside its close (null in the rows written before, and where "
                 "a period's klines were not all read)", (
        'ALTER TABLE "price_points" ADD COLUMN "high" DOUBLE PRECISION',
        'ALTER TABLE "price_points" ADD COLUMN "low" DOUBLE PRECISION',
    )),
)

LATEST = MIGRATIONS[-1].version
