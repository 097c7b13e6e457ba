"""``EtcdMembership``: a HashRing kept in sync with a membership in etcd.

A daemon thread lists the prefix at revision R and publishes it as one ring transaction, then
watches from R + 1; each batch of watch responses that arrived together (whole etcd revisions:
etcd never splits a revision across responses) is one transaction. On compaction, a lost
connection or a member without a leader, it re-lists with backoff while the ring keeps its last
state. A reader thread turns the watch stream into a queue; while the stream is quiet, the sync
probes its member every ``probe_interval`` so that a dead or leaderless member is noticed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import replace
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from ringroute import HashRing
from ringroute.membership._gateway import EtcdError, Gateway, WatchStream, unb64
from ringroute.membership._gateway import _int as gw_int
from ringroute.membership._records import Layout, Records, Touched
from ringroute.membership._status import Applied, Status

log = logging.getLogger("ringroute")

__all__ = ["EtcdMembership"]


class _End:
    """The watch reader's last message: the stream ended, with this error."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return float(value)


class EtcdMembership:
    """Keeps ``ring`` in sync with the membership under ``prefix`` in the etcd cluster at
    ``endpoints`` (``host:port`` strings, tried in turn).

    Keys: ``<prefix>/nodes/<name>`` (a JSON record ``{"weight", "hostname", "port", "meta"}``,
    every field optional; ``meta`` becomes the node's ``instance``), ``<prefix>/health/<name>``
    (``up`` or ``down``), ``<prefix>/config`` (``{"placement", "virtual_nodes", "table_size"}``,
    applied if it names the ring's own settings, skipped otherwise). A bad value is skipped,
    counted (``status.skipped``) and logged with its key on the ``ringroute`` logger; the key then
    counts as absent.

    The sync is the ring's only writer while it runs. ``timeout`` bounds every request;
    ``backoff`` is the first and the longest wait before a re-list; while the watch is quiet, its
    member is probed every ``probe_interval`` seconds (a dead or leaderless member ends the watch);
    ``on_applied`` is called (in the sync's thread) after each publication with its ``Applied``.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        ring: HashRing,
        endpoints: Sequence[str] = ("127.0.0.1:2379",),
        prefix: str = "/ringroute/cache",
        *,
        timeout: float = 3.0,
        backoff: tuple[float, float] = (0.05, 2.0),
        probe_interval: float = 1.0,
        on_applied: Callable[[Applied], object] | None = None,
    ) -> None:
        if not isinstance(ring, HashRing):
            raise TypeError(f"ring must be a ringroute.HashRing, not {type(ring).__name__}")
        self._gateway = Gateway(endpoints, _positive(timeout, "timeout"))
        self._layout = Layout(prefix)
        if not isinstance(backoff, tuple) or len(backoff) != 2:
            raise TypeError("backoff must be a tuple (first, longest) of seconds")
        first = _positive(backoff[0], "backoff")
        self._backoff = (first, max(first, _positive(backoff[1], "backoff")))
        self._probe_interval = _positive(probe_interval, "probe_interval")
        if on_applied is not None and not callable(on_applied):
            raise TypeError("on_applied must be callable")
        self._on_applied = on_applied
        self._ring = ring
        self._records = Records(self._layout)
        self._status = Status()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: WatchStream | None = None
        self._inbox: queue.SimpleQueue[dict[str, Any] | _End] = queue.SimpleQueue()
        self._started = time.monotonic()
        # The applier's state across sessions.
        self._applied_revision = 0
        self._retry_all = False
        self._pending: list[int] = []
        self._created = False

    # --- the public surface ---------------------------------------------------------------

    @property
    def ring(self) -> HashRing:
        """The ring this sync publishes to."""
        return self._ring

    @property
    def prefix(self) -> str:
        """The membership's key prefix, with one trailing ``/``."""
        return self._layout.root

    def start(self) -> Self:
        """Starts the sync's daemon thread (once). The ring keeps its nodes until the first list."""
        with self._cond:
            if self._thread is not None:
                raise RuntimeError("this EtcdMembership was already started")
            self._started = time.monotonic()
            self._thread = threading.Thread(
                target=self._run, name=f"ringroute-etcd {self._layout.root}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the sync and waits (at most ``timeout`` seconds) for its thread; the ring keeps
        its last state. A publication is one transaction, so stopping never leaves half of one."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        self._inbox.put(_End(EtcdError("stopped")))  # wakes the sync thread at once
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._cond:
            self._status = _replace(self._status, synced=False, lost_at=time.monotonic())
            self._cond.notify_all()
        self._gateway.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def status(self) -> Status:
        """The sync's status: revision, whether synced, since when not, what was skipped."""
        with self._cond:
            return self._status

    @property
    def revision(self) -> int:
        """The last etcd revision applied to the ring (0 before the first list)."""
        return self.status.revision

    @property
    def synced(self) -> bool:
        """Whether the watch is live (the ring is etcd's as of the last event delivered)."""
        return self.status.synced

    @property
    def staleness(self) -> float | None:
        """Seconds the ring may have been behind etcd; ``None`` while synced."""
        return self.status.staleness(self._started)

    def wait_synced(self, timeout: float) -> int:
        """Waits until the sync is live; returns the revision applied then. ``TimeoutError``
        after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._status.synced, timeout):
                raise TimeoutError(
                    f"membership not synced after {timeout} s: {self._status.last_error}"
                )
            return self._status.revision

    def wait_revision(self, revision: int, timeout: float) -> None:
        """Waits until the ring has applied ``revision`` or a later one (``TimeoutError``)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._status.revision >= revision, timeout):
                raise TimeoutError(
                    f"revision {revision} not applied after {timeout} s (at "
                    f"{self._status.revision}: {self._status.last_error})"
                )

    def ring_at(self, revision: int = 0) -> tuple[HashRing, int]:
        """The ring of the membership at ``revision`` (0: the latest), built from scratch with this
        ring's settings, and the revision read. Bad records are skipped as the sync skips them, so
        a ring synced at that revision has the same fingerprint, nodes and health."""
        read, items = self._gateway.range_prefix(self._layout.root_bytes, revision)
        records = Records(self._layout)
        records.load(items, Touched())
        return records.ring(self._ring), read

    # --- the sync thread ------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        with self._cond:
            self._status = _replace(self._status, **changes)
            self._cond.notify_all()

    def _lost(self, error: BaseException) -> None:
        log.warning("membership sync of %s lost: %s; re-listing", self._layout.root, error)
        with self._cond:
            s = self._status
            lost_at = time.monotonic() if s.synced or s.lost_at is None else s.lost_at
            self._status = _replace(s, synced=False, lost_at=lost_at, last_error=str(error))
            self._cond.notify_all()

    def _run(self) -> None:
        first, longest = self._backoff
        backoff = first
        while not self._stop.is_set():
            self._created = False
            try:
                self._session()
            except Exception as e:  # noqa: BLE001 - any failure ends the session, never the sync
                if self._stop.is_set():
                    break
                if self._created:
                    backoff = first
                if not isinstance(e, (EtcdError, OSError, ValueError)):
                    log.exception("membership sync of %s: unexpected error", self._layout.root)
                self._lost(e)
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, longest)
            self._gateway.rotate()

    def _publish(self, touched: Touched, revision: int, revisions: list[int], listed: bool) -> None:
        touched.all = touched.all or self._retry_all
        self._pending.extend(revisions)
        try:
            self._records.publish(self._ring, touched)
        except Exception as e:  # noqa: BLE001 - a refused publication keeps the last ring
            self._retry_all = True
            log.error(
                "membership at revision %d not published, the last ring stays: %s", revision, e
            )
            self._update(
                failed_publications=self._status.failed_publications + 1,
                skipped=self._records.skipped,
                last_error=str(e),
            )
            return
        self._retry_all = False
        self._applied_revision = revision
        applied = Applied(
            revision=revision,
            revisions=tuple(self._pending),
            list=listed,
            version=self._ring.version,
            fingerprint=self._ring.fingerprint,
            at=time.monotonic(),
        )
        self._pending = []
        self._update(revision=revision, skipped=self._records.skipped)
        if self._on_applied is not None:
            try:
                self._on_applied(applied)
            except Exception:  # noqa: BLE001 - a caller's callback never stops the sync
                log.exception("membership sync: on_applied callback failed")

    def _session(self) -> None:
        """One session: list, then watch until an error ends it (raised) or the sync stops."""
        root = self._layout.root_bytes
        listed, items = self._gateway.range_prefix(root)
        self._records.clear()
        touched = Touched(all=True)
        self._records.load(items, touched)
        self._pending = []
        self._update(lists=self._status.lists + 1)
        self._publish(touched, listed, [], True)

        stream = self._gateway.watch(root, listed + 1)
        self._stream = stream
        # A queue per session: nothing of an earlier watch is read in this one.
        inbox: queue.SimpleQueue[dict[str, Any] | _End] = queue.SimpleQueue()
        self._inbox = inbox
        reader = threading.Thread(
            target=_read, args=(stream, inbox), name="ringroute-etcd watch", daemon=True
        )
        try:
            if self._stop.is_set():
                return
            reader.start()
            while not self._stop.is_set():
                try:
                    first = inbox.get(timeout=self._probe_interval)
                except queue.Empty:
                    self._gateway.probe(root, self._gateway.timeout)
                    continue
                batch = [first]
                while not isinstance(batch[-1], _End):
                    try:
                        batch.append(inbox.get_nowait())
                    except queue.Empty:
                        break
                self._apply_batch(batch)
        finally:
            self._stream = None
            stream.close()
            reader.join(self._gateway.timeout)

    def _apply_batch(self, batch: list[dict[str, Any] | _End]) -> None:
        """Applies a batch of watch messages as one publication; raises the error that ended the
        stream (after publishing the events before it)."""
        touched = Touched()
        revisions: list[int] = []
        end: BaseException | None = None
        for message in batch:
            if isinstance(message, _End):
                end = message.error
                break
            if message.get("created"):
                self._created = True
                self._update(synced=True, lost_at=None)
            compacted = gw_int(message.get("compact_revision"), "compact_revision")
            if compacted > 0 or message.get("canceled"):
                if compacted > 0:
                    end = EtcdError(
                        f"watch from revision {self._applied_revision + 1} compacted "
                        f"(etcd's history starts at {compacted})"
                    )
                else:
                    end = EtcdError(f"watch cancelled: {message.get('cancel_reason', '')}")
                break
            for event in message.get("events") or []:
                kv = event.get("kv")
                if not isinstance(kv, dict):
                    continue
                rev = gw_int(kv.get("mod_revision"), "mod_revision")
                if rev <= self._applied_revision or (revisions and rev < revisions[-1]):
                    continue
                value = None if event.get("type") == "DELETE" else unb64(kv.get("value", ""))
                self._records.apply(unb64(kv["key"]), value, touched)
                if not revisions or revisions[-1] != rev:
                    revisions.append(rev)
        if revisions:
            self._publish(touched, revisions[-1], revisions, False)
        if end is not None:
            raise end


def _read(stream: WatchStream, inbox: queue.SimpleQueue[dict[str, Any] | _End]) -> None:
    """The watch reader: every message of ``stream`` into ``inbox``, then an ``_End``."""
    try:
        for message in stream.messages():
            inbox.put(message)
        inbox.put(_End(EtcdError("the watch ended")))
    except BaseException as e:  # noqa: BLE001 - handed to the sync thread
        inbox.put(_End(e))


def _replace(status: Status, **changes: Any) -> Status:
    return replace(status, **changes)
