"""ringroute.clients.RedisRing against real redis-server instances (127.0.0.1 only)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import redis

from ringroute import HashRing
from ringroute.clients import RebalanceReport, RedisRing

N_KEYS = 2000


def keys_on(ring: RedisRing, name: str) -> set[bytes]:
    """Every key one server holds (SCAN through a plain client)."""
    return set(ring.client(name).scan_iter(count=1000))


def where(ring: RedisRing, names: list[str]) -> dict[bytes, set[str]]:
    out: dict[bytes, set[str]] = {}
    for name in names:
        for key in keys_on(ring, name):
            out.setdefault(key, set()).add(name)
    return out


def make_ring(farm, n: int = 3, **kwargs) -> tuple[RedisRing, list]:  # type: ignore[no-untyped-def]
    servers = farm.start(n)
    kwargs.setdefault("cooldown", 0.3)
    return RedisRing([s.name for s in servers], **kwargs), servers


def test_writes_go_to_the_replicas_with_ttl(redis_farm) -> None:  # type: ignore[no-untyped-def]
    ring, servers = make_ring(redis_farm, 3, replicas=2)
    with ring:
        for i in range(300):
            assert ring.set(f"k{i}", f"v{i}", ex=100 if i % 2 else None)
        ring.set(b"\xffbin", b"\x00\x01")
        placed = where(ring, ring.nodes)
        assert len(placed) == 301
        for i in range(300):
            key = f"k{i}".encode()
            reps = ring.replicas_for(key)
            assert len(reps) == 2 and reps[0] != reps[1]
            assert placed[key] == set(reps), key
            for name in reps:
                ttl = ring.client(name).ttl(key)
                assert (0 < ttl <= 100) if i % 2 else ttl == -1
            assert ring.get(key) == f"v{i}".encode()
            assert ring.get(f"k{i}") == f"v{i}".encode()  # str and bytes keys route alike
        assert ring.get(b"\xffbin") == b"\x00\x01"
        assert ring.get("missing") is None
        # px also lands on every copy.
        ring.set("px", "1", px=50_000)
        assert all(0 < ring.client(n).pttl("px") <= 50_000 for n in ring.replicas_for("px"))
        assert ring.delete("k1") == 2
        assert ring.get("k1") is None and "k1".encode() not in where(ring, ring.nodes)
        assert ring.delete("k1") == 0


def test_values_are_stored_as_redis_py_stores_them(redis_farm) -> None:  # type: ignore[no-untyped-def]
    ring, _ = make_ring(redis_farm, 2, replicas=2)
    with ring:
        ring.set("i", 42)
        ring.set("f", 1.5)
        ring.set("s", "héllo")
        assert ring.get("i") == b"42" and ring.get("f") == b"1.5"
        assert ring.get("s") == "héllo".encode()  # no hidden JSON
    decoded = RedisRing(ring.nodes, decode_responses=True)
    with decoded:
        assert decoded.get("s") == "héllo"


def test_kill_one_of_three_mid_workload_then_restart(redis_farm) -> None:  # type: ignore[no-untyped-def]
    ring, servers = make_ring(redis_farm, 3, replicas=2, cooldown=0.3)
    with ring:
        expected: dict[str, str] = {}
        for i in range(N_KEYS):
            ring.set(f"user:{i}", f"v0-{i}", ex=600)
            expected[f"user:{i}"] = f"v0-{i}"
        victim = servers[1]
        # The workload goes on while the victim dies: reads of everything, overwrites of a third.
        for step in range(N_KEYS):
            if step == N_KEYS // 4:
                victim.stop()
            key = f"user:{step}"
            assert ring.get(key) == expected[key].encode(), (step, key)
            if step % 3 == 0:
                expected[key] = f"v1-{step}"
                assert ring.set(key, expected[key], ex=600)
        for key, value in expected.items():  # every key written before (or after) the kill
            assert ring.get(key) == value.encode(), key
        m = ring.metrics()
        assert m["nodes"][victim.name]["up"] is False and m["down"] == 1
        assert m["nodes"][victim.name]["hints"] > 0  # writes it missed, waiting for its return
        # New keys whose replicas include the dead server still get two copies.
        for i in range(200):
            assert ring.set(f"new:{i}", "x")
        placed = where(ring, [n for n in ring.nodes if n != victim.name])
        assert all(len(placed[f"new:{i}".encode()]) == 2 for i in range(200))

        victim.restart()  # empty: redis keeps nothing across restarts here
        time.sleep(0.35)  # past the cooldown: the next operation probes it
        for key, value in expected.items():
            assert ring.get(key) == value.encode(), key
        m = ring.metrics()
        assert m["nodes"][victim.name]["up"] is True and m["down"] == 0
        assert m["nodes"][victim.name]["hints"] == 0
        # Missed writes were repaired onto it, with their TTL.
        held = keys_on(ring, victim.name)
        repaired = [k for k in expected if victim.name in ring.replicas_for(k) and k.encode() in held]
        assert repaired, "the returning server got none of the writes it missed"
        for k in repaired:
            assert ring.client(victim.name).get(k) == expected[k].encode()
            assert 0 < ring.client(victim.name).ttl(k) <= 600
        # Used again: new writes land on it.
        routed_before = m["nodes"][victim.name]["routed"]
        mine = [f"again:{i}" for i in range(300) if victim.name in ring.replicas_for(f"again:{i}")]
        for k in mine:
            ring.set(k, "y")
        assert mine and all(ring.client(victim.name).get(k) == b"y" for k in mine)
        assert ring.metrics()["nodes"][victim.name]["routed"] > routed_before


def test_all_replicas_down_is_a_miss_not_an_error(redis_farm) -> None:  # type: ignore[no-untyped-def]
    ring, servers = make_ring(redis_farm, 2, replicas=2, cooldown=10)
    with ring:
        ring.set("a", "1")
        for s in servers:
            s.stop()
        assert ring.get("a") is None
        assert ring.set("a", "2") is False
        assert ring.delete("a") == 0
        assert ring.metrics()["down"] == 2


@pytest.mark.parametrize("replicas", [1, 2])
def test_scale_out_3_to_4_and_rebalance(redis_farm, replicas: int) -> None:  # type: ignore[no-untyped-def]
    ring, servers = make_ring(redis_farm, 3, replicas=replicas)
    with ring:
        for i in range(N_KEYS):
            ring.set(f"k:{i}", f"v{i}", ex=900 if i % 2 else None)
        old = HashRing(nodes={n: 1 for n in ring.nodes})
        (fourth,) = redis_farm.start(1)
        ring.add_node(fourth.name)
        assert ring.rebalance_pending
        # Before the rebalance, reads fall back to the previous replicas: nothing is lost.
        assert all(ring.get(f"k:{i}") == f"v{i}".encode() for i in range(0, N_KEYS, 7))
        # A key written after the change (newer than any copy) must survive the rebalance.
        ring.set("k:0", "newer")
        changed = sum(
            1
            for i in range(N_KEYS)
            if set(old.get_replicas(f"k:{i}", replicas))
            != set(ring.ring.get_replicas(f"k:{i}", replicas))
        )
        seen: list[int] = []
        report = ring.rebalance(progress=lambda r: seen.append(r.scanned), progress_every=500)
        assert isinstance(report, RebalanceReport) and report.complete, report.errors
        assert 0 < changed < N_KEYS
        # Every key whose replica set changed got a copy, except k:0 if its new replica already had it.
        assert report.moved in (changed, changed - 1)
        assert report.scanned == N_KEYS * replicas
        assert seen and seen[-1] == report.scanned
        assert not ring.rebalance_pending
        placed = where(ring, ring.nodes)
        assert len(placed) == N_KEYS
        for i in range(N_KEYS):
            key = f"k:{i}"
            assert placed[key.encode()] == set(ring.replicas_for(key)), key
            assert ring.get(key) == (b"newer" if i == 0 else f"v{i}".encode())
            for name in ring.replicas_for(key):
                ttl = ring.client(name).ttl(key)
                assert (0 < ttl <= 900) if i % 2 else ttl == -1
        assert keys_on(ring, fourth.name)  # the new server took its share
        # A second rebalance has nothing to do.
        again = ring.rebalance()
        assert again.moved == 0 and again.pruned == 0


def test_scale_in_4_to_3_and_rebalance(redis_farm) -> None:  # type: ignore[no-untyped-def]
    ring, servers = make_ring(redis_farm, 4, replicas=2)
    with ring:
        for i in range(N_KEYS):
            ring.set(f"k:{i}", f"v{i}", ex=900)
        gone = servers[2].name
        ring.remove_node(gone)
        assert all(ring.get(f"k:{i}") == f"v{i}".encode() for i in range(0, N_KEYS, 5))
        ring.delete("k:3")  # deleted after the change: must not come back from the old copies
        report = ring.rebalance()
        assert report.complete and report.moved > 0
        assert gone not in ring.nodes
        placed = where(ring, ring.nodes)
        for i in range(N_KEYS):
            key = f"k:{i}"
            if i == 3:
                assert ring.get(key) is None and key.encode() not in placed
                continue
            assert placed[key.encode()] == set(ring.replicas_for(key))
            assert ring.get(key) == f"v{i}".encode()


def test_bad_input_is_refused_and_changes_nothing(redis_farm) -> None:  # type: ignore[no-untyped-def]
    ring, servers = make_ring(redis_farm, 3, replicas=2, max_value_size=1024)
    with ring:
        for i in range(100):
            ring.set(f"k{i}", "v")
        before = {n: keys_on(ring, n) for n in ring.nodes}
        routed = ring.metrics(sizes=False)["nodes"]
        for bad_key in (42, None, 1.5, ["k"], ("k",)):
            with pytest.raises(TypeError, match="keys are str or bytes"):
                ring.set(bad_key, "v")  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="keys are str or bytes"):
                ring.get(bad_key)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="keys are str or bytes"):
                ring.delete(bad_key)  # type: ignore[arg-type]
        for bad_value in (None, {"a": 1}, [1], True):
            with pytest.raises(TypeError, match="values are bytes, str, int or float"):
                ring.set("k0", bad_value)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_value_size"):
            ring.set("k0", b"x" * 1025)
        with pytest.raises(ValueError, match="ex or px"):
            ring.set("k0", "v", ex=1, px=1000)
        # A server error (not a connection failure) propagates and marks nothing down.
        with pytest.raises(redis.ResponseError):
            ring.set("k0", "v", ex=-1)
        ring.client(ring.replicas_for("list")[0]).lpush("list", "x")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            ring.get("list")
        ring.client(ring.replicas_for("list")[0]).delete("list")
        assert {n: keys_on(ring, n) for n in ring.nodes} == before
        assert all(ring.get(f"k{i}") == b"v" for i in range(100))
        m = ring.metrics()
        assert m["down"] == 0 and all(v["hints"] == 0 for v in m["nodes"].values())
        assert set(routed) == set(m["nodes"])


def test_bad_construction() -> None:
    with pytest.raises(TypeError, match="single spec"):
        RedisRing("127.0.0.1:6379")
    with pytest.raises(ValueError, match="twice"):
        RedisRing(["127.0.0.1:1", ("127.0.0.1", 1)])
    with pytest.raises(ValueError, match="replicas"):
        RedisRing(["127.0.0.1:1"], replicas=0)
    with pytest.raises(ValueError, match="port"):
        RedisRing(["127.0.0.1:x"])
    with pytest.raises(ValueError, match="weight"):
        RedisRing([("127.0.0.1", 1, 0)])
    with pytest.raises(TypeError):
        RedisRing([("127.0.0.1", "1")])  # type: ignore[list-item]


def test_metrics_and_weights(redis_farm) -> None:  # type: ignore[no-untyped-def]
    a, b, c = redis_farm.start(3)
    ring = RedisRing([(a.port and "127.0.0.1", a.port, 1), (b.name), ("127.0.0.1", c.port, 3)],
                     replicas=1)
    with ring:
        for i in range(N_KEYS):
            ring.set(f"m{i}", "v")
        m = ring.metrics()
        assert m["up"] == 3 and m["down"] == 0 and not m["rebalance_pending"]
        nodes = m["nodes"]
        assert sum(v["routed"] for v in nodes.values()) == N_KEYS
        assert sum(v["keys"] for v in nodes.values()) == N_KEYS
        # Weight 3 takes about 3/5 of the keys.
        assert 0.45 < nodes[c.name]["keys"] / N_KEYS < 0.75
        routed = [v["routed"] for v in nodes.values()]
        assert m["routed_imbalance"] == pytest.approx(max(routed) / (sum(routed) / 3))
        assert m["keys_imbalance"] > 1.3
        assert m["ring_imbalance"] == pytest.approx(ring.ring.distribution()["imbalance"])


def test_import_ringroute_without_the_client_libraries() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "sys.modules['pymemcache'] = None\n"
        "import ringroute, ringroute.clients\n"
        "assert ringroute.HashRing\n"
        "for name, dep in (('RedisRing', 'redis'), ('MemcacheRing', 'pymemcache')):\n"
        "    try:\n"
        "        getattr(ringroute.clients, name)\n"
        "    except ImportError as e:\n"
        "        assert 'ringroute[clients]' in str(e) and e.name == dep, e\n"
        "    else:\n"
        "        raise SystemExit(name + ' imported without ' + dep)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_threads_share_a_ring_through_a_kill(redis_farm) -> None:  # type: ignore[no-untyped-def]
    import threading

    ring, servers = make_ring(redis_farm, 3, replicas=2, cooldown=0.2)
    errors: list[BaseException] = []
    halfway = threading.Barrier(5)

    def worker(t: int) -> None:
        try:
            for i in range(400):
                if i == 200:
                    halfway.wait(timeout=30)
                    halfway.wait(timeout=30)  # the main thread kills a server in between
                key = f"t{t}:{i}"
                assert ring.set(key, key)
                assert ring.get(key) == key.encode()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            halfway.abort()

    with ring:
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        try:
            halfway.wait(timeout=30)
            servers[0].stop()
            halfway.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass  # a worker failed and aborted the barrier: its exception is reported below
        for th in threads:
            th.join(timeout=60)
        assert not errors, errors
        assert not any(th.is_alive() for th in threads), "a worker did not finish"
        assert all(ring.get(f"t{t}:{i}") == f"t{t}:{i}".encode() for t in range(4) for i in range(400))
        assert ring.metrics()["nodes"][servers[0].name]["up"] is False


def test_a_server_that_stops_answering_times_out_and_comes_back(redis_farm) -> None:  # type: ignore[no-untyped-def]
    ring, servers = make_ring(redis_farm, 3, replicas=2, cooldown=0.3, socket_timeout=0.3)
    with ring:
        keys = [f"k{i}" for i in range(300)]
        for k in keys:
            ring.set(k, k)
        frozen = servers[2]
        frozen.pause()  # alive but silent: a timeout, not a refused connection
        try:
            t0 = time.monotonic()
            assert all(ring.get(k) == k.encode() for k in keys)
            # One timeout marks it down; the rest skip it instead of waiting again.
            assert time.monotonic() - t0 < 5
            assert ring.metrics(sizes=False)["nodes"][frozen.name]["up"] is False
            for k in keys[:100]:
                assert ring.set(k, "new-" + k)
        finally:
            frozen.resume()
        time.sleep(0.35)
        assert all(ring.get(k) == ("new-" + k if i < 100 else k).encode() for i, k in enumerate(keys))
        assert ring.metrics()["nodes"][frozen.name]["up"] is True
        # Repaired: its copies of the keys rewritten during the freeze are current.
        for k in keys[:100]:
            if frozen.name in ring.replicas_for(k):
                assert ring.client(frozen.name).get(k) == ("new-" + k).encode()


# -- health on the ring ---------------------------------------------------------------------------


def wait_until(condition, what: str, timeout: float = 10.0, poke=None) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition`` (calling ``poke`` between tries) until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        if poke is not None:
            poke()
        time.sleep(0.01)


def test_a_killed_server_is_down_on_the_ring_moves_only_its_keys_and_comes_back(redis_farm) -> None:  # type: ignore[no-untyped-def]
    cooldown = 0.5
    rr, servers = make_ring(redis_farm, 4, replicas=2, cooldown=cooldown)
    with rr:
        ring = rr.ring
        assert ring.all_down == "fail" and ring.down_nodes == frozenset()
        keys = [f"h:{i}" for i in range(1000)]
        for k in keys:
            assert rr.set(k, "v0-" + k)
        owner0 = dict(zip(keys, ring.get_node_batch(keys)))
        walk0 = {k: list(ring.iterate_nodes(k)) for k in keys}
        victim = servers[1].name
        mine = [k for k in keys if owner0[k] == victim]
        assert 0 < len(mine) < len(keys)

        servers[1].stop()
        t_detect = time.monotonic()
        assert rr.get(mine[0]) == ("v0-" + mine[0]).encode()  # its first failure marks it down
        assert ring.down_nodes == frozenset({victim})
        assert not ring.is_up(victim) and not rr.is_up(victim)
        assert rr.metrics(sizes=False)["nodes"][victim]["up"] is False
        # Keys of the other servers keep their owner; the victim's go to the next server of their
        # walk; the replica sets are the walk without it; replicas_for still names the ideal ones.
        owners = dict(zip(keys, ring.get_node_batch(keys)))
        for k in keys:
            assert owners[k] == (walk0[k][1] if owner0[k] == victim else owner0[k]), k
            assert ring.get_node(k) == owners[k]
            assert ring.get_replicas(k, 2) == [n for n in walk0[k] if n != victim][:2], k
            assert list(ring.iterate_nodes(k)) == [n for n in walk0[k] if n != victim]
            assert rr.replicas_for(k) == walk0[k][:2]
        # Served there: every key reads back, and rewrites of its keys land on the next two
        # servers of their walk (not on the dead one: no second failure, no second warning).
        assert all(rr.get(k) == ("v0-" + k).encode() for k in keys)
        for k in mine:
            assert rr.set(k, "v1-" + k)
            assert [rr.client(n).get(k) for n in walk0[k][1:3]] == [("v1-" + k).encode()] * 2, k
        assert rr.metrics(sizes=False)["nodes"][victim]["hints"] == len(mine)

        # Restarted (empty), it stays down until its cooldown is over; then an operation on any key
        # (here one whose walk does not even start with it) probes it and marks it up.
        servers[1].restart()
        other = next(k for k in keys if victim not in walk0[k][:2])
        if time.monotonic() < t_detect + cooldown:  # still inside the cooldown: no probe yet
            rr.get(other)
            assert victim in ring.down_nodes
        wait_until(lambda: victim not in ring.down_nodes, "the restarted server is marked up",
                   poke=lambda: rr.get(other))
        assert time.monotonic() - t_detect >= cooldown
        assert ring.down_nodes == frozenset() and rr.is_up(victim)
        # Its keys come back: owners and replica sets are those from before the kill ...
        assert ring.get_node_batch(keys) == [owner0[k] for k in keys]
        assert all(ring.get_replicas(k, 2) == walk0[k][:2] for k in keys)
        # ... the writes it missed were repaired onto it and the stand-in copies dropped ...
        placed = where(rr, rr.nodes)
        for k in mine:
            assert rr.client(victim).get(k) == ("v1-" + k).encode(), k
            assert placed[k.encode()] == set(walk0[k][:2]), k
            assert rr.get(k) == ("v1-" + k).encode()
        m = rr.metrics()
        assert m["down"] == 0 and m["nodes"][victim]["up"] is True and m["nodes"][victim]["hints"] == 0
        # ... and it is the primary again: new writes of its keys go to it.
        for k in mine[:50]:
            assert rr.set(k, "v2-" + k)
            assert rr.client(victim).get(k) == ("v2-" + k).encode()


def test_with_every_server_down_the_client_misses_without_touching_a_server(redis_farm) -> None:  # type: ignore[no-untyped-def]
    # A long cooldown: nothing is probed during the test. The ring's all-down policy is "fail", so
    # with both servers marked down no lookup names a server: the client answers a miss at once.
    rr, servers = make_ring(redis_farm, 2, replicas=2, cooldown=60)
    with rr:
        keys = [f"a:{i}" for i in range(50)]
        for k in keys:
            rr.set(k, k)
        for s in servers:
            s.stop()
        assert rr.get(keys[0]) is None  # both fail on this read: both marked down
        names = {s.name for s in servers}
        assert rr.ring.down_nodes == frozenset(names)
        assert rr.ring.get_node(keys[0]) is None and rr.ring.get_replicas(keys[0], 2) == []
        # Alive again but still marked down (cooldown): the client must not send them anything.
        for s in servers:
            s.restart()
        for k in keys:
            assert rr.get(k) is None
            assert rr.set(k, "new") is False
            assert rr.delete(k) == 0
        for s in servers:
            with redis.Redis(port=s.port) as probe:
                stats = probe.info("commandstats")
                assert probe.dbsize() == 0
            # Only this probe's own handshake and INFO.
            mine = {"cmdstat_hello", "cmdstat_client|setinfo", "cmdstat_info"}
            sent = sorted(c for c in stats if c not in mine)
            assert sent == [], f"{s.name} was sent {sent} while marked down"
        m = rr.metrics(sizes=False)
        assert m["down"] == 2 and m["up"] == 0
        # The writes and deletes it could not send are remembered for their repair.
        assert all(v["hints"] == len(keys) for v in m["nodes"].values())


def test_threads_share_the_ring_health_through_a_kill_and_a_restart(redis_farm) -> None:  # type: ignore[no-untyped-def]
    import threading

    rr, servers = make_ring(redis_farm, 3, replicas=2, cooldown=0.2)
    victim = servers[0]
    stop = threading.Event()
    errors: list[BaseException] = []
    last: dict[str, str] = {}  # key -> last value written (each thread owns its keys)

    def worker(t: int) -> None:
        try:
            i = 0
            while not stop.is_set():
                key, value = f"t{t}:{i % 150}", f"{t}-{i}"
                assert rr.set(key, value)
                last[key] = value
                assert rr.get(key) == value.encode(), key
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with rr:
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        try:
            time.sleep(0.1)
            victim.stop()
            wait_until(lambda: victim.name in rr.ring.down_nodes or bool(errors), "it is marked down")
            time.sleep(0.1)
            victim.restart()
            wait_until(lambda: victim.name not in rr.ring.down_nodes or bool(errors), "it is marked up")
            time.sleep(0.1)
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=30)
        assert not errors, errors
        assert not any(th.is_alive() for th in threads), "a worker did not finish"
        # Writes racing its return may have marked it down again for an immediate repair.
        wait_until(lambda: not rr.ring.down_nodes and rr.metrics(sizes=False)["down"] == 0,
                   "every server is up", poke=lambda: rr.get("poke"))
        assert all(rr.get(k) == v.encode() for k, v in last.items())
        assert rr.metrics(sizes=False)["nodes"][victim.name]["hints"] == 0
        # Every copy is current and on a replica: what it missed was copied back to it (the writes
        # racing its return included) and the stand-in copies were dropped. (It came back empty: a
        # key not rewritten while it was away has its other copy only.)
        placed = where(rr, rr.nodes)
        for k, v in last.items():
            copies = {n: rr.client(n).get(k) for n in placed[k.encode()]}
            assert set(copies) <= set(rr.replicas_for(k)), (k, copies, rr.replicas_for(k))
            assert set(copies.values()) == {v.encode()}, (k, copies, v)


def test_racing_writers_of_one_key_leave_every_replica_alike(redis_farm) -> None:  # type: ignore[no-untyped-def]
    """Threads of one process setting (and deleting) the same keys at once: every replica of every
    key ends with the same value, so a read after the primary fails returns what it held."""
    import threading

    ring, servers = make_ring(redis_farm, 3, replicas=3)
    keys = [f"race-{i}" for i in range(300)]
    rounds = 5
    with ring:
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def writer(tag: str) -> None:
            try:
                for r in range(rounds):
                    barrier.wait(30)
                    for i, k in enumerate(keys):
                        if tag == "d" and i % 7 == r:
                            ring.delete(k.encode())  # bytes and str keys share one lock
                        else:
                            ring.set(k, f"{tag}-{r}-{i}")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(t,)) for t in ("a", "b", "d")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads) and errors == []
        differ = []
        for k in keys:
            copies = {name: ring.client(name).get(k) for name in ring.replicas_for(k)}
            if len(set(copies.values())) != 1:
                differ.append((k, copies))
        assert differ == [], f"{len(differ)} of {len(keys)} keys differ across replicas: {differ[:3]}"
        before = {k: ring.get(k) for k in keys}
        # The primary of the first key fails: every read still answers the same value.
        primary = ring.replicas_for(keys[0])[0]
        next(s for s in servers if s.name == primary).stop()
        assert {k: ring.get(k) for k in keys} == before
