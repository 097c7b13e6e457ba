"""Fleet membership over etcd: every process that syncs its ``HashRing`` with the same prefix
routes with the same ring, within milliseconds of a change, through etcd's failures.

Needs the ``etcd`` extra (``pip install 'ringroute[etcd]'``: urllib3, for etcd's JSON gateway);
``import ringroute`` does not.

Keys under a prefix:

- ``<prefix>/nodes/<name>``: JSON ``{"weight": 1, "hostname": "10.0.0.1", "port": 11211,
  "meta": {...}}``, every field optional; ``meta`` becomes the node's ``instance``;
- ``<prefix>/health/<name>``: ``down`` or ``up`` (absent: up), driving ``mark_down``/``mark_up``;
- ``<prefix>/config``: ``{"placement": "native", "virtual_nodes": null, "table_size": null}``,
  applied if it names the ring's own settings, skipped otherwise (a live ring keeps its placement).

A value that does not decode is skipped, counted (``status.skipped``) and logged with its key on
the ``ringroute`` logger; the key counts as absent, so every router (Rust or Python) derives the
same ring from the same etcd revision.

``EtcdMembership`` lists the prefix at a revision and publishes it as one ring transaction, then
watches from the next revision, publishing each batch of whole etcd revisions as one transaction:
never half an etcd transaction, revisions in order, each once. After compaction, a lost member or
a member without a leader it re-lists with backoff; meanwhile the ring keeps its last state (never
emptied because etcd is unreachable) and ``status``/``staleness`` say how current it is.

>>> from ringroute import HashRing
>>> from ringroute.membership import EtcdMembership, register
>>> ring = HashRing()
>>> with EtcdMembership(ring, ["127.0.0.1:2379"], "/ringroute/cache") as sync:  # doctest: +SKIP
...     sync.wait_synced(timeout=5)
...     with register(["127.0.0.1:2379"], "/ringroute/cache", "cache-7", ttl=10,
...                   hostname="10.0.0.7", port=11211):
...         ...  # this process is node cache-7 of every synced ring
"""

from ringroute.membership._gateway import CompactedError, EtcdError
from ringroute.membership._register import Registration, register
from ringroute.membership._status import Applied, Status
from ringroute.membership._sync import EtcdMembership

__all__ = [
    "EtcdMembership",
    "register",
    "Registration",
    "Status",
    "Applied",
    "EtcdError",
    "CompactedError",
]
