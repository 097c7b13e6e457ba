"""The membership as etcd holds it under a prefix, decoded key by key: node records
(``<prefix>/nodes/<name>``), health (``<prefix>/health/<name>``) and the ring's config
(``<prefix>/config``).

Records decode through the native membership decoder (``HashRing.from_dict``), so a value is good
or bad exactly as for the Rust routers and membership files. A value that does not decode counts as
absent (skipped, counted, logged with its key), so every router derives the same ring from the same
etcd revision.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ringroute import HashRing, Transaction

if TYPE_CHECKING:
    from ringroute._ringroute import NodeInfo

log = logging.getLogger("ringroute")

_MAX_WEIGHT = 2**32 - 1


class Layout:
    """The keys of one membership: ``<prefix>/nodes/<name>``, ``<prefix>/health/<name>``,
    ``<prefix>/config``."""

    def __init__(self, prefix: str) -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        self.root = prefix.rstrip("/") + "/"
        self.root_bytes = self.root.encode()

    def node_key(self, name: str) -> bytes:
        return f"{self.root}nodes/{name}".encode()

    def health_key(self, name: str) -> bytes:
        return f"{self.root}health/{name}".encode()

    def config_key(self) -> bytes:
        return f"{self.root}config".encode()

    def parse(self, key: bytes) -> tuple[str, str] | None:
        """``("node", name)``, ``("health", name)``, ``("config", "")``, or ``None`` for a key this
        membership does not use."""
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not text.startswith(self.root):
            return None
        rest = text[len(self.root) :]
        if rest == "config":
            return ("config", "")
        for kind, head in (("node", "nodes/"), ("health", "health/")):
            if rest.startswith(head) and len(rest) > len(head):
                return (kind, rest[len(head) :])
        return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(value: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN or infinities (as serde_json reads it)."""
    return json.loads(value.decode("utf-8"), parse_constant=_reject_constant)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "..."


@dataclass(frozen=True)
class NodeRecord:
    """A decoded node record; ``meta`` is the node's ``instance``."""

    weight: int
    hostname: str | None
    port: int | None
    meta: dict[str, Any] | None


def _probe(name: str, value: bytes) -> tuple[dict[str, Any], int]:
    """A node record's value as an entry of a membership document for the native decoder, and its
    weight (checked here and replaced by 0 in the entry, so that decoding builds no points)."""
    doc = _loads(value)
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {_short(doc)}")
    weight = doc.get("weight")
    probe = dict(doc)
    probe["name"] = name  # a record's own "name" is ignored, as by the native decoder
    if type(weight) is int and 0 <= weight <= _MAX_WEIGHT:
        probe["weight"] = 0
    return probe, 1 if weight is None else weight


def _record(weight: int, info: NodeInfo) -> NodeRecord:
    return NodeRecord(weight, info.get("hostname"), info.get("port"), info.get("instance"))


def decode_node(name: str, value: bytes) -> NodeRecord:
    """Decodes a node record's value; ``ValueError`` (or ``TypeError``) if it is not one."""
    probe, weight = _probe(name, value)
    return _record(weight, HashRing.from_dict({"nodes": [probe]}).nodes[name])


def decode_health(value: bytes) -> bool:
    """Decodes a health value, ``up`` or ``down`` (bare or a JSON string): True for down."""
    if value in (b"up", b'"up"'):
        return False
    if value in (b"down", b'"down"'):
        return True
    raise ValueError(f"expected up or down, got {value[:40]!r}")


Settings = tuple[str, int, int | None]


def decode_config(value: bytes) -> Settings:
    """Decodes a config value to (placement, virtual_nodes, table_size)."""
    doc = _loads(value)
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {_short(doc)}")
    probe = dict(doc)
    probe["nodes"] = []  # the config's own "nodes" is ignored, as by the native decoder
    ring = HashRing.from_dict(probe)
    return (ring.placement, ring.virtual_nodes, ring.table_size)


def settings_of(ring: HashRing) -> Settings:
    return (ring.placement, ring.virtual_nodes, ring.table_size)


def _canonical(value: Any) -> str | None:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return None


@dataclass
class Touched:
    """The nodes a batch of changes touched, or all of them (after a list or a config change)."""

    all: bool = False
    names: set[str] = field(default_factory=set)


class Records:
    """The decoded membership of one etcd revision, and what was skipped so far."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.nodes: dict[str, NodeRecord] = {}
        self.down: set[str] = set()
        self.config: Settings | None = None
        self.skipped = 0

    def clear(self) -> None:
        """Forgets every record (before a list), keeping the count of skipped values."""
        self.nodes.clear()
        self.down.clear()
        self.config = None

    def _skip(self, key: bytes, why: object) -> None:
        self.skipped += 1
        log.warning("membership: skipped %s: %s", key.decode("utf-8", "replace"), why)

    def load(self, items: list[tuple[bytes, bytes]], touched: Touched) -> None:
        """Applies the puts of a list (distinct keys): as ``apply`` on each, with the node records
        decoded together (one native decode for all; one by one only if one of them is bad)."""
        probes: list[tuple[bytes, bytes, str, dict[str, Any], int]] = []
        for key, value in items:
            parsed = self.layout.parse(key)
            if parsed is None or parsed[0] != "node":
                self.apply(key, value, touched)
                continue
            try:
                probe, weight = _probe(parsed[1], value)
            except (ValueError, TypeError) as e:
                self._skip(key, e)
                self.nodes.pop(parsed[1], None)
                touched.names.add(parsed[1])
                continue
            probes.append((key, value, parsed[1], probe, weight))
        try:
            infos = HashRing.from_dict({"nodes": [p for _, _, _, p, _ in probes]}).nodes
        except (ValueError, TypeError):
            for key, value, _, _, _ in probes:
                self.apply(key, value, touched)
            return
        for _, _, name, _, weight in probes:
            self.nodes[name] = _record(weight, infos[name])
            touched.names.add(name)

    def apply(self, key: bytes, value: bytes | None, touched: Touched) -> None:
        """Applies a put (``value``) or a delete (``None``) of ``key``; records what it touched."""
        parsed = self.layout.parse(key)
        if parsed is None:
            return
        kind, name = parsed
        if kind == "node":
            record = None
            if value is not None:
                try:
                    record = decode_node(name, value)
                except (ValueError, TypeError) as e:
                    self._skip(key, e)
            if record is None:
                self.nodes.pop(name, None)
            else:
                self.nodes[name] = record
            touched.names.add(name)
        elif kind == "health":
            down = False
            if value is not None:
                try:
                    down = decode_health(value)
                except ValueError as e:
                    self._skip(key, e)
            if down:
                self.down.add(name)
            else:
                self.down.discard(name)
            touched.names.add(name)
        else:
            self.config = None
            if value is not None:
                try:
                    self.config = decode_config(value)
                except (ValueError, TypeError) as e:
                    self._skip(key, e)
            touched.all = True

    def check_config(self, ring: HashRing) -> None:
        """A config naming other settings than the ring's is one it cannot apply (a live ring
        keeps its placement): skipped."""
        if self.config is not None and self.config != settings_of(ring):
            placement, vnodes, table = self.config
            self._skip(
                self.layout.config_key(),
                f"cannot apply placement {placement!r} (virtual_nodes {vnodes}, table_size "
                f"{table}): the ring's is {ring.placement!r} (virtual_nodes {ring.virtual_nodes}, "
                f"table_size {ring.table_size})",
            )
            self.config = None

    def publish(self, ring: HashRing, touched: Touched) -> None:
        """Publishes these records on ``ring`` in one transaction, comparing the nodes ``touched``
        names (or every node); nothing if nothing differs. Raises if the ring refuses it (then
        nothing is published)."""
        if touched.all:
            self.check_config(ring)
            names = set(ring.node_names) | set(self.nodes)
        else:
            names = touched.names
        down_now = ring.down_nodes
        tx = ring.transaction()
        try:
            for name in sorted(names):
                want = self.nodes.get(name)
                have = ring.get_node_weight(name)
                if want is None:
                    if have is not None:
                        tx.remove_node(name)
                    continue
                if have is None:
                    up = True
                    self._add(tx, name, want)
                elif (
                    ring.get_node_hostname(name) != want.hostname
                    or ring.get_node_port(name) != want.port
                    or _canonical(ring.get_node_instance(name)) != _canonical(want.meta)
                ):
                    # A node's metadata changes by replacing it (same name: same points).
                    up = True
                    tx.remove_node(name)
                    self._add(tx, name, want)
                else:
                    up = name not in down_now
                    if have != want.weight:
                        tx.set_node_weight(name, want.weight)
                down = name in self.down
                if down and up:
                    tx.mark_down(name)
                elif not up and not down:
                    tx.mark_up(name)
        except BaseException:
            tx.rollback()
            raise
        tx.commit()

    @staticmethod
    def _add(tx: Transaction, name: str, r: NodeRecord) -> None:
        tx.add_node(name, weight=r.weight, hostname=r.hostname, port=r.port, instance=r.meta)

    def ring(self, like: HashRing) -> HashRing:
        """The ring these records describe, built from scratch with ``like``'s settings (a ring
        synced at this revision has its fingerprint, nodes and health)."""
        doc: dict[str, Any] = {"placement": like.placement, "nodes": []}
        if like.table_size is not None:
            doc["table_size"] = like.table_size
        else:
            doc["virtual_nodes"] = like.virtual_nodes
        for name, r in sorted(self.nodes.items()):
            entry: dict[str, Any] = {"name": name, "weight": r.weight}
            if r.hostname is not None:
                entry["hostname"] = r.hostname
            if r.port is not None:
                entry["port"] = r.port
            if r.meta is not None:
                entry["meta"] = r.meta
            doc["nodes"].append(entry)
        ring = HashRing.from_dict(doc)
        if self.down & set(self.nodes):
            with ring.transaction() as tx:
                for name in sorted(self.down & set(self.nodes)):
                    tx.mark_down(name)
        return ring
