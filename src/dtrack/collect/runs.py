"""A collector run's bookkeeping: its ``collector_runs`` row and heartbeat, and what becomes of runs that died.

A run writes its row when it starts (a fresh ``run_id``, the host, the pid, ``what`` it collects: JSON from
``Plan.what``), refreshes ``last_seen`` at every flush (the heartbeat: at least every ``heartbeat`` seconds),
and on exit sets ``status`` to ``stopped`` (or ``failed``) with ``ended_at``. A later write of the same
``run_id`` overwrites those columns (the table's ``latest`` columns), so the row always says how the run is.

A run killed without a word (SIGKILL, a power cut) stays ``running`` with an old heartbeat. Every collector,
on start and then every heartbeat, looks at the runs still marked ``running`` — of any collector, on any
host — and takes a run for dead when

- on another host: its heartbeat is stale (older than three of its heartbeats plus a flush);
- on this host: its process is gone (or the pid now belongs to a younger process), and its heartbeat is older
  than one heartbeat plus a flush (a live process would have refreshed it: two hosts with one name cannot
  fool this quickly).

A dead run is marked ``killed`` (``ended_at`` = its last heartbeat) and gets one gap row per stream it
watched (``Plan.gap_streams``), from its last heartbeat to now, ``reason`` ``killed``, ``collector`` = its
run id: the hole it left. Two collectors finding the same dead run write the same rows (the natural keys make
it idempotent).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dtrack.records import Gap

if TYPE_CHECKING:
    from dtrack.store import Row, Store

log = logging.getLogger(__name__)

RUNNING, STOPPED, FAILED, KILLED = "running", "stopped", "failed", "killed"
#: a run is stale on another host after this many of its heartbeats (plus a flush) without one
STALE_HEARTBEATS = 3


@dataclass(frozen=True, slots=True)
class RunBook:
    """One run's identity and what it collects; ``row`` gives its ``collector_runs`` row at any moment."""

    run_id: str
    host: str
    pid: int
    started_at: datetime
    what: str

    @classmethod
    def new(cls, what: str, now: datetime) -> RunBook:
        """A fresh run of this process."""
        return cls(run_id=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid(), started_at=now, what=what)

    def row(self, status: str, *, last_seen: datetime | None, ended_at: datetime | None = None,
            note: str = "") -> Row:
        """The run's row as it stands."""
        return {"run_id": self.run_id, "host": self.host, "pid": self.pid, "started_at": self.started_at,
                "ended_at": ended_at, "status": status, "note": note, "last_seen": last_seen, "what": self.what}


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_state(pid: int) -> tuple[str, float | None] | None:
    """(state letter, start time as epoch seconds or None) of a process from ``/proc``; None when there is no
    such process (or no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) ": the comm may hold spaces and parens
    try:
        state, ticks = fields[0], int(fields[19])  # fields 3 and 22 of proc(5)
    except (IndexError, ValueError):
        return None
    boot = _boot_time()
    return state, (boot + ticks / os.sysconf("SC_CLK_TCK")) if boot is not None else None


def pid_gone(pid: int, started_at: datetime) -> bool:
    """Whether the process of a run that started at ``started_at`` is gone on this host: no such pid, a zombie,
    or a pid now held by a process younger than the run."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists (another user's)
        pass
    except (OSError, OverflowError):
        return True
    state = process_state(pid)
    if state is None:
        return os.path.isdir("/proc") and not os.path.exists(f"/proc/{pid}")  # ended since the kill(0)
    letter, born = state
    if letter in ("Z", "X"):
        return True
    return born is not None and born > started_at.timestamp() + 2.0


def _heartbeat_of(row: Row, default: float) -> tuple[float, float]:
    """(heartbeat, flush interval) the run declared in its ``what``, else the defaults."""
    try:
        what = json.loads(str(row.get("what") or "{}"))
        return float(what.get("heartbeat", default)), float(what.get("flush_interval", 1.0))
    except (ValueError, TypeError, AttributeError):
        return default, 1.0


def is_dead(row: Row, *, now: datetime, host: str, heartbeat: float,
            gone: Callable[[int, datetime], bool] = pid_gone) -> bool:
    """Whether a run still marked ``running`` is dead (see the module doc)."""
    seen = row.get("last_seen") or row.get("started_at")
    if not isinstance(seen, datetime):
        return False
    beat, flush = _heartbeat_of(row, heartbeat)
    beat = max(beat, heartbeat)
    silent = (now - seen).total_seconds()
    if row.get("host") == host:
        started, pid = row.get("started_at"), row.get("pid")
        return (silent > beat + flush and isinstance(started, datetime) and isinstance(pid, int)
                and gone(pid, started))
    return silent > STALE_HEARTBEATS * beat + flush


def hole(row: Row, now: datetime) -> list[Gap]:
    """The gap rows a dead run leaves: one per (venue, stream) it watched, from its last heartbeat to ``now``."""
    seen = row.get("last_seen") or row.get("started_at")
    assert isinstance(seen, datetime)
    run_id = str(row["run_id"])
    try:
        pairs = [(str(v), str(s)) for v, s in json.loads(str(row.get("what") or "{}")).get("gap_streams", [])]
    except (ValueError, TypeError, AttributeError):
        pairs = []
    if not pairs:  # a run that did not say what it watched: one gap for all of it
        pairs = [("all", "collector")]
    end = max(now, seen)
    return [Gap(venue=v, stream=s, start=seen, end=end, reason=KILLED, received_at=now, collector=run_id)
            for v, s in pairs]


def sweep(store: Store, me: RunBook, now: datetime, heartbeat: float) -> list[str]:
    """Mark the dead runs of the store ``killed`` and write the gaps they left; their run ids. Runs in the
    writer's thread (it uses the store)."""
    running = store.read("collector_runs", equal={"status": RUNNING})
    dead = [r for r in running if r["run_id"] != me.run_id and is_dead(r, now=now, host=me.host, heartbeat=heartbeat)]
    if not dead:
        return []
    gaps = [g for r in dead for g in hole(r, now)]
    rows: list[dict[str, Any]] = []
    for r in dead:
        seen = r.get("last_seen") or r.get("started_at")
        assert isinstance(seen, datetime)
        why = "its process is gone" if r.get("host") == me.host else "its heartbeat stopped"
        rows.append({**r, "status": KILLED, "ended_at": seen,
                     "note": f"ended without stopping ({why}; no heartbeat since {_iso(seen)}); found by run "
                             f"{me.run_id} on {me.host}"})
    store.write(gaps)
    store.write_rows("collector_runs", rows)
    for r in dead:
        log.info("collector run %s (host %s, pid %s) died: marked killed, gap recorded from its last heartbeat",
                    r["run_id"], r.get("host"), r.get("pid"))
    return [str(r["run_id"]) for r in dead]


def _iso(value: datetime) -> str:
    return (value - timedelta(microseconds=value.microsecond % 1000)).isoformat().replace("+00:00", "Z")
