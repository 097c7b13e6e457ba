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

Custom hashing: a ``hash_fn`` callable, or ``hash_fn="ketama"`` with ``replicas`` other than 4, works
as in uhashring: the points and the keys' positions are computed in Python (by the callable, or by
uhashring's ketama words), kept as uhashring keeps them, and searched with ``bisect``; every other
setting runs on the Rust core. Such a ring answers exactly as uhashring does (repeated ketama
positions included), at Python speed.

Nodes: any object uhashring accepts (``str``, ``int``, any object with a ``str``). A node is placed by
its text ``str(node)`` (uhashring hashes ``f"{node}-{w}"``), and every answer hands back the caller's
object: ``get_node`` and ``iterate_nodes`` return it, ``conf`` / ``nodes`` are keyed by it.

``ringroute.compat.uhashring.monkey.patch_memcache()`` is uhashring's python-memcached patch, with
this module's ``HashRing``.

Differences from uhashring (each one raises rather than answering differently, except the last two):

- ``hash_fn`` other than ``None``, ``"ketama"`` or a callable raises ``TypeError`` as uhashring does;
  ketama ``replicas`` must be an int from 0 to 4 (uhashring fails later, with ``IndexError``, on
  more than 4: an md5 digest has 4 words).
- Two nodes whose ``str`` is equal (``1`` and ``"1"``), or a node whose ``str`` is empty, raise
  ``ValueError``: uhashring would mix their points.
- Weights and vnodes must be ``int`` (``TypeError`` otherwise; uhashring's md5 mode fails the same
  way on a float). In md5 mode a node gets ``max(vnodes * weight, 0)`` points exactly like
  uhashring's ``range(vnodes * weight)``; ketama mode with the default ``replicas=4`` refuses
  negative weights or vnodes (``ValueError``) and needs the same ``vnodes`` for every node
  (``ValueError`` otherwise). Ketama mode raises uhashring's ``ZeroDivisionError`` when the total
  weight is 0 -- before changing anything, where uhashring has already stored the new configuration.
- ``len(ring)`` (number of nodes) and ``name in ring`` (is the node configured) are additions:
  uhashring has neither (``in`` would iterate ``ring[0]``, ``ring[1]``, ... for ever).
- In ketama mode (core, ``replicas=4``) uhashring keeps a 32-bit position shared by two points twice
  in its sorted key list (both entries mapping to the node added last); ringroute keeps it once. Owners are the same, but
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
from typing import Any, Union

from ringroute._ringroute import HashRing as _CoreRing
from ringroute.compat.uhashring.points import PointRing, ketama_hash

__all__ = ["HashRing"]

_CONF_KEYS = ("hostname", "instance", "nodename", "port", "vnodes", "weight")


def _key_text(key: Any) -> str:
    """The text uhashring hashes: ``str(key)``."""
    return key if type(key) is str else str(key)


def _check_int(value: Any, what: str, name: Any) -> int:
    if not isinstance(value, int):
        raise TypeError(f"node {name!r}: {what} must be an int, not {type(value).__name__}")
    return value


class HashRing:
    """A consistent hash ring with uhashring 2.x's API and answers (see the module docs)."""

    def __init__(self, nodes: Any = [], **kwargs: Any) -> None:  # noqa: B006 - uhashring's signature
        """Create a ring of ``nodes`` (a list of names, a single name, or a dict of name -> weight or
        name -> conf dict).

        Keyword arguments as uhashring: ``hash_fn`` (``None``, ``"ketama"`` or a callable
        ``key -> int``), ``vnodes`` (default 160, or 40 with ``hash_fn="ketama"``), ``weight_fn`` (a
        callable computing a node's weight from its conf), ``replicas`` (ketama mode, default 4).
        """
        hash_fn = kwargs.get("hash_fn", None)
        vnodes = kwargs.get("vnodes", None)
        weight_fn = kwargs.get("weight_fn", None)
        # Points made in Python (custom hashing), or None: the Rust core's profiles.
        self._points: PointRing | None = None
        if hash_fn == "ketama":
            replicas = kwargs.get("replicas", 4)
            if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= 4:
                raise ValueError(
                    f"replicas={replicas!r}: ketama takes 0 to 4 words of each md5 digest"
                )
            self._ketama = True
            if replicas != 4:
                self._points = PointRing(ketama_hash, replicas)
            if vnodes is None:
                vnodes = 40
        else:
            if hash_fn is not None:
                if not callable(hash_fn):
                    raise TypeError("hash_fn should be a callable function")
                self._points = PointRing(hash_fn, None)
            self._ketama = False
            if vnodes is None:
                vnodes = 160
        self._default_vnodes = vnodes
        if weight_fn and not callable(weight_fn):
            raise TypeError("weight_fn should be a callable function")
        self._weight_fn: Callable[..., Any] | None = weight_fn
        # Conf dicts by the caller's node objects, and the node objects by their text (the name on
        # the ring: str(node)).
        self._nodes: dict[Any, dict[str, Any]] = {}
        self._objects: dict[str, Any] = {}
        self._core = self._new_core(vnodes if self._ketama else 1)
        self._apply(self._configure(nodes))

    @property
    def _ring_impl(self) -> Union[_CoreRing, PointRing]:
        """What answers lookups: the core ring, or the Python points of a custom hashing."""
        return self._core if self._points is None else self._points

    def _kt(self, key: Any) -> Any:
        """A key as the ring hashes it: its text for the core (uhashring hashes ``str(key)``), the key
        itself for a custom ``hash_fn`` (uhashring hands the callable the key as given)."""
        return _key_text(key) if self._points is None else key

    def _obj(self, text: str | None) -> Any:
        return None if text is None else self._objects[text]

    # -- configuration (uhashring's _configure_nodes) ---------------------------------------------

    def _new_core(self, virtual_nodes: int) -> _CoreRing:
        placement = "uhashring-ketama" if self._ketama else "uhashring"
        return _CoreRing(virtual_nodes, placement=placement)

    def _configure(self, nodes: Any) -> dict[Any, dict[str, Any]]:
        """The new conf dicts of ``nodes``, in order, as uhashring builds them (nothing stored)."""
        if isinstance(nodes, str):
            nodes = [nodes]
        elif not isinstance(nodes, (dict, list)):
            raise ValueError(
                "nodes configuration should be a list or a dict," " got {}".format(type(nodes))
            )
        out: dict[Any, dict[str, Any]] = {}
        texts: dict[str, Any] = {}
        for node in nodes:
            text = str(node)
            if not text:
                raise ValueError(f"node {node!r}: its str() is empty")
            other = texts.get(text, self._objects.get(text, node))
            if other is not node and other != node:
                raise ValueError(f"nodes {other!r} and {node!r} have the same str() {text!r}")
            texts[text] = node
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

    def _apply(self, changes: dict[Any, dict[str, Any]], remove: Any = None, removing: bool = False) -> None:
        """Stores ``changes`` (and removes ``remove`` if ``removing``) in the conf and the ring, or
        raises before changing anything."""
        if self._points is not None or self._ketama:
            # The whole membership after the change (the md5 mode's core edits only the changed
            # nodes, so it skips this copy).
            nodes = dict(self._nodes)
            if removing:
                del nodes[remove]
            nodes.update(changes)
            by_text = {str(n): c for n, c in nodes.items()}
        if self._points is not None:
            self._points.update(
                by_text,
                {str(n): c for n, c in changes.items()},
                str(remove) if removing else None,
            )
        elif self._ketama:
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
                core_nodes = {text: 0 for text in by_text}
            else:
                core = self._new_core(v)
                core_nodes = {text: c["weight"] for text, c in by_text.items()}
            if core_nodes:
                with core.transaction() as tx:
                    for text, w in core_nodes.items():
                        tx.add_node(text, w)
            self._core = core
        else:
            with self._core.transaction() as tx:
                if removing:
                    tx.remove_node(str(remove))
                for name, c in changes.items():
                    text = str(name)
                    points = max(c["vnodes"] * c["weight"], 0)
                    if text in tx:
                        tx.set_node_weight(text, points)
                    else:
                        tx.add_node(text, points)
        # uhashring replaces the conf dict of a re-added node in place (same dict position).
        if removing:
            del self._nodes[remove]
            del self._objects[str(remove)]
        self._nodes.update(changes)
        for name in changes:
            self._objects[str(name)] = name

    # -- membership --------------------------------------------------------------------------------

    def add_node(self, nodename: Any, conf: dict[str, Any] | int = {"weight": 1}) -> None:  # noqa: B006
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

    def _conf_changed(self, name: Any, raw: Any, new: dict[str, Any]) -> bool:
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

    def remove_node(self, nodename: Any) -> None:
        """Remove ``nodename``; ``KeyError`` if it is not configured."""
        if nodename not in self._nodes:
            raise KeyError(
                "node '{}' not found, available nodes: {}".format(nodename, self._nodes.keys())
            )
        pointless = self._nodes[nodename]["vnodes"] * self._nodes[nodename]["weight"] <= 0
        self._apply({}, remove=nodename, removing=True)
        if pointless and not self._ketama:
            # uhashring's md5 mode removes the node, then fails on its empty point count.
            raise KeyError(nodename)

    __delitem__ = remove_node

    def regenerate(self) -> None:
        """Re-evaluate ``weight_fn`` for every node (keeping its other settings) and rebuild."""
        self._apply(self._configure(dict(self._nodes)))

    # -- lookups -----------------------------------------------------------------------------------

    def _owner(self, key: Any) -> Any:
        return self._obj(self._ring_impl.get_node(self._kt(key)))

    def get_node(self, key: Any) -> Any:
        """The node owning ``key`` (the caller's object), or ``None`` if the ring is empty."""
        if self._points is None:
            # The hot call: _kt and _obj inlined for the core.
            name = self._core.get_node(key if type(key) is str else str(key))
            return None if name is None else self._objects[name]
        return self._owner(key)

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
        hit = self._ring_impl.locate(self._kt(key))
        return None if hit is None else int(hit[0])

    def get_server(self, key: Any) -> tuple[Any, Any] | None:
        """Ketama-style ``(position, nodename)`` of the point owning ``key``."""
        hit = self._ring_impl.locate(self._kt(key))
        return None if hit is None else (hit[1], self._objects[hit[2]])

    def get_key(self, key: Any) -> Any:
        """The position of ``key`` on the ring (uhashring's ``hashi``)."""
        return self._ring_impl.key_position(self._kt(key))

    hashi = get_key

    def get_points(self) -> list[tuple[Any, Any]]:
        """Every point as ``(position, nodename)``, in ring order."""
        objects = self._objects
        return [(p, objects[n]) for p, n in self._ring_impl.get_points()]

    def get_nodes(self) -> Any:
        """The configured nodes (a dict keys view, as uhashring)."""
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
        names = self._ring_impl.range(self._kt(key), limit, unique)
        nodes, objects = self._nodes, self._objects
        for name in names:
            yield nodes[objects[name]]

    def iterate_nodes(self, key: Any, distinct: bool = True) -> Iterator[Any]:
        """hash_ring's API: a generator of nodes clockwise from ``key``'s owner (each once if
        ``distinct``); a single ``None`` on an empty ring."""
        impl = self._ring_impl
        if not impl.point_count:
            yield None
            return
        objects = self._objects
        for name in impl.range(self._kt(key), None, distinct):
            yield objects[name]

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
    def distribution(self) -> Counter[Any]:
        """A ``Counter`` of each node's number of points (generated points for a custom hashing, as
        uhashring counts them; points on the ring otherwise)."""
        if self._points is not None:
            counts = self._points.counts
            return Counter({n: counts[str(n)] for n in self._nodes if counts.get(str(n))})
        shares = self._core.distribution()["nodes"]
        return Counter(
            {n: shares[str(n)]["points"] for n in self._nodes if shares[str(n)]["points"]}
        )

    @property
    def ring(self) -> dict[Any, Any]:
        """The ring as a dict ``{position: nodename}`` in ring order (uhashring's ``ring``)."""
        return dict(self.get_points())

    continuum = ring

    @property
    def size(self) -> int:
        """Number of points on the ring."""
        return self._ring_impl.point_count

    def __len__(self) -> int:
        """Number of configured nodes (an addition: uhashring has no ``len``)."""
        return len(self._nodes)

    def __contains__(self, nodename: object) -> bool:
        """Whether ``nodename`` is a configured node (an addition: uhashring has no ``in``)."""
        return nodename in self._nodes

    def __repr__(self) -> str:
        mode = "ketama" if self._ketama else "md5"
        if self._points is not None:
            mode += " (custom hashing)"
        return f"<ringroute.compat.uhashring.HashRing {mode} nodes={len(self._nodes)} points={self.size}>"
