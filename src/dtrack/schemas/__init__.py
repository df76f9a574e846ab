"""The JSON Schemas (draft 2020-12) of every command's ``--format json`` document, shipped with the
package: ``dtrack schema COMMAND`` prints one; tests validate every command's output against them.

The documents carry ``schema_version`` (``dtrack.results.SCHEMA_VERSION``); enum-like fields are stable
lowercase tokens (a human ``*_label`` beside them where useful) and unknown values are null.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

COMMANDS = ("funding", "oi", "basis", "options", "venues", "instruments", "history", "backfill",
            "liquidations", "liquidation_map", "liquidation_score", "dashboard", "alerts", "book", "execsim",
            "liqprice", "vol", "carry")


def schema_text(command: str) -> str:
    """The schema of ``command``'s document, as shipped (JSON text)."""
    if command not in COMMANDS:
        raise KeyError(f"no schema for {command!r}; commands: {', '.join(COMMANDS)}")
    return resources.files(__package__).joinpath(f"{command}.json").read_text(encoding="utf-8")


def load_schema(command: str) -> dict[str, Any]:
    """The schema of ``command``'s document as a dict."""
    out: dict[str, Any] = json.loads(schema_text(command))
    return out
