"""Oracle helper for tests/libmemcached_oracle.rs: writes keys into memcached through pylibmc.

Usage: python3 pylibmc_write.py BEHAVIORS_JSON SERVER[:PORT[:WEIGHT]]... < keys (one hex key per line)

Every server must be on 127.0.0.1. Prints the number of keys written.
"""
import json
import sys

import pylibmc


def main():
    behaviors = json.loads(sys.argv[1])
    servers = sys.argv[2:]
    for s in servers:
        if not s.startswith("127.0.0.1:"):
            raise SystemExit("refusing a server that is not on 127.0.0.1: %r" % s)
    mc = pylibmc.Client(servers, behaviors=behaviors)
    n = 0
    for line in sys.stdin:
        key = bytes.fromhex(line.strip())
        if not mc.set(key, b"1"):
            raise SystemExit("set failed for %r" % key)
        n += 1
    print(n)


if __name__ == "__main__":
    main()
