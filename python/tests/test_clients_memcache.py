"""ringroute.clients.MemcacheRing against real memcached instances (127.0.0.1 only), and its
libmemcached profiles against real pylibmc."""

from __future__ import annotations

import time

import pytest
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheIllegalInputError, MemcacheServerError

from ringroute.clients import MemcacheRing

N_KEYS = 1500


def direct(server) -> Client:  # type: ignore[no-untyped-def]
    return Client(("127.0.0.1", server.port), connect_timeout=1, timeout=2)


def held(server, keys: list[str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Which of ``keys`` one server holds (asked directly, not through the ring)."""
    c = direct(server)
    try:
        out: set[str] = set()
        for i in range(0, len(keys), 100):
            got = c.get_many(keys[i : i + 100])
            out.update(k if isinstance(k, str) else k.decode() for k in got)
        return out
    finally:
        c.close()


def test_routes_every_key_to_its_ring_server(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    servers = memcached_farm.start(3)
    specs = [servers[0].name, ("127.0.0.1", servers[1].port), ("127.0.0.1", servers[2].port, 2)]
    with MemcacheRing(specs, connect_timeout=1, timeout=2) as mc:
        assert mc.servers == {servers[0].name: 1, servers[1].name: 1, servers[2].name: 2}
        assert mc.ring.nodes[servers[2].name]["weight"] == 2
        keys = [f"key-{i}" for i in range(N_KEYS)]
        for k in keys:
            assert mc.set(k, k.encode()) is True
        for k in keys[:200]:
            assert mc.get(k) == k.encode()
        # The full command set is pymemcache's.
        assert mc.get_many(keys[:50]) == {k: k.encode() for k in keys[:50]}
        assert mc.incr("key-counter", 1) is None and mc.set("key-counter", "5")
        assert mc.incr("key-counter", 2) == 7
        assert mc.delete("key-0") and mc.get("key-0") is None
        keys.remove("key-0")
        at = {s.name: held(s, keys) for s in servers}
        for k in keys:
            owners = [n for n, ks in at.items() if k in ks]
            assert owners == [mc.server_for(k)], k
        # Weight 2 of 4 takes about half the keys.
        assert 0.35 < len(at[servers[2].name]) / len(keys) < 0.65


def test_kill_one_of_three_reads_miss_nothing_raises(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    servers = memcached_farm.start(3)
    mc = MemcacheRing(
        [s.name for s in servers],
        connect_timeout=0.5,
        timeout=1,
        retry_attempts=1,
        retry_timeout=0,
        dead_timeout=0.5,
    )
    with mc:
        keys = [f"user:{i}" for i in range(N_KEYS)]
        for k in keys:
            mc.set(k, b"v")
        victim = servers[0]
        theirs = {k for k in keys if mc.server_for(k) == victim.name}
        assert 0 < len(theirs) < len(keys)
        victim.stop()
        # A read-through workload: every read of a live server's key hits, the victim's miss.
        misses = 0
        for k in keys:
            v = mc.get(k)
            if k in theirs:
                assert v is None
                misses += 1
                mc.set(k, b"refill")  # the application refills the cache; must not raise
            else:
                assert v == b"v", k
        assert misses == len(theirs)
        # pymemcache marked it dead: its keys now live on the others.
        assert mc.stats_by_server()[victim.name]["up"] is False
        assert victim.name not in mc.ring
        for k in sorted(theirs)[:100]:
            mc.set(k, b"moved")
            assert mc.get(k) == b"moved"
            assert mc.server_for(k) != victim.name
        # Restart (empty): after dead_timeout it is back on the ring and used again.
        victim.restart()
        time.sleep(0.6)
        deadline = time.monotonic() + 5
        while victim.name not in mc.ring and time.monotonic() < deadline:
            mc.get("poke")  # pymemcache retries dead servers on calls
            time.sleep(0.1)
        assert victim.name in mc.ring
        for k in sorted(theirs)[:100]:
            assert mc.server_for(k) == victim.name
            mc.set(k, b"back")
        assert held(victim, sorted(theirs)[:100]) == set(sorted(theirs)[:100])
        assert mc.stats_by_server()[victim.name]["up"] is True


def test_bad_input_is_refused_and_changes_nothing(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    servers = memcached_farm.start(3, extra=["-I", "1m"])
    with MemcacheRing([s.name for s in servers], connect_timeout=1, timeout=2) as mc:
        keys = [f"k{i}" for i in range(200)]
        mc.set_many({k: b"v" for k in keys})
        ring_before = mc.ring.fingerprint
        before = {s.name: held(s, keys + ["ok", "big"]) for s in servers}
        for bad in (42, None, 1.5, ["k"]):
            with pytest.raises(TypeError, match="str or bytes"):
                mc.set(bad, b"v")  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="str or bytes"):
                mc.get(bad)  # type: ignore[arg-type]
        for bad in ("k" * 251, b"k" * 251, "a b", "a\nb", "a\r\nb", "a\x01b", b"a\x7fb", "a\x00b", "", "é"):
            with pytest.raises(MemcacheIllegalInputError):
                mc.set(bad, b"v")
            with pytest.raises(MemcacheIllegalInputError):
                mc.get(bad)
        # Batches are checked whole before anything is sent.
        with pytest.raises(MemcacheIllegalInputError):
            mc.set_many({"ok": b"v", "bad\x02key": b"v"})
        with pytest.raises(MemcacheIllegalInputError):
            mc.delete_many(["k1", "k2", "bad key"])
        # A value over the server's item limit: the server refuses it, the error propagates.
        with pytest.raises(MemcacheServerError, match="too large"):
            mc.set("big", b"x" * (2 * 1024 * 1024))
        assert mc.get("big") is None
        assert mc.ring.fingerprint == ring_before
        assert all(v["up"] and v["failures"] == 0 for v in mc.stats_by_server().values())
        assert {s.name: held(s, keys + ["ok", "big"]) for s in servers} == before
        assert all(mc.get(k) == b"v" for k in keys)
        # The longest legal key works.
        assert mc.set("k" * 250, b"edge") and mc.get("k" * 250) == b"edge"


def test_add_and_remove_servers(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    a, b, c = memcached_farm.start(3)
    with MemcacheRing([a.name, b.name], connect_timeout=1, timeout=2) as mc:
        keys = [f"k{i}" for i in range(N_KEYS)]
        before = {k: mc.server_for(k) for k in keys}
        mc.add_node(("127.0.0.1", c.port))
        after = {k: mc.server_for(k) for k in keys}
        moved = [k for k in keys if before[k] != after[k]]
        assert moved and all(after[k] == c.name for k in moved)  # only keys of the new arcs move
        for k in keys:
            mc.set(k, b"v")
        assert held(c, keys) == set(moved)
        mc.remove_node(c.name)
        assert {k: mc.server_for(k) for k in keys} == before
        with pytest.raises(ValueError, match="already"):
            mc.add_node(a.name)
        with pytest.raises(KeyError):
            mc.remove_node(c.name)


@pytest.mark.parametrize(
    ("placement", "behaviors"),
    [("libmemcached", {"ketama_weighted": True}), ("libmemcached-ketama", {"ketama": True})],
)
@pytest.mark.parametrize("weights", [(1, 1, 1, 1), (1, 3, 2, 1)])
def test_libmemcached_placement_shares_a_pool_with_pylibmc(
    memcached_farm, placement: str, behaviors: dict, weights: tuple[int, ...]  # type: ignore[no-untyped-def,type-arg]
) -> None:
    import pylibmc  # scripts/test-all installs it into the test venv

    servers = memcached_farm.start(4)
    specs = [f"127.0.0.1:{s.port}:{w}" for s, w in zip(servers, weights)]
    pl = pylibmc.Client(specs, behaviors=behaviors)
    mc = MemcacheRing(
        [("127.0.0.1", s.port, w) for s, w in zip(servers, weights)],
        placement=placement,
        connect_timeout=1,
        timeout=2,
    )
    with mc:
        keys = [f"key-{i}" for i in range(1000)] + [f"user:{i}:profile" for i in range(500)]
        for k in keys:
            assert pl.set(k, b"from-pylibmc")
        at = {s.name: held(s, keys) for s in servers}
        wrong = [k for k in keys if k not in at[mc.server_for(k)]]
        assert not wrong, f"{len(wrong)} of {len(keys)} keys elsewhere than predicted, e.g. {wrong[:3]}"
        # Each reads what the other wrote.
        assert all(mc.get(k) == b"from-pylibmc" for k in keys[::5])
        for k in keys[::5]:
            mc.set(k, b"from-ringroute")
        assert all(pl.get(k) == b"from-ringroute" for k in keys[::5])
    pl.disconnect_all()


def run_bounded(fn, seconds: float):  # type: ignore[no-untyped-def]
    """Run ``fn`` in a thread; fail the test if it has not returned after ``seconds`` (a hang)."""
    import threading

    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still blocked after {seconds} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def test_default_timeouts_bound_a_server_that_never_answers(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    from ringroute.clients.memcache import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT

    (server,) = memcached_farm.start(1)
    mc = MemcacheRing([server.name])  # every setting at its default
    try:
        assert mc.set("k", b"v") and mc.get("k") == b"v"
        server.pause()  # accepts connections (the kernel does), answers nothing
        start = time.monotonic()
        assert run_bounded(lambda: mc.get("k"), 15) is None  # a miss, after the timeout
        assert run_bounded(lambda: mc.set("k2", b"v"), 15) is False
        assert time.monotonic() - start >= DEFAULT_TIMEOUT
        assert (DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT) == (0.5, 1.0)
    finally:
        server.resume()
        mc.close()


def test_values_that_are_not_bytes_str_int_float_are_refused(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    from pymemcache.serde import pickle_serde

    servers = memcached_farm.start(2)
    with MemcacheRing([s.name for s in servers]) as mc:
        for bad in ({"a": 1}, None, object(), True, bytearray(b"x"), memoryview(b"x"), [1], ("a",)):
            with pytest.raises(TypeError, match="bytes, str, int or float"):
                mc.set("k", bad)
            for write in (mc.add, mc.replace, mc.append, mc.prepend):
                with pytest.raises(TypeError):
                    write("k", bad)
            with pytest.raises(TypeError):
                mc.set_many({"ok": b"v", "k": bad})
            with pytest.raises(TypeError):
                mc.cas("k", bad, b"1")
        assert mc.get("k") is None
        for good, stored in ((b"raw", b"raw"), ("text", b"text"), (7, b"7"), (1.5, b"1.5")):
            assert mc.set("k", good) is True
            assert mc.get("k") == stored
    # With a serde, objects are the serde's business.
    with MemcacheRing([s.name for s in servers], serde=pickle_serde) as mc:
        assert mc.set("obj", {"a": 1}) and mc.get("obj") == {"a": 1}
        assert mc.set("none", None) is True and mc.get("none", default="miss") is None


def test_one_client_shared_by_threads(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    import threading

    servers = memcached_farm.start(2)
    errors: list[BaseException] = []
    wrong: list[str] = []
    ops = 3000

    with MemcacheRing([s.name for s in servers]) as mc:  # the defaults: pooled connections

        def work(t: int) -> None:
            try:
                for i in range(ops):
                    k = f"t{t}-k{i % 200}"
                    v = f"{t}:{i}".encode()
                    if not mc.set(k, v):
                        wrong.append(f"set {k}")
                    got = mc.get(k)
                    if got != v:  # each key has one writer: it reads back what it wrote
                        wrong.append(f"{k}: {got!r} != {v!r}")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert not any(th.is_alive() for th in threads)
        assert errors == [] and wrong == [], (errors[:3], wrong[:3])
        assert all(v["up"] and v["failures"] == 0 for v in mc.stats_by_server().values())
        assert set(mc.ring) == {s.name for s in servers}

    # Without pooling a client is one thread's: another thread is refused before anything is sent.
    with MemcacheRing([s.name for s in servers], use_pooling=False) as single:
        assert single.set("mine", b"1")
        seen: list[BaseException] = []

        def other() -> None:
            try:
                single.get("mine")
            except BaseException as exc:  # noqa: BLE001
                seen.append(exc)

        th = threading.Thread(target=other)
        th.start()
        th.join(30)
        assert len(seen) == 1 and isinstance(seen[0], RuntimeError), seen
        assert single.get("mine") == b"1"  # its own thread goes on


def test_one_key_check_for_routing_and_commands(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    servers = memcached_farm.start(2)
    with MemcacheRing([s.name for s in servers]) as mc:
        for bad, err in (
            ("x" * 251, MemcacheIllegalInputError),
            (b"x" * 251, MemcacheIllegalInputError),
            ("a b", MemcacheIllegalInputError),
            ("é", MemcacheIllegalInputError),
            ("", MemcacheIllegalInputError),
            (bytearray(b"k"), TypeError),
            (memoryview(b"k"), TypeError),
            (1, TypeError),
        ):
            for call in (mc.server_for, mc.get, lambda k: mc.set(k, b"v"), mc.delete):
                with pytest.raises(err):
                    call(bad)
            with pytest.raises(err):
                mc.get_many(["ok", bad])
        assert mc.server_for("x" * 250) in mc.servers
    # key_prefix counts towards the length, for routing as for the commands.
    with MemcacheRing([s.name for s in servers], key_prefix=b"app:") as mc:
        with pytest.raises(MemcacheIllegalInputError):
            mc.server_for("x" * 247)
        with pytest.raises(MemcacheIllegalInputError):
            mc.set("x" * 247, b"v")
        assert mc.server_for("x" * 246) and mc.set("x" * 246, b"v")
    # allow_unicode_keys: the same rule for routing and commands.
    with MemcacheRing([s.name for s in servers], allow_unicode_keys=True) as mc:
        assert mc.server_for("é") and mc.set("é", b"v") and mc.get("é") == b"v"
