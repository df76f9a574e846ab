"""Cooldowns and de-duplication across runs: when each alert key was last sent to each sink, in a small SQLite
file of the state dir (``alerts.sqlite3``; ``alerts-sim.sqlite3`` for the simulated venues, which must not hold
back a real alert).

An alert is due for a sink when that sink has not been sent the same key within the alert's cooldown. Claiming is
atomic (one ``BEGIN IMMEDIATE`` transaction for a whole check), so a collector and a cron job checking at the same
moment never both send; a delivery that fails gives its claim back (``release``), so the next check tries again.
The clock is the caller's (epoch seconds passed in): no wall clock here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from dtrack.errors import ConfigError

#: rows older than this are dropped when the book opens (longer than any cooldown or event memory)
KEEP_SECONDS = 31 * 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    key TEXT NOT NULL,
    sink TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (key, sink)
) WITHOUT ROWID
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """One (key, sink) claimed at ``at``; ``previous``: when it had been sent before (None: never)."""

    key: str
    sink: str
    at: float
    previous: float | None


def book_path(state_dir: Path, simulated: bool) -> Path:
    """Where the alert state lives."""
    return state_dir / ("alerts-sim.sqlite3" if simulated else "alerts.sqlite3")


class AlertBook:
    """The alert state at ``path`` (created on first use). Use as a context manager, or ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"alert state {str(path)!r} cannot be opened ({exc}); set state_dir or "
                              f"DTRACK_STATE_DIR to a writable directory") from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def last(self, key: str, sink: str) -> float | None:
        """When ``key`` was last sent to ``sink`` (epoch seconds), or None."""
        row = self._db.execute("SELECT at FROM sent WHERE key = ? AND sink = ?", (key, sink)).fetchone()
        return float(row[0]) if row is not None else None

    def due(self, key: str, sink: str, now: float, cooldown: float) -> bool:
        """Whether ``key`` may be sent to ``sink`` at ``now`` (nothing written)."""
        last = self.last(key, sink)
        return last is None or now - last >= cooldown or now < last

    def claim(self, wanted: Iterable[tuple[str, str, float]], now: float) -> list[Claim]:
        """Claim each due ``(key, sink, cooldown)`` at ``now``, atomically; the claims made (the rest are held by
        their cooldown). Rows older than ``KEEP_SECONDS`` are dropped on the way."""
        claims: list[Claim] = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM sent WHERE at < ?", (now - KEEP_SECONDS,))
            for key, sink, cooldown in wanted:
                row = db.execute("SELECT at FROM sent WHERE key = ? AND sink = ?", (key, sink)).fetchone()
                last = float(row[0]) if row is not None else None
                # a clock set back (now < last) must not silence a rule for the whole gap
                if last is not None and 0 <= now - last < cooldown:
                    continue
                db.execute("INSERT OR REPLACE INTO sent (key, sink, at) VALUES (?, ?, ?)", (key, sink, now))
                claims.append(Claim(key, sink, now, last))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return claims

    def release(self, claims: Sequence[Claim]) -> None:
        """Give back claims whose delivery failed: each (key, sink) as it was before (unless claimed again since)."""
        if not claims:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for c in claims:
                if c.previous is None:
                    db.execute("DELETE FROM sent WHERE key = ? AND sink = ? AND at = ?", (c.key, c.sink, c.at))
                else:
                    db.execute("UPDATE sent SET at = ? WHERE key = ? AND sink = ? AND at = ?",
                               (c.previous, c.key, c.sink, c.at))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
