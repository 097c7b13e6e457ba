"""Type stubs of the native module ``ringroute._ringroute`` (see the docstrings at run time).

Checked against the built module by ``python -m mypy.stubtest ringroute._ringroute`` (run by
scripts/test-all). The TypedDicts (``@type_check_only``) and the private ``_Key`` alias exist only
here: at run time the methods return plain dicts and accept ``str`` or ``bytes`` keys.
"""

import sys
from array import array
from os import PathLike
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import (
    Any,
    Literal,
    NotRequired,
    Self,
    TypeAlias,
    TypedDict,
    final,
    overload,
    type_check_only,
)

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

__all__ = [
    "HashRing",
    "Transaction",
    "BoundedLoad",
    "Lease",
    "NodeWalk",
    "OutOfRangeError",
    "__version__",
    "PICKLE_VERSION",
    "PROFILES",
]

__version__: str
PICKLE_VERSION: int
PROFILES: list[str]

_Key: TypeAlias = str | bytes

class OutOfRangeError(ValueError, OverflowError):
    """An integer argument out of its range: both a ValueError and an OverflowError."""

@type_check_only
class NodeInfo(TypedDict):
    weight: int
    vnodes: int
    hostname: NotRequired[str]
    port: NotRequired[int]
    instance: NotRequired[Any]

@type_check_only
class NodeConf(TypedDict, total=False):
    weight: int
    hostname: str | None
    port: int | None
    instance: Any

@type_check_only
class NodeShare(TypedDict):
    weight: int
    points: int
    share: float
    point_share: float
    expected: float

@type_check_only
class Distribution(TypedDict):
    nodes: dict[str, NodeShare]
    points: int
    max: float
    mean: float
    imbalance: float
    weighted_imbalance: float

@type_check_only
class ChangeEvent(TypedDict):
    event: Literal[
        "node_add", "node_remove", "node_reweight", "node_down", "node_up", "change", "settings"
    ]
    version: int
    timestamp: float
    added: list[str]
    removed: list[str]
    reweighted: dict[str, tuple[int, int]]
    down: list[str]
    up: list[str]
    vnodes_added: int
    vnodes_removed: int
    moved: float

@type_check_only
class PublishTimes(TypedDict):
    count: int
    sum: float
    buckets: list[tuple[float, int]]

# Native classes, not subclassable (pyo3 classes without `subclass`).
@final
class HashRing:
    """A consistent hash ring over the lock-free Rust router (fastring's API and more)."""

    def __new__(
        cls,
        virtual_nodes: int | None = None,
        *,
        nodes: Iterable[str] | Mapping[str, int | NodeConf | None] | None = None,
        placement: str = "native",
        table_size: int | None = None,
    ) -> Self: ...
    def add_node(
        self,
        name: str,
        weight: int = 1,
        hostname: str | None = None,
        port: int | None = None,
        instance: Any = None,
    ) -> None: ...
    def remove_node(self, name: str) -> None: ...
    def set_node_weight(self, name: str, weight: int) -> None: ...
    def mark_down(self, name: str) -> None: ...
    def mark_up(self, name: str) -> None: ...
    def is_up(self, name: str) -> bool: ...
    @property
    def down_nodes(self) -> frozenset[str]: ...
    @property
    def all_down(self) -> Literal["panic", "fail"]: ...
    def set_all_down(self, policy: Literal["panic", "fail"]) -> None: ...
    def transaction(self) -> Transaction: ...
    def bounded(self, factor: float = 1.25) -> BoundedLoad: ...
    def get_node(self, key: _Key) -> str | None: ...
    def get_node_batch(self, keys: Iterable[_Key] | Buffer) -> list[str | None]: ...
    def get_owners(self, keys: Iterable[_Key] | Buffer) -> list[str | None]: ...
    @overload
    def get_node_index_batch(
        self, keys: Iterable[_Key] | Buffer, *, with_names: Literal[False] = False
    ) -> array[int]: ...
    @overload
    def get_node_index_batch(
        self, keys: Iterable[_Key] | Buffer, *, with_names: Literal[True]
    ) -> tuple[array[int], tuple[str, ...]]: ...
    def get_replicas(self, key: _Key, count: int) -> list[str]: ...
    def iterate_nodes(self, key: _Key, distinct: bool = True) -> NodeWalk: ...
    def range(self, key: _Key, size: int | None = None, unique: bool = True) -> list[str]: ...
    def key_hash(self, key: _Key) -> int: ...
    def key_position(self, key: _Key) -> int: ...
    def get_points(self) -> list[tuple[int, str]]: ...
    def locate(self, key: _Key) -> tuple[int, int, str] | None: ...
    def get_node_hostname(self, name: str) -> str | None: ...
    def get_node_port(self, name: str) -> int | None: ...
    def get_node_weight(self, name: str) -> int | None: ...
    def get_node_instance(self, name: str) -> Any: ...
    @property
    def nodes(self) -> dict[str, NodeInfo]: ...
    @property
    def node_names(self) -> tuple[str, ...]: ...
    @property
    def placement(self) -> str: ...
    @property
    def virtual_nodes(self) -> int: ...
    @property
    def table_size(self) -> int | None: ...
    @property
    def point_count(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def fingerprint(self) -> int: ...
    def distribution(self) -> Distribution: ...
    def moved_fraction(self, other: HashRing) -> float: ...
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HashRing: ...
    def to_dict(self) -> dict[str, Any]: ...
    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> HashRing: ...
    def to_file(self, path: str | PathLike[str]) -> None: ...
    def on_change(self, callback: Callable[[ChangeEvent], object]) -> None: ...
    def track_publish_times(self) -> None: ...
    @property
    def publish_times(self) -> PublishTimes | None: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __getitem__(self, key: _Key, /) -> str: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...
    @classmethod
    def _from_state(cls, state: tuple[Any, ...]) -> HashRing: ...

@final
class Transaction:
    """Changes to a HashRing published together, once (a context manager)."""

    def add_node(
        self,
        name: str,
        weight: int = 1,
        hostname: str | None = None,
        port: int | None = None,
        instance: Any = None,
    ) -> None: ...
    def remove_node(self, name: str) -> None: ...
    def set_node_weight(self, name: str, weight: int) -> None: ...
    def mark_down(self, name: str) -> None: ...
    def mark_up(self, name: str) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def __contains__(self, name: object, /) -> bool: ...
    def __enter__(self) -> Transaction: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> Literal[False]: ...

@final
class BoundedLoad:
    """Consistent hashing with bounded loads over a HashRing (made by HashRing.bounded)."""

    def acquire(self, key: _Key) -> Lease: ...
    def load(self, name: str) -> int: ...
    def loads(self) -> dict[str, int]: ...
    def capacity(self, name: str) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def factor(self) -> float: ...

@final
class Lease:
    """A request in flight on a node (a context manager yielding the node's name)."""

    @property
    def node(self) -> str: ...
    @property
    def released(self) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> str: ...
    def __exit__(
        self,
        _exc_type: type[BaseException] | None = None,
        _exc_value: BaseException | None = None,
        _traceback: TracebackType | None = None,
    ) -> Literal[False]: ...

@final
class NodeWalk:
    """A key's clockwise walk over the ring as it was when iterate_nodes was called, made as read."""

    def __iter__(self) -> NodeWalk: ...
    def __next__(self) -> str: ...
