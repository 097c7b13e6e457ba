"""ringroute: consistent-hash routing on a lock-free Rust core.

``ringroute.HashRing`` offers fastring's ``HashRing`` API (with ``placement="native"`` every answer
equals fastring 0.2.1's) plus transactions, batch lookups by key or by hash, exact distribution and
moved-fraction analysis, and pickling. Lookups never block and never see a half-applied change,
from any number of threads. ``HashRing.bounded(factor)`` gives a ``BoundedLoad``: consistent hashing
with bounded loads, whose ``acquire(key)`` leases a node for one request in flight.

``ringroute.compat`` holds drop-ins with other libraries' exact answers: ``compat.uhashring.HashRing``
(uhashring 2.x), ``compat.hash_ring.HashRing`` (hash_ring 1.3.1), ``compat.continuum.Continuum``
(python-continuum 0.1.1).

``ringroute.membership`` (the ``etcd`` extra) keeps a ring in sync with a fleet's membership in etcd,
so that every process routes with the same ring; ``import ringroute`` does not load it.

An integer argument out of its range (a negative weight or count, a weight of 2**32 or more)
raises ``ringroute.OutOfRangeError``, a subclass of both ``ValueError`` and ``OverflowError``:
code written for ringroute (``ValueError``) or for fastring (``OverflowError``) catches it.

>>> from ringroute import HashRing
>>> ring = HashRing(nodes={"cache-a": 1, "cache-b": 1, "cache-c": 2})
>>> ring.get_node("user:42") in ring
True
"""

from ringroute._ringroute import (
    PICKLE_VERSION,
    PROFILES,
    BoundedLoad,
    HashRing,
    Lease,
    NodeWalk,
    OutOfRangeError,
    Transaction,
    __version__,
)

__all__ = [
    "HashRing",
    "Transaction",
    "BoundedLoad",
    "Lease",
    "NodeWalk",
    "OutOfRangeError",
    "PROFILES",
    "PICKLE_VERSION",
    "__version__",
]
