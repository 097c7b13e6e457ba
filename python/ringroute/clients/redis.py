"""``RedisRing``: a replicated cache over independent Redis servers (not Redis Cluster), routed by a
ringroute ``HashRing``, on redis-py.

Every key lives on its ``replicas`` distinct ring successors (``HashRing.get_replicas``). Writes go
to all of them, reads to the first that answers, deletes to all. A server that fails (connection
refused, reset, timeout) is marked down on the ring (``HashRing.mark_down``: no rebuild; the ring's
lookups skip it, so its keys go to the next up server of their ring walk and no other key moves).
Once its ``cooldown`` is over, the client's next operation probes it (PING) and marks it up again if
it answers, so it comes back by itself. Writes it missed meanwhile are remembered (up to
``max_hints`` keys): their keys are deleted on it before it is marked up and copied back from a
live replica right after, so it never serves a stale copy of them.

``add_node``/``remove_node`` change membership at run time; ``rebalance()`` then copies every key
whose replica set changed onto its new replicas (SCAN, DUMP/RESTORE with the remaining TTL), so
scaling out or in loses nothing. Until it has run, reads also look at the keys' previous replicas.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from datetime import timedelta
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Union

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError
from redis.retry import Retry

from ringroute import HashRing
from ringroute.clients._servers import Server, ServerSpec, parse_server, parse_servers

__all__ = ["RedisRing", "RebalanceReport"]

log = logging.getLogger("ringroute.clients.redis")

#: Redis's default port, used for a server given as ``"host"``.
DEFAULT_PORT = 6379

KeyT = Union[str, bytes]
ValueT = Union[bytes, str, int, float]

#: The failures that mark a server down (not bad credentials: those are configuration errors).
_CONNECTION_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_CONFIG_ERRORS = (AuthenticationError, AuthorizationError)

#: Rounds of clearing the keys a returning server missed (one pipelined DEL each) before it is
#: marked up; each round clears the writes it missed during the one before. If writes still came in
#: after the last, it stays down and the next operation goes on with it.
_CLEAR_ROUNDS = 8

#: Locks striped by key: the writes of one key (``set``, ``delete``, a repair's or a rebalance's
#: copy) from one client are made one after the other, each reaching all its replicas before the
#: next starts, so every replica sees the same order and ends with the same value.
_STRIPES = 1024


def _is_connection_failure(exc: BaseException) -> bool:
    return isinstance(exc, _CONNECTION_ERRORS) and not isinstance(exc, _CONFIG_ERRORS)


def _check_key(key: object) -> KeyT:
    if isinstance(key, (str, bytes)):
        return key
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"RedisRing keys are str or bytes, not {type(key).__name__}: {key!r}")


@dataclass
class RebalanceReport:
    """What ``rebalance()`` did. ``complete`` is false if a server failed on the way (the keys it
    was the source of may lack copies: run ``rebalance()`` again once it is back)."""

    servers: int = 0
    servers_done: int = 0
    scanned: int = 0
    moved: int = 0
    copies: int = 0
    already_there: int = 0
    pruned: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.errors


class RedisRing:
    """A cache over independent Redis servers with ``replicas`` copies of every key.

    ``RedisRing(servers, *, replicas=2, placement="native", virtual_nodes=None, **redis_kwargs)``

    - ``servers``: ``"host:port"``, ``(host, port)`` or ``(host, port, weight)``.
    - ``replicas``: copies of each key (on distinct servers; fewer if the pool is smaller).
    - ``placement``, ``virtual_nodes``: of the ``HashRing`` (``ringroute.PROFILES``).
    - ``cooldown``: seconds a failed server stays marked down before it is probed again.
    - ``max_value_size``: values longer than this (bytes) are refused before anything is sent
      (Redis's own limit, ``proto-max-bulk-len``, is 512 MiB by default and closes the connection).
    - ``max_hints``: keys remembered per down server for its repair when it returns.
    - ``redis_kwargs``: ``redis.Redis`` arguments for every server (``db``, ``password``,
      ``socket_timeout``, ...). Defaults here: ``socket_connect_timeout=0.5``,
      ``socket_timeout=1.0`` and one immediate retry, so a dead server costs little.

    Values are bytes/str/int/float as in redis-py (stored as given, returned as bytes unless
    ``decode_responses=True``). Connection failures never raise from ``get``/``set``/``delete``
    while a server of the key answers; any other error (``ResponseError``, ``DataError``,
    ``TypeError`` for a bad key, ...) propagates. The servers' databases belong to the ring:
    ``rebalance(prune=True)`` deletes keys a server no longer owns.

    Health lives on the ring (``ring``): a failing server is marked down on it, and every lookup
    (``get_replicas``, ``iterate_nodes``, ...) skips it. Probing is driven by the client's own
    operations: each ``get``/``set``/``delete`` first checks (one clock read) whether a down
    server's cooldown is over, and if so probes it (PING, with the client's timeouts) in that
    operation. One that answers has the keys it missed cleared, is marked up, and gets them copied
    back from a live replica; one that does not stays down for another cooldown.
    The ring's all-down policy is ``"fail"``: with every server down its lookups find nothing, so
    ``get`` returns ``None``, ``set`` ``False`` and ``delete`` 0 at once (a miss, not an error)
    without waiting on a dead server; the writes are remembered for repair.

    Safe to share between threads for ``get``/``set``/``delete`` (the ring is lock-free; the
    cooldowns, hints and counters are under a lock); change membership and rebalance from one
    thread.

    Write order: the writes of one key made through one ``RedisRing`` (``set``, ``delete``, and the
    copies of a repair or a ``rebalance()``) hold a lock striped by key while they reach the key's
    replicas, so concurrent writers of a key from threads of one process leave every replica with
    the same value, and a read after a failover returns what the failed primary held. Across
    processes (or two ``RedisRing`` objects) nothing orders the writes of one key: two writers that
    race on a key may leave its replicas with different values until the next write of it. Give each
    key one writing process, or write values that carry their own version if that matters.
    """

    def __init__(
        self,
        servers: Iterable[ServerSpec],
        *,
        replicas: int = 2,
        placement: str = "native",
        virtual_nodes: int | None = None,
        cooldown: float = 5.0,
        max_value_size: int = 512 * 1024 * 1024,
        max_hints: int = 100_000,
        **redis_kwargs: Any,
    ) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"replicas must be an int >= 1, not {replicas!r}")
        if cooldown < 0:
            raise ValueError("cooldown must be >= 0")
        self.replicas = replicas
        self.cooldown = float(cooldown)
        self.max_value_size = max_value_size
        self.max_hints = max_hints
        self._placement = placement
        self._virtual_nodes = virtual_nodes
        redis_kwargs.setdefault("socket_connect_timeout", 0.5)
        redis_kwargs.setdefault("socket_timeout", 1.0)
        redis_kwargs.setdefault("retry", Retry(NoBackoff(), 1))
        self._redis_kwargs = redis_kwargs
        parsed = parse_servers(servers, DEFAULT_PORT)
        self._lock = threading.Lock()
        self._stripes = tuple(threading.Lock() for _ in range(_STRIPES))
        # Down servers -> when they may be probed again (the skipping itself is the ring's), and
        # the earliest of those deadlines (read without the lock: the cheap per-operation check).
        self._down_until: dict[str, float] = {}
        self._next_probe = math.inf
        self._recheck: set[str] = set()  # marked down by a missed write racing its return
        # The ring the lookups use (down servers marked down on it) and the same membership never
        # marked down (the replica sets a key *should* have: hints, rebalance, ``replicas_for``).
        self._ring = self._new_ring()
        self._ring.set_all_down("fail")
        self._topology = self._new_ring()
        self._servers: dict[str, Server] = {}
        self._clients: dict[str, redis.Redis] = {}
        for s in parsed:
            self._join(s)
        # Membership at the last rebalance (or construction): the ring keys were placed on.
        self._settled: dict[str, int] = {s.name: s.weight for s in parsed}
        self._settled_ring: HashRing | None = None
        self._retired: dict[str, redis.Redis] = {}
        self._hints: dict[str, set[KeyT]] = {}
        self._hints_lost: set[str] = set()
        self._routed: Counter[str] = Counter()
        # Reads that found a value (hits), found none (misses), were answered by another server
        # than the key's primary (failovers); keys copied back to a returning server (repairs).
        self._stats: Counter[str] = Counter()

    # -- membership -------------------------------------------------------------------------------

    def _new_ring(self) -> HashRing:
        return HashRing(self._virtual_nodes, placement=self._placement)

    def _join(self, s: Server) -> None:
        self._clients[s.name] = redis.Redis(host=s.host, port=s.port, **self._redis_kwargs)
        self._servers[s.name] = s
        self._topology.add_node(s.name, s.weight)
        self._ring.add_node(s.name, s.weight)
        with self._lock:
            if s.name in self._down_until:  # failed while retired: down until its probe
                self._ring.mark_down(s.name)

    @property
    def ring(self) -> HashRing:
        """The client's ``HashRing``: every server of the pool, the failing ones marked down
        (``ring.down_nodes``), so its lookups answer where the client sends a key now. Its
        all-down policy is ``"fail"``. Change membership with ``add_node``/``remove_node``."""
        return self._ring

    @property
    def nodes(self) -> list[str]:
        """The servers of the pool, ``"host:port"``."""
        return list(self._clients)

    @property
    def rebalance_pending(self) -> bool:
        """Whether membership changed since the last ``rebalance()``."""
        return self._settled != {n: s.weight for n, s in self._servers.items()}

    def client(self, name: str) -> redis.Redis:
        """The redis-py client of one server (for inspection and tests)."""
        return self._clients[name]

    def add_node(self, server: ServerSpec, *, flush: bool = False) -> None:
        """Add a server at run time. It should be empty (``flush=True`` empties its database first):
        ``rebalance()`` never overwrites a key a server already holds. Call ``rebalance()`` next."""
        s = parse_server(server, DEFAULT_PORT)
        if s.name in self._clients:
            raise ValueError(f"server {s.name} is already in the pool")
        client = self._retired.pop(s.name, None)
        if client is not None:
            client.close()
        self._join(s)
        if flush:
            self._clients[s.name].flushdb()
        self._settled_ring = None

    def remove_node(self, server: ServerSpec) -> None:
        """Take a server out of the ring at run time. Its client is kept until ``rebalance()`` has
        copied its keys to their new replicas (reads fall back to it meanwhile)."""
        s = parse_server(server, DEFAULT_PORT)
        if s.name not in self._clients:
            raise KeyError(f"server {s.name} is not in the pool")
        self._ring.remove_node(s.name)
        self._topology.remove_node(s.name)
        self._retired[s.name] = self._clients.pop(s.name)
        del self._servers[s.name]
        with self._lock:
            self._down_until.pop(s.name, None)
            self._recheck.discard(s.name)
            self._reschedule()
            self._hints.pop(s.name, None)
            self._hints_lost.discard(s.name)
        self._settled_ring = None

    def _old_ring(self) -> HashRing | None:
        """The ring of the last rebalance, if membership changed since (else ``None``)."""
        if not self.rebalance_pending:
            return None
        if self._settled_ring is None:
            ring = self._new_ring()
            for name, weight in self._settled.items():
                ring.add_node(name, weight)
            self._settled_ring = ring
        return self._settled_ring

    def _any_client(self, name: str) -> redis.Redis | None:
        return self._clients.get(name) or self._retired.get(name)

    # -- health -----------------------------------------------------------------------------------

    def _reschedule(self) -> None:
        """(Under the lock.) The next probe is due at the earliest cooldown deadline."""
        self._next_probe = min(self._down_until.values(), default=math.inf)

    def _ring_health(self, name: str, up: bool) -> None:
        """(Under the lock.) Mark a server up or down on the ring (a removed server is not on it)."""
        try:
            if up:
                self._ring.mark_up(name)
            else:
                self._ring.mark_down(name)
        except KeyError:
            pass

    def _is_down(self, name: str) -> bool:
        """Marked down: on the ring for a server of the pool; by its cooldown for a removed one."""
        try:
            return not self._ring.is_up(name)
        except KeyError:
            return name in self._down_until

    def _mark_down(self, name: str, exc: BaseException) -> None:
        with self._lock:
            first = name not in self._down_until or name in self._recheck
            self._recheck.discard(name)
            self._down_until[name] = time.monotonic() + self.cooldown
            self._reschedule()
            self._ring_health(name, up=False)
        if first:
            log.warning("redis %s is down for %.1fs: %s", name, self.cooldown, exc)

    def _hint(self, name: str, key: KeyT) -> None:
        """Remember that ``name`` missed a write of ``key`` (repaired when it returns)."""
        with self._lock:
            hints = self._hints.setdefault(name, set())
            if len(hints) < self.max_hints:
                hints.add(key)
            elif name not in self._hints_lost:
                self._hints_lost.add(name)
                log.warning(
                    "redis %s: more than %d missed writes; some of its copies may be stale "
                    "until they expire or are rewritten",
                    name,
                    self.max_hints,
                )
            if name not in self._down_until and name in self._clients:
                # It was marked up between this write's lookup and now (another thread's probe):
                # down again, its probe due at once, so the key is cleared before it serves.
                self._recheck.add(name)
                self._down_until[name] = time.monotonic()
                self._reschedule()
                self._ring_health(name, up=False)

    def _claim(self, name: str | None = None) -> list[str]:
        """The down servers (or just ``name``) whose cooldown is over, their next deadline set now so
        that other threads do not probe them too (they stay down meanwhile)."""
        now = time.monotonic()
        with self._lock:
            if name is None:
                due = [n for n, until in self._down_until.items() if until <= now]
            else:
                until = self._down_until.get(name)
                due = [name] if until is not None and until <= now else []
            for n in due:
                self._down_until[n] = now + self.cooldown
            if due:
                self._reschedule()
        return due

    def _probe_due(self) -> None:
        """Probe the down servers whose cooldown is over. Called by every operation: the ring's
        lookups skip down servers, so no lookup meets them. Without a due probe it costs one clock
        read and one attribute read."""
        if time.monotonic() < self._next_probe:
            return
        for name in self._claim():
            self._probe(name)

    def _probe(self, name: str) -> bool:
        """PING a claimed down server; if it answers, bring it back (``_return``)."""
        client = self._any_client(name)
        if client is None:  # removed meanwhile
            with self._lock:
                self._down_until.pop(name, None)
                self._reschedule()
            return False
        try:
            client.ping()
            return self._return(name, client)
        except Exception as exc:
            if _is_connection_failure(exc):
                self._mark_down(name, exc)
                return False
            raise

    def is_up(self, name: str) -> bool:
        """Whether a server is usable now. A down server whose cooldown is over is probed (PING);
        if it answers, it is marked up on the ring and the writes it missed are repaired."""
        with self._lock:
            down = name in self._down_until
        if not down:
            return name in self._clients or name in self._retired
        return bool(self._claim(name)) and self._probe(name)

    def _return(self, name: str, client: redis.Redis) -> bool:
        """Bring back a down server that answers again, never letting it serve a stale copy:

        1. while it is still down (writes go elsewhere and are remembered for it), delete on it
           every key it missed a write of: one pipelined DEL per round, until a round saw no new
           missed write (at most ``_CLEAR_ROUNDS``; else it stays down, due for a probe at once);
        2. mark it up on the ring;
        3. copy those keys back from a live replica (RESTORE with the remaining TTL, without
           REPLACE: a write it took since step 2 is newer and stays) and drop the copies written to
           stand-in servers meanwhile. Until then a read of such a key misses on it and goes on to
           the next replica. (A delete racing the copy-back of its key can leave that copy.)

        Whatever is not done (a failure on the way) stays remembered for its next return."""
        keys: set[KeyT] = set()
        quiet = False
        try:
            for _ in range(_CLEAR_ROUNDS):
                with self._lock:
                    missed = self._hints.pop(name, set())
                    self._hints_lost.discard(name)
                    if not missed:
                        self._down_until.pop(name, None)
                        self._reschedule()
                        self._ring_health(name, up=True)
                        quiet = name in self._recheck
                        self._recheck.discard(name)
                        break
                keys |= missed
                batch = list(missed)
                for i in range(0, len(batch), 500):
                    client.delete(*batch[i : i + 500])
            else:
                with self._lock:  # missed writes keep coming: the next operation goes on
                    self._down_until[name] = time.monotonic()
                    self._reschedule()
                log.info("redis %s answers; %d missed writes cleared so far", name, len(keys))
                return False
            if quiet:
                log.debug("redis %s is back (after a missed write raced its return)", name)
            else:
                log.warning("redis %s is back", name)
            self._copy_back(name, client, keys)
        finally:
            if keys:
                with self._lock:
                    self._hints.setdefault(name, set()).update(keys)
        return True

    def _copy_back(self, name: str, client: redis.Redis, keys: set[KeyT]) -> None:
        """Step 3 of ``_return``: each key done is taken out of ``keys``."""
        for key in list(keys):
            with self._key_lock(key):
                self._copy_back_key(name, client, key)
            keys.discard(key)

    def _copy_back_key(self, name: str, client: redis.Redis, key: KeyT) -> None:
        """(Under the key's lock.) Copy one missed key back onto ``name``."""
        R = self.replicas
        walk = list(self._topology.iterate_nodes(key))[: 2 * R]
        dumped = None
        for donor in walk:
            if donor == name or self._is_down(donor):
                continue
            try:
                dumped = self._dump(self._clients[donor], key)
            except Exception as exc:
                if not _is_connection_failure(exc):
                    raise
                self._mark_down(donor, exc)
                continue
            if dumped is not None:
                break
        if dumped is not None:
            try:
                client.restore(key, dumped[1], dumped[0])
                self._stat("repairs")
            except ResponseError as exc:
                if "BUSYKEY" not in str(exc):
                    raise
            # Stand-ins: servers past the key's replicas that took its writes meanwhile (not
            # one serving it in place of another replica that is down; this server counts as
            # up even if a racing write has just marked it down again for its next return).
            serving = [n for n in walk if n == name or not self._is_down(n)][:R]
            for extra in walk[R:]:
                if extra != name and extra not in serving and not self._is_down(extra):
                    try:
                        self._clients[extra].delete(key)
                    except Exception as exc:
                        if not _is_connection_failure(exc):
                            raise
                        self._mark_down(extra, exc)

    @staticmethod
    def _dump(client: redis.Redis, key: KeyT) -> tuple[bytes, int] | None:
        """``(DUMP payload, TTL in ms for RESTORE, 0 = none)``, read atomically, or ``None``."""
        pipe = client.pipeline(transaction=True)
        pipe.dump(key)
        pipe.pttl(key)
        payload, pttl = pipe.execute()
        if payload is None or pttl == -2:
            return None
        return payload, max(int(pttl), 0) if pttl != -1 else 0

    # -- routing ----------------------------------------------------------------------------------

    def _live(self, key: KeyT, count: int, exclude: Iterable[str] = ()) -> list[str]:
        """The first ``count`` up servers of the key's ring walk (the ring skips the down ones) that
        are not in ``exclude``."""
        skip = set(exclude)
        if not skip:
            return self._ring.get_replicas(key, count)
        out: list[str] = []
        for name in self._ring.iterate_nodes(key):
            if name in skip:
                continue
            out.append(name)
            if len(out) == count:
                break
        return out

    def replicas_for(self, key: KeyT) -> list[str]:
        """The key's replica servers on the ring (up or down), primary first; the ones serving it
        now are ``ring.get_replicas(key, replicas)``."""
        return self._topology.get_replicas(_check_key(key), self.replicas)

    def _call(self, name: str, method: str, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """Run one command on one server: ``(True, result)``, or ``(False, None)`` if the server
        failed (it is then marked down). Other errors propagate."""
        client = self._any_client(name)
        if client is None:
            return False, None
        try:
            return True, getattr(client, method)(*args, **kwargs)
        except Exception as exc:
            if not _is_connection_failure(exc):
                raise
            self._mark_down(name, exc)
            return False, None

    def _key_lock(self, key: KeyT) -> threading.Lock:
        """The write lock of ``key`` (one of ``_STRIPES``; ``"k"`` and ``b"k"`` share one). Taken
        after any probe, never while another is held, and with nothing else taken under it but
        ``_lock``: no lock-order cycle."""
        return self._stripes[self._topology.key_hash(key) % _STRIPES]

    def _count(self, name: str | None) -> None:
        if name is not None:
            with self._lock:
                self._routed[name] += 1

    def _stat(self, *names: str) -> None:
        with self._lock:
            for n in names:
                self._stats[n] += 1

    def get(self, key: KeyT) -> bytes | Any | None:
        """The value of ``key`` from its first replica that has it (``None`` if none has)."""
        key = _check_key(key)
        self._probe_due()
        tried: set[str] = set()
        counted = False
        primary = self._topology.get_node(key)
        for _ in range(len(self._clients) + 1):  # bounded: each round tries new servers only
            names = self._live(key, self.replicas, exclude=tried)
            if not names:
                break
            if not counted:
                self._count(names[0])
                counted = True
            failed = False
            for name in names:
                tried.add(name)
                ok, value = self._call(name, "get", key)
                if ok and value is not None:
                    self._stat("hits", *(("failovers",) if name != primary else ()))
                    return value
                failed = failed or not ok
            if not failed:
                break  # every live replica answered: a miss
        old = self._old_ring()
        if old is not None:  # membership changed and not rebalanced yet: look where it was
            for name in old.get_replicas(key, self.replicas):
                if name in tried or not self.is_up(name):
                    continue
                ok, value = self._call(name, "get", key)
                if ok and value is not None:
                    self._stat("hits")
                    return value
        self._stat("misses")
        return None

    def set(
        self,
        key: KeyT,
        value: ValueT,
        ex: int | timedelta | None = None,
        px: int | timedelta | None = None,
    ) -> bool:
        """Write ``key`` to its replicas (a down replica is replaced by the next live server of the
        ring, and remembered for repair), with a TTL of ``ex`` seconds or ``px`` ms on every copy.
        True if at least one copy was written."""
        key = _check_key(key)
        if isinstance(value, bool) or not isinstance(value, (bytes, bytearray, memoryview, str, int, float)):
            raise TypeError(
                f"RedisRing values are bytes, str, int or float (as redis-py), not "
                f"{type(value).__name__}; serialize it first"
            )
        size = len(value.encode("utf-8")) if isinstance(value, str) else (
            memoryview(value).nbytes if isinstance(value, (bytes, bytearray, memoryview)) else 0
        )
        if size > self.max_value_size:
            raise ValueError(
                f"value of {size} bytes is over max_value_size={self.max_value_size}; nothing written"
            )
        if ex is not None and px is not None:
            raise ValueError("give ex or px, not both")
        self._probe_due()
        with self._key_lock(key):
            written = self._write(key, "set", value, ex=ex, px=px)
        return bool(written)

    def delete(self, key: KeyT) -> int:
        """Delete ``key`` from all its copies; returns how many copies were deleted."""
        key = _check_key(key)
        self._probe_due()
        with self._key_lock(key):
            return self._delete(key)

    def _delete(self, key: KeyT) -> int:
        deleted = 0
        ideal = self._topology.get_replicas(key, self.replicas)
        # The key's live replicas and as many servers after them (stand-ins of earlier outages).
        targets = self._live(key, 2 * self.replicas)
        old = self._old_ring()
        if old is not None:
            targets += [n for n in old.get_replicas(key, self.replicas) if n not in targets]
        self._count(ideal[0] if ideal else None)
        done: set[str] = set()
        for name in targets:
            if self._is_down(name) and not self.is_up(name):
                continue
            ok, n = self._call(name, "delete", key)
            if ok:
                deleted += n
                done.add(name)
        for name in ideal:
            if name not in done:
                self._hint(name, key)
        return deleted

    def _write(self, key: KeyT, method: str, *args: Any, **kwargs: Any) -> list[str]:
        """(Under the key's lock.) Write ``key`` to its live replicas."""
        ideal = self._topology.get_replicas(key, self.replicas)
        written: list[str] = []
        tried: set[str] = set()
        for _ in range(len(self._clients) + 1):
            need = self.replicas - len(written)
            names = self._live(key, need, exclude=tried) if need > 0 else []
            if not names:
                break
            if not written and not tried:
                self._count(names[0])
            for name in names:
                tried.add(name)
                ok, _ = self._call(name, method, key, *args, **kwargs)
                if ok:
                    written.append(name)
        for name in ideal:
            if name not in written:
                self._hint(name, key)
        return written

    # -- rebalance --------------------------------------------------------------------------------

    def rebalance(
        self,
        *,
        prune: bool = True,
        scan_count: int = 500,
        progress: Callable[[RebalanceReport], None] | None = None,
        progress_every: int = 10_000,
    ) -> RebalanceReport:
        """After ``add_node``/``remove_node``: copy every key whose replica set changed onto its new
        replicas (DUMP/RESTORE with the remaining TTL; a replica that already holds the key keeps
        its own, newer, value), then (``prune``) delete keys from servers that no longer own them.

        Every server of the previous membership is scanned (SCAN, ``scan_count`` per round trip); a
        key is copied once, by the first reachable previous replica that still owns it (or else
        its first reachable previous replica). ``progress`` is called with the running report every
        ``progress_every`` scanned keys and after each server (progress is also logged). Returns the
        report: ``moved`` = keys copied to at least one new replica. Pruning is skipped if anything
        failed. Removed servers are left as they are and forgotten."""
        t0 = time.monotonic()
        report = RebalanceReport()
        new = self._topology
        old = self._old_ring() or new
        R = self.replicas
        sources = [n for n in old if self._any_client(n) is not None]
        reachable = [n for n in sources if self.is_up(n)]
        for n in sources:
            if n not in reachable:
                report.errors.append(f"{n}: down, not scanned")
        report.servers = len(reachable)
        rank = {n: i for i, n in enumerate(reachable)}

        def tick(force: bool = False) -> None:
            if force or report.scanned % progress_every == 0:
                log.info(
                    "rebalance: %d/%d servers, %d keys scanned, %d moved",
                    report.servers_done,
                    report.servers,
                    report.scanned,
                    report.moved,
                )
                if progress is not None:
                    progress(report)

        if old is not new:
            for src in reachable:
                client = self._any_client(src)
                assert client is not None
                try:
                    for key in client.scan_iter(count=scan_count):
                        report.scanned += 1
                        tick()
                        old_reps = old.get_replicas(key, R)
                        new_reps = new.get_replicas(key, R)
                        if src not in old_reps or set(old_reps) == set(new_reps):
                            continue
                        # One copier per key: previous replicas still owning it first.
                        keepers = [n for n in old_reps if n in new_reps and n in rank]
                        others = [n for n in old_reps if n not in new_reps and n in rank]
                        if (keepers + others)[0] != src:
                            continue
                        targets = [n for n in new_reps if n not in old_reps]
                        with self._key_lock(key):
                            self._move(client, src, key, targets, report)
                except Exception as exc:
                    if not _is_connection_failure(exc):
                        raise
                    self._mark_down(src, exc)
                    report.errors.append(f"{src}: failed during scan: {exc}")
                    continue
                report.servers_done += 1
                tick(force=True)
        if prune and report.complete:
            self._prune(new, report, scan_count)
        if report.complete:
            self._settled = {n: s.weight for n, s in self._servers.items()}
            self._settled_ring = None
            for client in self._retired.values():
                client.close()
            self._retired.clear()
        report.seconds = time.monotonic() - t0
        log.info(
            "rebalance done in %.2fs: %d scanned, %d moved (%d copies), %d pruned, %d errors",
            report.seconds,
            report.scanned,
            report.moved,
            report.copies,
            report.pruned,
            len(report.errors),
        )
        return report

    def _move(
        self, src_client: redis.Redis, src: str, key: KeyT, targets: list[str], report: RebalanceReport
    ) -> None:
        dumped = self._dump(src_client, key)
        if dumped is None:  # expired meanwhile
            return
        payload, ttl = dumped
        copied = False
        for t in targets:
            if not self.is_up(t):
                self._hint(t, key)
                report.errors.append(f"{t}: down, {key!r} not copied")
                continue
            try:
                self._clients[t].restore(key, ttl, payload)
            except ResponseError as exc:
                if "BUSYKEY" not in str(exc):
                    raise
                report.already_there += 1  # written since the change: newer than our copy
                continue
            except Exception as exc:
                if not _is_connection_failure(exc):
                    raise
                self._mark_down(t, exc)
                self._hint(t, key)
                report.errors.append(f"{t}: failed, {key!r} not copied")
                continue
            report.copies += 1
            copied = True
        if copied:
            report.moved += 1

    def _prune(self, ring: HashRing, report: RebalanceReport, scan_count: int) -> None:
        """Delete keys from current servers that are not among their replicas (unless one of the
        key's replicas is down: then a stand-in copy may be the one that counts)."""
        for name, client in self._clients.items():
            if not self.is_up(name):
                continue
            try:
                batch: list[KeyT] = []
                for key in client.scan_iter(count=scan_count):
                    reps = ring.get_replicas(key, self.replicas)
                    if name in reps or any(self._is_down(r) for r in reps):
                        continue
                    batch.append(key)
                    if len(batch) >= 500:
                        report.pruned += client.delete(*batch)
                        batch.clear()
                if batch:
                    report.pruned += client.delete(*batch)
            except Exception as exc:
                if not _is_connection_failure(exc):
                    raise
                self._mark_down(name, exc)
                report.errors.append(f"{name}: failed during prune: {exc}")

    # -- metrics ----------------------------------------------------------------------------------

    def metrics(self, *, sizes: bool = True) -> dict[str, Any]:
        """Health and size: per server ``up``, ``down_for`` (seconds of cooldown left), ``routed``
        (keys routed to it as primary by this client), ``keys`` (DBSIZE, ``None`` if down or
        ``sizes=False``) and ``hints`` (missed writes waiting for repair); the imbalances
        (max/mean) of ``routed`` and ``keys``, and of the ring's arc shares (``ring_imbalance``); and
        this client's counts since it was made: ``hits`` and ``misses`` (reads that found a value
        or none), ``failovers`` (hits answered by another server than the key's primary) and
        ``repairs`` (keys copied back to a server on its return)."""
        now = time.monotonic()
        nodes: dict[str, dict[str, Any]] = {}
        for name in self._clients:
            with self._lock:
                until = self._down_until.get(name)
                routed = self._routed.get(name, 0)
                hints = len(self._hints.get(name, ()))
                up = not self._is_down(name)
            keys = None
            if sizes and up:
                ok, keys = self._call(name, "dbsize")
                up = ok
            nodes[name] = {
                "up": up,
                "down_for": 0.0 if until is None else max(until - now, 0.0),
                "routed": routed,
                "keys": keys,
                "hints": hints,
            }

        def imbalance(values: list[int]) -> float | None:
            if not values:
                return None
            mean = sum(values) / len(values)
            return max(values) / mean if mean else None

        return {
            "nodes": nodes,
            "up": sum(1 for v in nodes.values() if v["up"]),
            "down": sum(1 for v in nodes.values() if not v["up"]),
            "routed_imbalance": imbalance([v["routed"] for v in nodes.values()]),
            "keys_imbalance": imbalance([v["keys"] for v in nodes.values() if v["keys"] is not None]),
            "ring_imbalance": self._ring.distribution()["imbalance"] if len(self._ring) else None,
            "rebalance_pending": self.rebalance_pending,
            **{k: self._stats[k] for k in ("hits", "misses", "failovers", "repairs")},
        }

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection pool."""
        for client in [*self._clients.values(), *self._retired.values()]:
            client.close()

    def __enter__(self) -> RedisRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisRing({self.nodes!r}, replicas={self.replicas}, placement={self._placement!r})"
