"""Alerts: rules from settings evaluated on the client's answers, sent to sinks. One job per module:

- ``metrics``: what a rule can watch, read (pure) from the client's results as ``Reading`` s;
- ``rules``: the seeds' default rules, the rules in force, and their evaluation (pure) into ``Alert`` s;
- ``state``: cooldowns and de-duplication kept across runs (a small SQLite file in the state dir);
- ``sinks``: console, JSON lines, a generic webhook, Discord, Slack and Telegram, each in its own format, with
  retries, ``Retry-After`` honoured and every secret masked;
- ``check``: one evaluation from end to end (``AsyncClient.alerts_check``) and a sink's test message
  (``AsyncClient.alerts_test``);
- ``render``: the ``dtrack alerts`` document, tables and rule listing.

Exit codes of ``dtrack alerts check``: 0 nothing fired, 10 something fired (and every sink took it), 11 something
fired and a sink could not be reached; 1 error, 2 bad input, 3 nothing fired but some venues failed.
"""

from __future__ import annotations

#: ``dtrack alerts check``: something fired and every sink took it
EXIT_FIRED = 10
#: ``dtrack alerts check``: something fired and at least one sink could not be reached
EXIT_UNDELIVERED = 11

__all__ = ["EXIT_FIRED", "EXIT_UNDELIVERED"]
