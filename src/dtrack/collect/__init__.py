"""The collector daemon behind ``dtrack collect``: scheduled snapshots and live streams written to the history
store in batches, with its run and its gaps recorded. One job per module:

- ``plan``: what to collect (the ``collect:`` settings and the command line's overrides);
- ``writer``: the batch writer (a worker thread; a store that is down is retried with the batch kept, bounded);
- ``runs``: the run's bookkeeping (its ``collector_runs`` row and heartbeat) and recovery of dead runs;
- ``snapshots``: each snapshot kind at its interval through the client;
- ``streams``: the client's live streams into the writer;
- ``backfill``: history missing since the last run, on start;
- ``status``: what happened so far, and the status line;
- ``daemon``: the collector itself, tying them together until stopped.

Nothing here prints: the command passes the writers of its status line and messages.
"""

from dtrack.collect.daemon import Collector
from dtrack.collect.plan import Plan, make_plan

__all__ = ["Collector", "Plan", "make_plan"]
