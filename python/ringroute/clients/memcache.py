"""``MemcacheRing``: pymemcache's ``HashClient`` routed by a ringroute ``HashRing``.

Retries, dead-server marking, connection pooling and the whole memcached command set are
pymemcache's; ringroute only decides which server owns a key. With ``placement="libmemcached"``
(pylibmc ``behaviors={"ketama_weighted": True}``) or ``placement="libmemcached-ketama"``
(``{"ketama": True}``) a key lands on the same server as with pylibmc, PHP or any libmemcached
client given the same server list, so they can share a pool.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

# pymemcache ships no type information: its names are Any (ignore_missing_imports for pymemcache in
# the [tool.mypy] section of python/pyproject.toml).
from pymemcache.client.base import check_key_helper
from pymemcache.client.hash import HashClient
from pymemcache.exceptions import (
    MemcacheIllegalInputError,
    MemcacheUnexpectedCloseError,
)

from ringroute import HashRing
from ringroute.clients._servers import Server, ServerSpec, parse_server, parse_servers

__all__ = ["MemcacheRing", "StrictSerde", "check_key"]

#: memcached's default port, used for a server given as ``"host"``.
DEFAULT_PORT = 11211
#: The longest key memcached accepts (text and meta protocols), ``key_prefix`` included.
MAX_KEY_LENGTH = 250
#: Seconds to wait for a connection, and then for each answer, unless given: a server that accepts
#: connections and never answers costs this much, not a hang (the same defaults as ``RedisRing``).
DEFAULT_CONNECT_TIMEOUT = 0.5
DEFAULT_TIMEOUT = 1.0


class _RingHasher:
    """The ``hasher`` pymemcache's ``HashClient`` asks for ``get_node``/``add_node``/``remove_node``.

    Node names are pymemcache's client keys ``"host:port"``; weights come from the server specs.
    ``HashClient`` removes a server it marks dead and adds it back after ``dead_timeout``: the ring
    follows, so keys of a dead server go to the next server on the ring meanwhile.
    """

    def __init__(self, placement: str, virtual_nodes: int | None, weights: dict[str, int]) -> None:
        self.ring = HashRing(virtual_nodes, placement=placement)
        self.weights = weights

    def add_node(self, name: str) -> None:
        if name not in self.ring:
            self.ring.add_node(name, self.weights.get(name, 1))

    def remove_node(self, name: str) -> None:
        if name in self.ring:
            self.ring.remove_node(name)

    def get_node(self, key: str | bytes) -> str | None:
        return self.ring.get_node(key)


def check_key(key: object, key_prefix: bytes = b"", allow_unicode_keys: bool = False) -> bytes:
    """The one key check of ``MemcacheRing``, used by every path (``server_for``, every command,
    the batch ones): what memcached cannot store is refused before anything is routed or sent, with
    a clear error and nothing changed. Returns the key as sent (``key_prefix`` + key).

    Keys are ``str`` or ``bytes`` (``TypeError`` otherwise, ``bytearray`` and ``memoryview``
    included); pymemcache's rules (ASCII ``str`` unless ``allow_unicode_keys``, at most 250 bytes with
    the prefix, no whitespace or NUL) and memcached's (no other control character) give
    ``MemcacheIllegalInputError``.
    """
    if not isinstance(key, (str, bytes)):
        raise TypeError(f"memcached keys are str or bytes, not {type(key).__name__}: {key!r}")
    if not key:
        raise MemcacheIllegalInputError("empty key")
    raw: bytes = check_key_helper(key, allow_unicode_keys, key_prefix)
    bad = next((b for b in raw if b < 0x21 or b == 0x7F), None)
    if bad is not None:
        raise MemcacheIllegalInputError(
            f"key contains a control character or whitespace (byte 0x{bad:02x}): {key!r}"
        )
    return raw


class StrictSerde:
    """The serde ``MemcacheRing`` uses when none is given: values are stored as pymemcache stores
    them (``bytes`` as they are; ``str``, ``int`` and ``float`` as their text), and anything else —
    ``None``, ``bool``, dicts, objects, ``bytearray`` — is a ``TypeError`` instead of its ``str()``
    stored in silence. Pass ``serde=`` (e.g. ``pymemcache.serde.pickle_serde``) to store objects.
    """

    def serialize(self, key: bytes, value: object) -> tuple[bytes | str | int | float, int]:
        if isinstance(value, bool) or not isinstance(value, (bytes, str, int, float)):
            raise TypeError(
                f"MemcacheRing stores bytes, str, int or float values, not {type(value).__name__} "
                f"(key {key!r}); serialize it first, or give the client a serde= "
                "(pymemcache.serde.pickle_serde, ...)"
            )
        return value, 0

    def deserialize(self, key: bytes, value: bytes, flags: int) -> bytes:
        return value


# HashClient is Any to mypy (see the imports), and --strict refuses subclassing Any.
# A default no stored value can be: tells a miss from a stored value equal to the caller's default.
_MISS = object()


class MemcacheRing(HashClient):  # type: ignore[misc]
    """A memcached client over many servers, each key routed by a ringroute ``HashRing``.

    ``MemcacheRing(servers, *, placement="native", virtual_nodes=None, **client_kwargs)``

    - ``servers``: ``"host:port"`` strings (``"host"`` means port 11211), ``(host, port)`` or
      ``(host, port, weight)`` tuples. Node names on the ring are ``"host:port"``.
    - ``placement``: any of ``ringroute.PROFILES``. ``"libmemcached"`` matches pylibmc with
      ``behaviors={"ketama_weighted": True}``, ``"libmemcached-ketama"`` matches
      ``{"ketama": True}``: same server list (and weights) → same server for every key.
    - ``virtual_nodes``: points per server (``None``: the profile's default, e.g. 160 for
      ``libmemcached``; keep the default to stay compatible with other clients).
    - ``client_kwargs``: pymemcache ``HashClient`` arguments (``connect_timeout``, ``timeout``,
      ``retry_attempts``, ``retry_timeout``, ``dead_timeout``, ``use_pooling``, ``serde``,
      ``key_prefix``, ...). Defaults that differ from ``HashClient``'s:

      - ``default_noreply=False``: storage commands wait for the server's answer, so a refused value
        raises instead of vanishing (pass ``default_noreply=True`` for fire-and-forget writes);
      - ``connect_timeout=0.5`` and ``timeout=1.0`` seconds: a server that accepts connections and
        never answers fails the call (as an unreachable server does) instead of blocking for ever;
      - ``use_pooling=True``: each thread borrows its own connection from a per-server pool, so one
        client may be shared by any number of threads. With ``use_pooling=False`` a client keeps
        one socket per server and belongs to the first thread that uses it: a call from another
        thread raises ``RuntimeError`` (before anything is sent) instead of mixing two threads'
        commands on one socket;
      - values: ``bytes``, ``str``, ``int`` or ``float`` unless a ``serde`` (or ``serializer``) is
        given; anything else raises ``TypeError`` (see ``StrictSerde``) instead of storing its
        ``str()``.

    Keys are checked once, by one rule (``check_key``), on every path: ``server_for`` refuses what
    ``set`` refuses.

    Failure semantics (a cache): a server that cannot be reached (connection refused, timeout,
    connection closed) makes the call return its miss/failure value (``get`` → default,
    ``set`` → ``False``) instead of raising, and pymemcache's retry/dead logic takes over: after
    ``retry_attempts`` failures the server is taken off the ring (its keys go to the next server)
    and put back after ``dead_timeout``. Every other error — bad keys, values the server refuses,
    protocol errors — propagates and changes nothing. ``ignore_exc=True`` (pymemcache) also
    swallows those. When every server is off the ring, calls raise ``MemcacheError`` (pymemcache).

    The ring hashes the key as given, without ``key_prefix`` (as libmemcached does by default).
    """

    def __init__(
        self,
        servers: Iterable[ServerSpec],
        *,
        placement: str = "native",
        virtual_nodes: int | None = None,
        **client_kwargs: Any,
    ) -> None:
        if "hasher" in client_kwargs:
            raise TypeError("MemcacheRing routes with ringroute; it takes no 'hasher'")
        parsed = parse_servers(servers, DEFAULT_PORT)
        self._weights: dict[str, int] = {s.name: s.weight for s in parsed}
        hasher = _RingHasher(placement, virtual_nodes, self._weights)
        client_kwargs.setdefault("default_noreply", False)
        client_kwargs.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        client_kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        client_kwargs.setdefault("use_pooling", True)
        if not any(client_kwargs.get(k) is not None for k in ("serde", "serializer", "deserializer")):
            client_kwargs["serde"] = StrictSerde()
        prefix = client_kwargs.get("key_prefix", b"")
        self._owner: int | None = None  # the one thread of a client without pooling
        super().__init__([(s.host, s.port) for s in parsed], hasher=lambda: hasher, **client_kwargs)
        self._ring_hasher = hasher
        self._prefix: bytes = prefix.encode("ascii") if isinstance(prefix, str) else prefix
        self._counts = {"hits": 0, "misses": 0}
        self._counts_lock = threading.Lock()

    # -- the ring ---------------------------------------------------------------------------------

    @property
    def ring(self) -> HashRing:
        """The live ``HashRing`` (servers marked dead by pymemcache are off it until they return)."""
        return self._ring_hasher.ring

    @property
    def servers(self) -> dict[str, int]:
        """Every server of the pool (on the ring or marked dead), name → weight."""
        return dict(self._weights)

    def server_for(self, key: str | bytes) -> str | None:
        """The server (``"host:port"``) a key is routed to now, or ``None`` if none is live. The key
        is checked as every command checks it."""
        self._check_key(key)
        return self.ring.get_node(key)

    def _check_key(self, key: object) -> None:
        check_key(key, self._prefix, self.allow_unicode_keys)

    def add_node(self, server: ServerSpec) -> None:
        """Add a server to the pool at run time (only the keys of its new arcs move to it)."""
        s: Server = parse_server(server, DEFAULT_PORT)
        if s.name in self._weights:
            raise ValueError(f"server {s.name} is already in the pool")
        self._weights[s.name] = s.weight
        self.add_server((s.host, s.port))

    def remove_node(self, server: ServerSpec) -> None:
        """Take a server out of the pool for good (its keys move to the next servers)."""
        s = parse_server(server, DEFAULT_PORT)
        if s.name not in self._weights:
            raise KeyError(f"server {s.name} is not in the pool")
        del self._weights[s.name]
        self._ring_hasher.remove_node(s.name)
        addr = (s.host, s.port)
        self._failed_clients.pop(addr, None)
        self._dead_clients.pop(addr, None)
        client = self.clients.pop(s.name, None)
        if client is not None:
            try:
                client.close()
            except OSError:
                pass

    def stats_by_server(self) -> dict[str, dict[str, Any]]:
        """Health of every server: ``{"up": bool, "dead": bool, "failures": int}`` by name."""
        out: dict[str, dict[str, Any]] = {}
        for name in self._weights:
            host, _, port = name.rpartition(":")
            addr = (host, int(port))
            failed = self._failed_clients.get(addr)
            dead = addr in self._dead_clients
            out[name] = {
                "up": not dead and failed is None,
                "dead": dead,
                "failures": 0 if failed is None else failed["attempts"] + 1,
            }
        return out

    # -- reads, counted ---------------------------------------------------------------------------

    def get(self, key: Any, default: Any = None, **kwargs: Any) -> Any:
        """The value of ``key``, or ``default`` if no server has it (or its server cannot be
        reached); counted as a hit or a miss (``counters``)."""
        value = super().get(key, _MISS, **kwargs)
        if value is _MISS:
            self._count(misses=1)
            return default
        self._count(hits=1)
        return value

    def get_many(self, keys: Iterable[Any], *args: Any, **kwargs: Any) -> dict[Any, Any]:
        """The values of the ``keys`` that some server has, as a dict; each key counted as a hit
        or a miss (``counters``)."""
        keys = list(keys)
        found: dict[Any, Any] = super().get_many(keys, *args, **kwargs)
        self._count(hits=len(found), misses=len(set(keys)) - len(found))
        return found

    get_multi = get_many

    def counters(self) -> dict[str, int]:
        """This client's reads since it was made: ``hits`` (a value found) and ``misses`` (none
        found, the key's server unreachable included), over ``get`` and ``get_many``. Safe to
        read from any thread."""
        with self._counts_lock:
            return dict(self._counts)

    def _count(self, *, hits: int = 0, misses: int = 0) -> None:
        with self._counts_lock:
            self._counts["hits"] += hits
            self._counts["misses"] += misses

    # -- pymemcache hooks -------------------------------------------------------------------------

    def _get_client(self, key: Any) -> Any:
        self._check_key(key)
        if not self.use_pooling:
            me = threading.get_ident()
            if self._owner is None:
                self._owner = me
            elif self._owner != me:
                raise RuntimeError(
                    "this MemcacheRing(use_pooling=False) keeps one connection per server and "
                    "belongs to the thread that used it first; share a client created with "
                    "use_pooling=True (the default) instead"
                )
        return super()._get_client(key)

    def _safely_run_func(self, client: Any, func: Any, default_val: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._safely_run_func(client, func, default_val, *args, **kwargs)
        except MemcacheUnexpectedCloseError:
            # The server closed the connection (it died or restarted): a connection failure.
            self._mark_failed_server(client.server)
            return default_val
        except OSError:
            # Refused, reset or timed out: pymemcache has counted the failure already.
            return default_val

    def _safely_run_set_many(self, client: Any, values: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._safely_run_set_many(client, values, *args, **kwargs)
        except MemcacheUnexpectedCloseError:
            self._mark_failed_server(client.server)
            return list(values)
        except OSError:
            return list(values)

    def delete_many(self, keys: Iterable[Any], *args: Any, **kwargs: Any) -> bool:
        """Delete many keys; every key is checked before any is deleted."""
        keys = list(keys)
        for key in keys:
            self._check_key(key)
        return bool(super().delete_many(keys, *args, **kwargs))

    delete_multi = delete_many

    def __enter__(self) -> MemcacheRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
