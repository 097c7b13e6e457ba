"""Registration: a node's record put under an etcd lease that a daemon thread keeps alive, so the
node leaves every synced ring when its process dies (the lease expires) or deregisters."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from ringroute.membership._gateway import EtcdError, Gateway
from ringroute.membership._records import Layout, decode_node

log = logging.getLogger("ringroute")

__all__ = ["Registration", "register"]


def _int_arg(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be in {low}..={high}, got {value}")
    return value


class Registration:
    """A node registered under a lease (made by ``register``). ``close()`` (or leaving the
    ``with`` block) deregisters at once; if the process dies, the record goes when the lease
    expires."""

    def __init__(self, gateway: Gateway, key: bytes, value: bytes, ttl: int) -> None:
        self._gateway = gateway
        self._key = key
        self._value = value
        self._ttl = ttl
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._lease = self._put()
        self._thread = threading.Thread(
            target=self._keep_alive, name=f"ringroute-etcd lease {key.decode()}", daemon=True
        )
        self._thread.start()

    @property
    def key(self) -> str:
        """The key of the record."""
        return self._key.decode()

    @property
    def lease_id(self) -> int:
        """The id of the lease the record is under (a new one after the lease was lost and the
        record put again)."""
        with self._lock:
            return self._lease

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._stop.is_set()

    def _put(self) -> int:
        lease = self._gateway.lease_grant(self._ttl)
        self._gateway.put(self._key, self._value, lease)
        return lease

    def _keep_alive(self) -> None:
        """Refreshes the lease every third of its ttl; if the lease is gone (expired while etcd
        was unreachable), grants a new one and puts the record again."""
        period = max(0.1, self._ttl / 3)
        wait = period
        while not self._stop.wait(wait):
            wait = period
            try:
                if self._gateway.lease_keep_alive(self.lease_id) > 0:
                    continue
                log.warning("lease of %s expired; registering again", self.key)
                lease = self._put()
                with self._lock:
                    self._lease = lease
            except EtcdError as e:
                if self._stop.is_set():
                    return
                log.warning("keeping %s alive: %s", self.key, e)
                self._gateway.rotate()
                wait = min(period, 0.5)

    def close(self) -> None:
        """Deregisters: stops the keep-alive and revokes the lease, which deletes the record
        (``EtcdError`` if etcd cannot be reached: the record then goes when the lease expires).
        A second call does nothing."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(self._gateway.timeout * 2)
        try:
            for attempt in range(self._gateway.members):
                try:
                    self._gateway.lease_revoke(self.lease_id)
                    return
                except EtcdError:
                    if attempt + 1 == self._gateway.members:
                        raise
                    self._gateway.rotate()
        finally:
            self._gateway.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"lease {self.lease_id}"
        return f"<Registration {self.key} {state}>"


def register(
    endpoints: Sequence[str],
    prefix: str,
    name: str,
    ttl: int = 10,
    weight: int = 1,
    hostname: str | None = None,
    port: int | None = None,
    meta: dict[str, Any] | None = None,
    *,
    timeout: float = 3.0,
) -> Registration:
    """Registers node ``name`` at ``<prefix>/nodes/<name>`` under a lease of ``ttl`` seconds kept
    alive by a daemon thread: the node is in every synced ring until the registration is closed,
    or until ``ttl`` after its process dies. ``EtcdError`` if etcd cannot be reached."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name or "/" in name:
        raise ValueError(f"node name {name!r}: must be non-empty, without '/'")
    ttl = _int_arg(ttl, "ttl", 1, 2**62)
    record: dict[str, Any] = {"weight": _int_arg(weight, "weight", 0, 2**32 - 1)}
    if hostname is not None:
        if not isinstance(hostname, str):
            raise TypeError(f"hostname must be a str or None, not {type(hostname).__name__}")
        record["hostname"] = hostname
    if port is not None:
        record["port"] = _int_arg(port, "port", 0, 65535)
    if meta is not None:
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict or None, not {type(meta).__name__}")
        record["meta"] = meta
    try:
        value = json.dumps(record, allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(f"meta is not JSON data: {e}") from e
    decode_node(name, value)  # what every router will read
    gateway = Gateway(endpoints, timeout)
    layout = Layout(prefix)
    last: EtcdError | None = None
    for _ in range(gateway.members):
        try:
            return Registration(gateway, layout.node_key(name), value, ttl)
        except EtcdError as e:
            last = e
            gateway.rotate()
    gateway.close()
    assert last is not None
    raise last
