"""The layering rules of DESIGN §1, the capability contract of the registry, and a light ``import dtrack``.

- ``report/`` imports nothing from ``venues/`` (or ``net/``, ``client/``); ``analytics/`` never imports
  ``venues``, ``net`` or ``client``; ``records`` imports nothing from the project.
- ``cli/*.py`` hold no per-venue job: no ``asyncio.gather``, no adapter, no venue pool.
- Every venue declares in its capability table exactly what its adapter implements.
- ``import dtrack`` and ``dtrack --help`` import neither numpy, pandas nor aiohttp.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from dtrack.records import DataKind
from dtrack.venues import VENUES, Capability, VenueInfo, adapter_class
from dtrack.venues.base import Adapter

SRC = Path(__file__).resolve().parents[1] / "src" / "dtrack"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports are not used in dtrack)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(("package", "forbidden"), [
    ("report", ("dtrack.venues", "dtrack.net", "dtrack.client", "dtrack.sim")),
    ("analytics", ("dtrack.venues", "dtrack.net", "dtrack.client", "dtrack.store", "dtrack.sim")),
    ("cli", ("dtrack.venues.base", "dtrack.venues.pool", "dtrack.net")),
])
def test_layers_import_only_downwards(package: str, forbidden: tuple[str, ...]) -> None:
    bad = [(p.name, m) for p in sorted((SRC / package).glob("*.py")) for m in imports_of(p)
           if m.startswith(forbidden)]
    assert bad == []


def test_records_import_nothing_from_the_project() -> None:
    assert [m for m in imports_of(SRC / "records.py") if m.startswith("dtrack")] == []


def test_commands_hold_no_orchestration() -> None:
    """A command is: parse arguments -> one client call -> render -> exit code."""
    for path in sorted((SRC / "cli").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "asyncio.gather" not in text, path.name
        assert ".fetch_" not in text and "adapter" not in text.lower(), path.name


# --- the capability contract -------------------------------------------------------------------------------

#: the adapter method that implements each REST data kind
METHODS: Mapping[DataKind, str] = {
    DataKind.FUNDING: "fetch_funding_rates",
    DataKind.FUNDING_HISTORY: "fetch_funding_history",
    DataKind.OPEN_INTEREST: "fetch_open_interest",
    DataKind.OI_HISTORY: "fetch_oi_history",
    DataKind.LONG_SHORT: "fetch_long_short",
    DataKind.KLINES: "fetch_price_history",
    DataKind.QUOTES: "fetch_quotes",
    DataKind.SPOT: "fetch_spot",
    DataKind.OPTION_CHAIN: "fetch_option_chain",
    DataKind.VOL_INDEX: "fetch_vol_index",
    DataKind.REALIZED_VOL: "fetch_realized_vol",
    DataKind.OPTION_TRADES: "fetch_option_trades",
    DataKind.ORDER_BOOK: "fetch_order_book",
    DataKind.MARGIN_TIERS: "fetch_margin_tiers",
}
#: kinds read by a second REST method too (klines: closes for the series, OHLCV candles for the quant toolkit)
ALSO: Mapping[DataKind, str] = {DataKind.KLINES: "fetch_candles"}


def contract_problems(venues: Iterable[VenueInfo]) -> list[str]:
    """Every place where a venue declares what its adapter does not implement, or implements what it does
    not declare (a data kind the table leaves out counts as a broken declaration too)."""
    problems: list[str] = []
    for info in venues:
        if info.adapter is None:
            if any(c.supported for c in info.capabilities.values()):
                problems.append(f"{info.name}: declares data but has no adapter")
            continue
        cls = adapter_class(info.name)
        if set(cls.hosts) != set(info.hosts):
            problems.append(f"{info.name}: registry hosts {info.hosts} != adapter hosts {tuple(cls.hosts)}")
        for kind in DataKind:
            if kind not in info.capabilities:
                problems.append(f"{info.name}: no declaration for {kind.value}")
                continue
            cap = info.capabilities[kind]
            # the REST methods (none for a kind only a stream can carry)
            for method in (m for m in (METHODS.get(kind), ALSO.get(kind)) if m is not None):
                implemented = getattr(cls, method, None) is not getattr(Adapter, method, None)
                declared = cap.rest is not None
                if implemented != declared:
                    problems.append(f"{info.name}: {kind.value} declared {'supported' if declared else 'unsupported'} "
                                    f"but {method} is {'implemented' if implemented else 'not implemented'}")
            # a stream channel is declared exactly for the kinds the adapter's stream() carries
            streamed = kind in cls.stream_kinds and cls.stream is not Adapter.stream
            if streamed != (cap.stream is not None):
                problems.append(f"{info.name}: {kind.value} declared {'streamed' if cap.stream else 'not streamed'} "
                                f"but stream() {'carries' if streamed else 'does not carry'} it")
    return problems


def test_every_venue_declares_exactly_what_it_implements() -> None:
    assert contract_problems(VENUES.values()) == []


@pytest.mark.parametrize(("venue", "kind", "capability"), [
    ("deribit", DataKind.OI_HISTORY, Capability(rest="/api/v2/public/get_open_interest_history")),  # not implemented
    ("binance", DataKind.SPOT, Capability(note="declared missing")),  # implemented, not declared
    ("hyperliquid", DataKind.LIQUIDATIONS, Capability(stream="userFills {user}")),  # a stream nobody wrote
    ("okx", DataKind.LIQUIDATIONS, Capability(note="declared missing")),  # streamed, not declared
])
def test_the_contract_check_catches_a_broken_declaration(venue: str, kind: DataKind, capability: Capability) -> None:
    """The check above must fail on a scratch copy of the registry with one declaration broken."""
    scratch = {**VENUES, venue: replace(VENUES[venue], capabilities={**VENUES[venue].capabilities, kind: capability})}
    problems = contract_problems(scratch.values())
    assert len(problems) == 1 and problems[0].startswith(f"{venue}: {kind.value} declared")


def test_a_missing_declaration_is_caught() -> None:
    caps = {k: c for k, c in VENUES["okx"].capabilities.items() if k is not DataKind.ORDER_BOOK}
    scratch = [replace(VENUES["okx"], capabilities=caps)]
    assert contract_problems(scratch) == ["okx: no declaration for order_book"]


def test_venues_command_and_readme_table_come_from_the_registry() -> None:
    run = subprocess.run([sys.executable, "-m", "dtrack", "venues", "--format", "json"], capture_output=True,
                         text=True, timeout=60, check=True)
    doc = json.loads(run.stdout)
    hl = next(v for v in doc["venues"] if v["venue"] == "hyperliquid")
    assert hl["data"]["liquidations"] == {"supported": False, "rest": None, "stream": None, "history": None,
                                          "sampled": False,
                                          "note": "Hyperliquid publishes no market-wide liquidation feed"}
    assert hl["data"]["funding"]["rest"] == "/info metaAndAssetCtxs + predictedFundings"
    readme = (SRC.parents[1] / "README.md").read_text(encoding="utf-8")
    table = subprocess.run([sys.executable, "-m", "dtrack", "venues", "--markdown"], capture_output=True, text=True,
                           timeout=60, check=True).stdout.strip()
    assert table in readme, "README venue table is stale: paste `dtrack venues --markdown`"


# --- schemas -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["funding", "oi", "basis", "options", "venues", "instruments"])
def test_dtrack_schema_prints_a_valid_schema(command: str) -> None:
    run = subprocess.run([sys.executable, "-m", "dtrack", "schema", command], capture_output=True, text=True,
                         timeout=60, check=True)
    schema = json.loads(run.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"] == {"const": 1}


# --- a light import ----------------------------------------------------------------------------------------

HEAVY = ("numpy", "pandas", "aiohttp")


@pytest.mark.parametrize("code", ["import dtrack", "import dtrack; dtrack.Client; dtrack.FundingResult",
                                  "import sys; sys.argv = ['dtrack', '--help']\nfrom dtrack.cli.main import main\n"
                                  "try:\n    main()\nexcept SystemExit:\n    pass"])
def test_import_and_help_load_no_heavy_library(code: str) -> None:
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in run.stderr.splitlines() if "|" in line}
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)
