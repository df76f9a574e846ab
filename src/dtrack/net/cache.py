"""On-disk cache of slow-changing venue answers (instrument lists, funding intervals) with a TTL.

Entries are the raw JSON bodies, keyed by the full URL and parameters (so the simulated venues
and the real ones never share entries); each entry also records its URL, and a read checks it: an entry
that holds another endpoint's body (a copied or renamed file, an older key scheme) is a miss and is
dropped. Parsing stays pure and is redone on every read.
Writes are atomic (temp file + rename): a killed process never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class DiskCache:
    """JSON bodies on disk, each with the time it was stored."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.clock = clock

    @staticmethod
    def key(url: str, params: Mapping[str, Any] | None = None, body: Any = None) -> str:
        """A stable key for one request."""
        raw = json.dumps([url, sorted((params or {}).items()), body], sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str, ttl: float, url: str) -> Any | None:
        """The body stored for ``url`` under ``key`` if younger than ``ttl`` seconds, else None.

        An entry whose recorded URL is not ``url`` belongs to another request: it is dropped, never used."""
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            stored = float(entry["stored"])
        except (OSError, ValueError, TypeError, KeyError):  # missing, unreadable or corrupt: a miss
            return None
        stored_url = entry.get("url")
        if stored_url != url:  # another request's body (or an entry from before URLs were recorded)
            log.info("cache: entry %s holds %r, not %r; dropped", key, stored_url, url)
            self.drop(key)
            return None
        if not 0 <= self.clock() - stored <= ttl:
            return None
        return entry.get("body")

    def drop(self, key: str) -> None:
        """Forget an entry (e.g. a stored body that no longer parses)."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cache: could not remove %s (%s)", self._path(key), exc)

    def put(self, key: str, body: Any, url: str) -> None:
        """Store the body fetched from ``url`` (best effort: a read-only cache dir only costs a refetch)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self._path(key).with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"stored": self.clock(), "url": url, "body": body}), encoding="utf-8")
            tmp.replace(self._path(key))
        except OSError as exc:
            log.warning("cache: could not write %s (%s)", self.directory, exc)
