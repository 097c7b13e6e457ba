"""A process of the etcd membership tests.

``etcd_follow.py follow ENDPOINTS PREFIX``: a router (a HashRing synced by EtcdMembership) that
prints one JSON line per publication, ``{"revision", "revisions", "list", "fingerprint", "error"}``
(error: the last one met, which a re-list follows), after a
``{"synced": revision}`` line, until standard input closes.

``etcd_follow.py register ENDPOINTS PREFIX NAME TTL``: registers node NAME, prints
``{"registered": key}``, and keeps the lease alive until standard input closes (then deregisters)
or the process dies (then the lease expires).

ENDPOINTS is a comma-separated list of host:port. The output format is the Rust example
``follow``'s (etcd/examples/follow.rs), so a test reads both kinds of router alike.
"""

from __future__ import annotations

import json
import sys
import threading

from ringroute import HashRing
from ringroute.membership import Applied, EtcdMembership, register

_out = threading.Lock()


def emit(obj: object) -> None:
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def main() -> None:
    mode, endpoints, prefix = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    if mode == "register":
        with register(endpoints, prefix, sys.argv[4], ttl=int(sys.argv[5])) as reg:
            emit({"registered": reg.key})
            sys.stdin.read()
        return

    ring = HashRing()
    sync = EtcdMembership(ring, endpoints, prefix, on_applied=lambda a: on_applied(a))

    def on_applied(a: Applied) -> None:
        emit({"revision": a.revision, "revisions": list(a.revisions), "list": a.list,
              "fingerprint": a.fingerprint, "error": sync.status.last_error})

    with sync:
        emit({"synced": sync.wait_synced(30)})
        sys.stdin.read()


if __name__ == "__main__":
    main()
