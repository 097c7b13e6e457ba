"""Oracle helper for tests/libmemcached_oracle.rs: asks libmemcached itself which server each key
goes to, without connecting to any server.

Usage: python3 libmemcached_locate.py BEHAVIORS_JSON HOST:PORT:WEIGHT... < keys (hex, one a line)

Prints one line per key: the HOST:PORT that libmemcached's `memcached_server_by_key` picks. The
library is the very libmemcached that pylibmc loaded (found in /proc/self/maps after importing it),
called through ctypes with the behaviors pylibmc would set for BEHAVIORS_JSON. Only the continuum is
computed: no connection is made, so a server such as 127.0.0.1:11211 need not exist (nor be free).
"""
import ctypes
import json
import sys

import _pylibmc  # noqa: F401  (loads the libmemcached that pylibmc uses)

# enum memcached_behavior_t (libmemcached-1.0/types/behavior.h); the same in 1.0.x and 1.1.x.
BEHAVIORS = {"ketama": 3, "ketama_weighted": 16}


def loaded_libmemcached():
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            name = path.rsplit("/", 1)[-1]
            if name.startswith("libmemcached") and not name.startswith("libmemcachedutil"):
                if ".so" in name:
                    return path
    raise SystemExit("pylibmc is imported but no libmemcached shared object is mapped")


def main():
    behaviors = json.loads(sys.argv[1])
    lib = ctypes.CDLL(loaded_libmemcached())
    lib.memcached_create.restype = ctypes.c_void_p
    lib.memcached_create.argtypes = [ctypes.c_void_p]
    lib.memcached_free.argtypes = [ctypes.c_void_p]
    lib.memcached_behavior_set.restype = ctypes.c_int
    lib.memcached_behavior_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64]
    lib.memcached_server_add_with_weight.restype = ctypes.c_int
    lib.memcached_server_add_with_weight.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_uint16,
        ctypes.c_uint32,
    ]
    lib.memcached_server_by_key.restype = ctypes.c_void_p
    lib.memcached_server_by_key.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.memcached_server_name.restype = ctypes.c_char_p
    lib.memcached_server_name.argtypes = [ctypes.c_void_p]
    lib.memcached_server_port.restype = ctypes.c_uint16
    lib.memcached_server_port.argtypes = [ctypes.c_void_p]

    mc = lib.memcached_create(None)
    if not mc:
        raise SystemExit("memcached_create failed")
    # pylibmc's order: behaviors first, then servers. It matters: adding a server of weight > 1
    # while the distribution is already ketama turns weighted ketama on.
    for name, value in behaviors.items():
        if name not in BEHAVIORS:
            raise SystemExit("unknown behavior %r (known: %s)" % (name, sorted(BEHAVIORS)))
        rc = lib.memcached_behavior_set(mc, BEHAVIORS[name], int(value))
        if rc != 0:
            raise SystemExit("memcached_behavior_set(%s) returned %d" % (name, rc))

    for spec in sys.argv[2:]:
        host, port, weight = spec.rsplit(":", 2)
        rc = lib.memcached_server_add_with_weight(mc, host.encode(), int(port), int(weight))
        if rc != 0:
            raise SystemExit("memcached_server_add_with_weight(%r) returned %d" % (spec, rc))
    out = []
    rc = ctypes.c_int(0)
    for line in sys.stdin:
        key = bytes.fromhex(line.strip())
        server = lib.memcached_server_by_key(mc, key, len(key), ctypes.byref(rc))
        if not server or rc.value != 0:
            raise SystemExit("memcached_server_by_key(%r) failed: %d" % (key, rc.value))
        host = lib.memcached_server_name(server).decode()
        out.append("%s:%d" % (host, lib.memcached_server_port(server)))
    lib.memcached_free(mc)
    sys.stdout.write("".join(line + "\n" for line in out))


if __name__ == "__main__":
    main()
