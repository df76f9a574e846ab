"""What a collector run did so far (``Tally``) and how it is shown: a status line on stderr, redrawn in place
on a terminal at most every few seconds, a plain line now and then otherwise (a log, the journal), and
messages of their own (a store outage, a venue failing) that never garble it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

#: tables in the order the status line names them, with short labels
_LABELS = {"funding_rates": "funding", "open_interest": "oi", "price_quotes": "quotes", "spot_prices": "spot",
           "option_expiries": "options", "option_quotes": "chains", "funding_points": "funding-hist",
           "oi_points": "oi-hist", "price_points": "klines", "instruments": "instruments", "gaps": "gaps"}


@dataclass(slots=True)
class Tally:
    """Counters of one run: rows new in the store per table, gaps seen, failures per venue, rows dropped while
    the store was down, rows waiting to be written, and the store's state."""

    started: float = field(default_factory=time.monotonic)
    written: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    waiting: int = 0
    store_down_since: float | None = None
    store_error: str = ""
    rounds: int = 0

    def add_written(self, counts: dict[str, int]) -> None:
        """Rows a flush added, per table."""
        for table, n in counts.items():
            if n:
                self.written[table] = self.written.get(table, 0) + n

    def add_failures(self, venues: Iterable[str]) -> None:
        """One failure per venue named."""
        for venue in venues:
            self.failures[venue] = self.failures.get(venue, 0) + 1

    def line(self) -> str:
        """The status line: uptime, rows per table, gaps, failures, the store."""
        up = int(time.monotonic() - self.started)
        rows = " ".join(f"{_LABELS.get(t, t)} {n:,}" for t, n in sorted(
            self.written.items(), key=lambda kv: list(_LABELS).index(kv[0]) if kv[0] in _LABELS else 99)
            if t not in ("gaps", "collector_runs")) or "none yet"
        fails = sum(self.failures.values())
        parts = [f"collect {up // 3600:d}:{up // 60 % 60:02d}:{up % 60:02d}", f"rows {rows}", f"gaps {self.gaps}",
                 f"failures {fails}" + (f" ({', '.join(sorted(self.failures))})" if fails else "")]
        if self.store_down_since is not None:
            parts.append(f"store DOWN {int(time.monotonic() - self.store_down_since)} s, {self.waiting:,} rows kept")
        if self.dropped:
            parts.append(f"dropped {self.dropped:,}")
        return " | ".join(parts)


class StatusLine:
    """The status line on ``out`` (stderr): on a terminal redrawn in place at most every ``tty_every`` s;
    otherwise one plain line every ``plain_every`` s. ``out=None`` shows nothing (``--quiet``) but messages."""

    def __init__(self, out: TextIO | None, *, messages: TextIO | None = None, tty: bool = False,
                 tty_every: float = 2.0, plain_every: float = 60.0) -> None:
        self.out = out
        self.messages = messages if messages is not None else out
        self.tty = tty
        self.every = tty_every if tty else plain_every
        self._last = time.monotonic()  # the first line after ``every``: a short run shows only its summary
        self._drawn = False

    def update(self, tally: Tally, *, force: bool = False) -> None:
        """Show the line if it is due (or ``force``)."""
        if self.out is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        if self.tty:
            self.out.write("\r\x1b[K" + tally.line())
            self._drawn = True
        else:
            self.out.write("dtrack collect: " + tally.line() + "\n")
        self.out.flush()

    def message(self, text: str) -> None:
        """A line of its own (``dtrack collect: …``), shown even when the status line is not."""
        if self.messages is None:
            return
        if self._drawn and self.messages is self.out:
            self.messages.write("\r\x1b[K")
            self._drawn = False
        self.messages.write(f"dtrack collect: {text}\n")
        self.messages.flush()

    def info(self, text: str) -> None:
        """A line of its own that is news, not a problem: shown unless the status line is off (``--quiet``)."""
        if self.out is not None:
            self.message(text)

    def close(self, tally: Tally) -> None:
        """The last line (always, unless quiet), ending the redrawn one."""
        if self.out is None:
            return
        if self.tty:
            self.out.write("\r\x1b[K")
        self.out.write("dtrack collect: " + tally.line() + "\n")
        self.out.flush()
        self._drawn = False
