"""How current a synced ring is (``Status``) and what each publication applied (``Applied``)."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    """The state of a membership sync (``EtcdMembership.status``)."""

    revision: int = 0
    """The last etcd revision applied to the ring (0 before the first list)."""
    synced: bool = False
    """Whether the watch is live: the ring is etcd's as of the last event it delivered."""
    lost_at: float | None = None
    """When (``time.monotonic()``) the sync was last lost; ``None`` while synced or before the
    first list."""
    lists: int = 0
    """How many times the prefix was listed (the first list and each re-list)."""
    skipped: int = 0
    """Values skipped: records that do not decode, configs the ring cannot apply."""
    failed_publications: int = 0
    """Publications the ring refused; the last ring stays."""
    last_error: str | None = None
    """The last error met (connection, compaction, refused publication), if any."""

    def staleness(self, started: float) -> float | None:
        """Seconds the ring may have been behind etcd: ``None`` while synced; the time since the
        sync was lost otherwise (or since ``started``, before the first list)."""
        if self.synced:
            return None
        since = self.lost_at if self.lost_at is not None else started
        return max(0.0, time.monotonic() - since)


@dataclass(frozen=True)
class Applied:
    """One publication of a sync, in order (``EtcdMembership(on_applied=...)``)."""

    revision: int
    """The etcd revision the ring now reflects: every event up to it, none after."""
    revisions: tuple[int, ...]
    """The revisions of the watch events applied (ascending, each once); empty for a list."""
    list: bool
    """Whether this is a (re-)list of the whole prefix rather than watch events."""
    version: int
    """The ring's version after it."""
    fingerprint: int
    """The ring's fingerprint after it."""
    at: float
    """When it was published (``time.monotonic()``)."""
