"""Pickle round trips and the rejection of damaged or foreign states."""

from __future__ import annotations

import copy
import pickle

import pytest

import ringroute
from ringroute import HashRing


class Client:
    """A picklable instance object."""

    def __init__(self, addr: str) -> None:
        self.addr = addr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Client) and other.addr == self.addr


def sample() -> HashRing:
    r = HashRing(64)
    r.add_node("a", hostname="10.0.0.1", port=11211, instance=Client("a:1"))
    r.add_node("b", weight=3)
    r.add_node("drained", weight=0)
    r.add_node("ü-node", instance={"x": [1, 2]})
    return r


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_round_trip(protocol: int) -> None:
    r = sample()
    back = pickle.loads(pickle.dumps(r, protocol=protocol))
    assert isinstance(back, HashRing)
    assert back.node_names == r.node_names
    assert back.nodes == r.nodes
    assert back.get_node_instance("a") == Client("a:1")
    assert (back.placement, back.virtual_nodes, back.fingerprint) == (
        r.placement,
        r.virtual_nodes,
        r.fingerprint,
    )
    keys = [f"key-{i}" for i in range(2000)]
    assert back.get_node_batch(keys) == r.get_node_batch(keys)
    assert back.moved_fraction(r) == 0.0
    # The copy is independent.
    back.remove_node("b")
    assert "b" in r


def test_empty_round_trip() -> None:
    back = pickle.loads(pickle.dumps(HashRing(5)))
    assert len(back) == 0 and back.virtual_nodes == 5


def test_copy_and_deepcopy() -> None:
    r = sample()
    shallow = copy.copy(r)
    assert shallow.get_node_instance("a") is r.get_node_instance("a")
    deep = copy.deepcopy(r)
    assert deep.get_node_instance("a") == r.get_node_instance("a")
    assert deep.get_node_instance("a") is not r.get_node_instance("a")


def test_state_carries_tag_and_version() -> None:
    ctor, (state,) = sample().__reduce__()
    assert ctor == HashRing._from_state
    assert state[:4] == ("ringroute.HashRing", ringroute.PICKLE_VERSION, "native", 64)
    assert state[4][1] == ("b", 3, None, None, None)


def good_state() -> tuple:
    return sample().__reduce__()[1][0]


def replace(t: tuple, i: int, v: object) -> tuple:
    return t[:i] + (v,) + t[i + 1 :]


@pytest.mark.parametrize(
    "state",
    [
        None,
        "ringroute.HashRing",
        (),
        ("ringroute.HashRing", 1, "native", 64),
        replace(good_state(), 0, "fastring.HashRing"),
        replace(good_state(), 1, 3),
        replace(good_state(), 1, 1),
        replace(good_state(), 1, 0),
        replace(good_state(), 1, "1"),
        replace(good_state(), 2, "nope"),
        replace(good_state(), 2, 7),
        replace(good_state(), 3, 0),
        replace(good_state(), 3, -1),
        replace(good_state(), 4, [("a", 1, None, None, None)]),
        replace(good_state(), 4, (("a", 1, None, None),)),
        replace(good_state(), 4, (("a", -1, None, None, None),)),
        replace(good_state(), 4, (("a", 1, None, 1 << 20, None),)),
        replace(good_state(), 4, ((1, 1, None, None, None),)),
        replace(good_state(), 4, (("", 1, None, None, None),)),
        replace(good_state(), 4, (("a", 1, None, None, None), ("a", 2, None, None, None))),
        good_state() + (None,),
        replace(good_state(), 5, ["a"]),
        replace(good_state(), 5, ("nope",)),
        replace(good_state(), 5, (1,)),
        replace(good_state(), 6, "sometimes"),
        replace(good_state(), 6, None),
        # Exact ints only: no None weight read as 1, no bool version or weight, no float.
        replace(good_state(), 1, True),
        replace(good_state(), 3, 64.0),
        replace(good_state(), 3, True),
        replace(good_state(), 4, (("a", None, None, None, None),)),
        replace(good_state(), 4, (("a", True, None, None, None),)),
        replace(good_state(), 4, (("a", 1.0, None, None, None),)),
        replace(good_state(), 4, (("a", 1, None, True, None),)),
    ],
)
def test_damaged_or_foreign_state_is_value_error(state: object) -> None:
    with pytest.raises(ValueError):
        HashRing._from_state(state)  # type: ignore[arg-type]


def test_truncated_pickle_bytes_fail() -> None:
    data = pickle.dumps(sample())
    with pytest.raises(Exception):
        pickle.loads(data[: len(data) // 2])


def _states():  # type: ignore[no-untyped-def]
    """Pickle states: the good one with fields and nodes replaced by arbitrary values."""
    from hypothesis import strategies as st

    leaf = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True),
        st.text(max_size=6),
        st.binary(max_size=4),
        st.sampled_from(["native", "ketama", "uhashring", "panic", "fail", "a", "ringroute.HashRing"]),
    )
    value = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=5).map(tuple), st.lists(inner, max_size=3)), max_leaves=12)
    node = st.tuples(value, value, value, value, value)
    good = good_state()

    @st.composite
    def mutate(draw):  # type: ignore[no-untyped-def]
        state = list(good)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(state)))
            if i == len(state):
                state.append(draw(value))
            elif i == 4:
                state[4] = tuple(draw(st.lists(st.one_of(node, value), max_size=4)))
            else:
                state[i] = draw(value)
        return tuple(state)

    return st.one_of(mutate(), value)


def test_fuzzed_states_are_value_errors_or_rings() -> None:
    """Arbitrary pickle states: a ValueError, or a ring that routes and pickles again; nothing else."""
    from hypothesis import given, settings

    @settings(max_examples=600, deadline=None)
    @given(_states())
    def check(state: object) -> None:
        try:
            ring = HashRing._from_state(state)  # type: ignore[arg-type]
        except ValueError:
            return
        assert isinstance(ring, HashRing)
        ring.get_node_batch(["a", "b", "c"])
        assert pickle.loads(pickle.dumps(ring)).fingerprint == ring.fingerprint

    check()
