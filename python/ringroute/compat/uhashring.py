"""uhashring 2.x's ``HashRing`` API over ringroute, with uhashring's exact answers.

>>> from ringroute.compat.uhashring import HashRing
>>> ring = HashRing(nodes=["node-0", "node-1", "node-2"])
>>> ring.get_node("key-0") in ring.get_nodes()
True

Default mode (md5, ``vnodes=160``) runs on the core profile ``uhashring`` (exact 128-bit positions);
``hash_fn="ketama"`` (``vnodes=40``, 4 points per md5 digest) on ``uhashring-ketama``. Every answer
(owner, position, point index, clockwise walk) comes from the Rust core; this module only keeps
uhashring's node configuration dicts (``conf``) and maps owners back to them.

Nodes are given as a list of names or as a dict ``{name: weight}`` or ``{name: {"hostname": ..,
"port": .., "instance": .., "weight": .., "vnodes": .., "nodename": ..}}``, as in uhashring; a single
str is one node. Per-node ``vnodes`` are honoured in both modes.

Keys: like uhashring, every key is hashed as ``str(key)`` encoded to UTF-8, so ``get_node(42)`` is
``get_node("42")`` and a ``bytes`` key ``b"ab"`` is hashed as the text ``"b'ab'"`` (what uhashring
does; code moved over keeps its placement). To route raw bytes, use
``ringroute.HashRing(placement="uhashring")``, which hashes a ``bytes`` key's contents.

Differences from uhashring (each one raises rather than answering differently, except the last two):

- ``hash_fn`` may only be ``None`` (md5) or ``"ketama"``: a custom hash callable would put the
  routing outside the core, so it raises ``ValueError``; a non-callable other value raises
  ``TypeError`` as uhashring does. ``replicas`` (ketama mode) must be 4, its default.
- Node names must be non-empty ``str`` (uhashring also takes any object with a ``str``): other names
  raise ``TypeError``, an empty name ``ValueError``.
- Weights and vnodes must be ``int`` (``TypeError`` otherwise; uhashring's md5 mode fails the same
  way on a float). In md5 mode a node gets ``max(vnodes * weight, 0)`` points exactly like
  uhashring's ``range(vnodes * weight)``; ketama mode refuses negative weights or vnodes
  (``ValueError``), needs the same ``vnodes`` for every node (``ValueError`` otherwise), and raises
  uhashring's ``ZeroDivisionError`` when the total weight is 0 -- before changing anything, where
  uhashring has already stored the new configuration.
- ``len(ring)`` (number of nodes) and ``name in ring`` (is the node configured) are additions:
  uhashring has neither (``in`` would iterate ``ring[0]``, ``ring[1]``, ... for ever).
- In ketama mode uhashring keeps a 32-bit position shared by two points twice in its sorted key list
  (both entries mapping to the node added last); ringroute keeps it once. Owners are the same, but
  past such a position ``get_node_pos`` is smaller by one and ``get_points`` / ``range(unique=False)``
  list it once. About one ring in 3000 of 10 nodes has such a position.
- Reproduced quirk: in md5 mode, removing a node that has no points (weight or vnodes 0) removes it
  and then raises ``KeyError(nodename)``, as uhashring does.
- ``distribution`` counts each node's points on the ring; uhashring counts the points it generated,
  which differs only in the ketama case above.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator, Iterator
from typing import Any

from ringroute._ringroute import HashRing as _CoreRing

__all__ = ["HashRing"]

_CONF_KEYS = ("hostname", "instance", "nodename", "port", "vnodes", "weight")


def _key_text(key: Any) -> str:
    """The text uhashring hashes: ``str(key)``."""
    return key if type(key) is str else str(key)


def _check_int(value: Any, what: str, name: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"node {name!r}: {what} must be an int, not {type(value).__name__}")
    return value


class HashRing:
    """A consistent hash ring with uhashring 2.x's API and answers (see the module docs)."""

    def __init__(self, nodes: Any = [], **kwargs: Any) -> None:  # noqa: B006 - uhashring's signature
        """Create a ring of ``nodes`` (a list of names, a single name, or a dict of name -> weight or
        name -> conf dict).

        Keyword arguments as uhashring: ``hash_fn`` (``None`` or ``"ketama"``), ``vnodes`` (default
        160, or 40 with ``hash_fn="ketama"``), ``weight_fn`` (a callable computing a node's weight
        from its conf), ``replicas`` (ketama mode; only 4).
        """
        hash_fn = kwargs.get("hash_fn", None)
        vnodes = kwargs.get("vnodes", None)
        weight_fn = kwargs.get("weight_fn", None)
        if hash_fn == "ketama":
            replicas = kwargs.get("replicas", 4)
            if replicas != 4:
                raise ValueError(
                    f"replicas={replicas!r}: ringroute reproduces uhashring's ketama mode with its "
                    "default replicas=4 only"
                )
            self._ketama = True
            if vnodes is None:
                vnodes = 40
        else:
            if hash_fn is not None:
                if not callable(hash_fn):
                    raise TypeError("hash_fn should be a callable function")
                raise ValueError(
                    "a custom hash_fn cannot be reproduced by the Rust core: ringroute's uhashring "
                    "drop-in supports hash_fn=None (md5) and hash_fn='ketama'"
                )
            self._ketama = False
            if vnodes is None:
                vnodes = 160
        self._default_vnodes = vnodes
        if weight_fn and not callable(weight_fn):
            raise TypeError("weight_fn should be a callable function")
        self._weight_fn: Callable[..., Any] | None = weight_fn
        self._nodes: dict[str, dict[str, Any]] = {}
        self._core = self._new_core(vnodes if self._ketama else 1)
        self._apply(self._configure(nodes))

    # -- configuration (uhashring's _configure_nodes) ---------------------------------------------

    def _new_core(self, virtual_nodes: int) -> _CoreRing:
        placement = "uhashring-ketama" if self._ketama else "uhashring"
        return _CoreRing(virtual_nodes, placement=placement)

    def _configure(self, nodes: Any) -> dict[str, dict[str, Any]]:
        """The new conf dicts of ``nodes``, in order, as uhashring builds them (nothing stored)."""
        if isinstance(nodes, str):
            nodes = [nodes]
        elif not isinstance(nodes, (dict, list)):
            raise ValueError(
                "nodes configuration should be a list or a dict," " got {}".format(type(nodes))
            )
        out: dict[str, dict[str, Any]] = {}
        for node in nodes:
            if not isinstance(node, str):
                raise TypeError(f"node names must be str, not {type(node).__name__}")
            if not node:
                raise ValueError("node names must not be empty")
            conf = {
                "hostname": node,
                "instance": None,
                "nodename": node,
                "port": None,
                "vnodes": self._default_vnodes,
                "weight": 1,
            }
            if isinstance(nodes, dict):
                node_conf = nodes[node]
                if isinstance(node_conf, int):
                    conf["weight"] = node_conf
                elif isinstance(node_conf, dict):
                    for k, v in node_conf.items():
                        if k in conf:
                            conf[k] = v
                else:
                    raise ValueError(
                        "node configuration should be a dict or an int,"
                        " got {}".format(type(node_conf))
                    )
            if self._weight_fn:
                conf["weight"] = self._weight_fn(**conf)
            _check_int(conf["weight"], "weight", node)
            _check_int(conf["vnodes"], "vnodes", node)
            out[node] = conf
        return out

    def _apply(self, changes: dict[str, dict[str, Any]], remove: str | None = None) -> None:
        """Stores ``changes`` (and removes ``remove``) in the conf and the core ring, or raises
        before changing anything."""
        nodes = dict(self._nodes)
        if remove is not None:
            del nodes[remove]
        nodes.update(changes)
        if self._ketama:
            vn = {c["vnodes"] for c in nodes.values()}
            if len(vn) > 1:
                raise ValueError(
                    f"ketama mode: every node must have the same vnodes (got {sorted(vn)}); the "
                    "core's uhashring-ketama profile has one vnodes per ring"
                )
            for name, c in nodes.items():
                if c["weight"] < 0 or c["vnodes"] < 0:
                    raise ValueError(f"node {name!r}: negative weight or vnodes in ketama mode")
            if nodes and sum(c["weight"] for c in nodes.values()) == 0:
                raise ZeroDivisionError("integer division or modulo by zero")
            (v,) = vn or {self._default_vnodes}
            if v == 0:
                # No point at all, as uhashring: an empty ring of the registered nodes.
                core = self._new_core(1)
                core_nodes = {name: 0 for name in nodes}
            else:
                core = self._new_core(v)
                core_nodes = {name: c["weight"] for name, c in nodes.items()}
            if core_nodes:
                with core.transaction() as tx:
                    for name, w in core_nodes.items():
                        tx.add_node(name, w)
            self._core = core
        else:
            with self._core.transaction() as tx:
                if remove is not None:
                    tx.remove_node(remove)
                for name, c in changes.items():
                    points = max(c["vnodes"] * c["weight"], 0)
                    if name in tx:
                        tx.set_node_weight(name, points)
                    else:
                        tx.add_node(name, points)
        # uhashring replaces the conf dict of a re-added node in place (same dict position).
        if remove is not None:
            del self._nodes[remove]
        self._nodes.update(changes)

    # -- membership --------------------------------------------------------------------------------

    def add_node(self, nodename: str, conf: dict[str, Any] | int = {"weight": 1}) -> None:  # noqa: B006
        """Add ``nodename`` with ``conf`` (a conf dict or a weight), or reconfigure it if present.

        As uhashring, a reconfiguration that uhashring does not count as a change (an int weight equal
        to the current one, even if it resets ``vnodes`` to the default) stores the new conf but
        regenerates no point.
        """
        changes = self._configure({nodename: conf})
        if not self._conf_changed(nodename, conf, changes[nodename]):
            self._nodes[nodename] = changes[nodename]
            return
        self._apply(changes)

    def _conf_changed(self, name: str, raw: Any, new: dict[str, Any]) -> bool:
        """uhashring's rule for whether configuring ``name`` updates the ring: a new node, a conf dict
        that changes ``nodename``, ``vnodes`` or ``weight``, or a different final weight."""
        current = self._nodes.get(name)
        if not current:
            return True
        if isinstance(raw, dict) and any(
            k in ("nodename", "vnodes", "weight") and current.get(k) != v for k, v in raw.items()
        ):
            return True
        return bool(current.get("weight") != new["weight"])

    __setitem__ = add_node

    def remove_node(self, nodename: str) -> None:
        """Remove ``nodename``; ``KeyError`` if it is not configured."""
        if nodename not in self._nodes:
            raise KeyError(
                "node '{}' not found, available nodes: {}".format(nodename, self._nodes.keys())
            )
        pointless = self._nodes[nodename]["vnodes"] * self._nodes[nodename]["weight"] <= 0
        self._apply({}, remove=nodename)
        if pointless and not self._ketama:
            # uhashring's md5 mode removes the node, then fails on its empty point count.
            raise KeyError(nodename)

    __delitem__ = remove_node

    def regenerate(self) -> None:
        """Re-evaluate ``weight_fn`` for every node (keeping its other settings) and rebuild."""
        self._apply(self._configure(dict(self._nodes)))

    # -- lookups -----------------------------------------------------------------------------------

    def _owner(self, key: Any) -> str | None:
        return self._core.get_node(_key_text(key))

    def get_node(self, key: Any) -> str | None:
        """The name of the node owning ``key``, or ``None`` if the ring is empty."""
        # _key_text inlined: this is the hot call.
        return self._core.get_node(key if type(key) is str else str(key))

    def get(self, key: Any) -> dict[str, Any] | None:
        """The conf dict of the node owning ``key``, or ``None`` if the ring is empty."""
        name = self._owner(key)
        return None if name is None else self._nodes[name]

    def _conf_item(self, key: Any, what: str) -> Any:
        name = self._owner(key)
        return None if name is None else self._nodes[name][what]

    def get_node_instance(self, key: Any) -> Any:
        """The ``instance`` of the node owning ``key`` (``None`` if unset or the ring is empty)."""
        return self._conf_item(key, "instance")

    __getitem__ = get_node_instance

    def get_node_hostname(self, key: Any) -> Any:
        """The ``hostname`` of the node owning ``key`` (default: its name)."""
        return self._conf_item(key, "hostname")

    def get_node_port(self, key: Any) -> Any:
        """The ``port`` of the node owning ``key`` (default ``None``)."""
        return self._conf_item(key, "port")

    def get_node_weight(self, key: Any) -> Any:
        """The ``weight`` of the node owning ``key``."""
        return self._conf_item(key, "weight")

    def get_node_pos(self, key: Any) -> int | None:
        """The index in ``get_points()`` of the point owning ``key``; ``None`` on an empty ring."""
        hit = self._core.locate(_key_text(key))
        return None if hit is None else hit[0]

    def get_server(self, key: Any) -> tuple[int, str] | None:
        """Ketama-style ``(position, nodename)`` of the point owning ``key``."""
        hit = self._core.locate(_key_text(key))
        return None if hit is None else (hit[1], hit[2])

    def get_key(self, key: Any) -> int:
        """The position of ``key`` on the ring (uhashring's ``hashi``)."""
        return self._core.key_position(_key_text(key))

    hashi = get_key

    def get_points(self) -> list[tuple[int, str]]:
        """Every point as ``(position, nodename)``, in ring order."""
        return self._core.get_points()

    def get_nodes(self) -> Any:
        """The names of the configured nodes (a dict keys view, as uhashring)."""
        return self._nodes.keys()

    def get_instances(self) -> list[Any]:
        """The truthy ``instance`` of every configured node."""
        return [c.get("instance") for c in self._nodes.values() if c.get("instance")]

    def range(
        self, key: Any, size: int | None = None, unique: bool = True
    ) -> Generator[dict[str, Any], None, None]:
        """A generator of the conf dicts of the nodes clockwise from ``key``'s owner: at most ``size``
        of them (any false ``size`` means all), each node once if ``unique``, else one per point."""
        limit = size if size and size > 0 else None
        names = self._core.range(_key_text(key), limit, unique)
        nodes = self._nodes
        for name in names:
            yield nodes[name]

    def iterate_nodes(self, key: Any, distinct: bool = True) -> Iterator[str | None]:
        """hash_ring's API: a generator of node names clockwise from ``key``'s owner (each once if
        ``distinct``); a single ``None`` on an empty ring."""
        if not self._core.point_count:
            yield None
            return
        yield from self._core.range(_key_text(key), None, distinct)

    def print_continuum(self) -> None:
        """Print a ketama-style continuum report."""
        points = self.get_points()
        if points:
            print(f"Numpoints in continuum: {len(points)}")
        else:
            print("Continuum empty")
        for point, node in points:
            print(f"{node} ({point})")

    # -- state -------------------------------------------------------------------------------------

    @property
    def conf(self) -> dict[str, dict[str, Any]]:
        """The node conf dicts by name (uhashring's ``nodes`` / ``conf``)."""
        return self._nodes

    nodes = conf

    @property
    def distribution(self) -> Counter[str]:
        """A ``Counter`` of each node's number of points on the ring."""
        shares = self._core.distribution()["nodes"]
        return Counter({name: shares[name]["points"] for name in self._nodes if shares[name]["points"]})

    @property
    def ring(self) -> dict[int, str]:
        """The ring as a dict ``{position: nodename}`` in ring order (uhashring's ``ring``)."""
        return dict(self._core.get_points())

    continuum = ring

    @property
    def size(self) -> int:
        """Number of points on the ring."""
        return self._core.point_count

    def __len__(self) -> int:
        """Number of configured nodes (an addition: uhashring has no ``len``)."""
        return len(self._nodes)

    def __contains__(self, nodename: object) -> bool:
        """Whether ``nodename`` is a configured node (an addition: uhashring has no ``in``)."""
        return nodename in self._nodes

    def __repr__(self) -> str:
        mode = "ketama" if self._ketama else "md5"
        return f"<ringroute.compat.uhashring.HashRing {mode} nodes={len(self._nodes)} points={self.size}>"
