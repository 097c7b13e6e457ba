"""Cache clients routed by ringroute (optional extra: ``pip install ringroute[clients]``).

- ``MemcacheRing``: pymemcache's ``HashClient`` with a ``HashRing`` as its hasher
  (``placement="libmemcached"`` shares a pool with pylibmc/libmemcached clients).
- ``RedisRing``: a replicated cache over independent Redis servers on redis-py, with failover,
  run-time membership changes, ``rebalance()`` and health metrics.

Both are imported lazily, so ``import ringroute`` (and ``import ringroute.clients``) works without
pymemcache or redis installed; using one without its library raises ``ImportError`` saying what to
install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringroute.clients.memcache import MemcacheRing
    from ringroute.clients.redis import RebalanceReport, RedisRing

__all__ = ["MemcacheRing", "RedisRing", "RebalanceReport"]

_LAZY = {
    "MemcacheRing": ("ringroute.clients.memcache", "pymemcache"),
    "RedisRing": ("ringroute.clients.redis", "redis"),
    "RebalanceReport": ("ringroute.clients.redis", "redis"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ringroute.clients' has no attribute {name!r}")
    module, dependency = _LAZY[name]
    try:
        import importlib

        mod = importlib.import_module(module)
    except ImportError as exc:
        if exc.name is None or exc.name.split(".")[0] != dependency:
            raise
        raise ImportError(
            f"ringroute.clients.{name} needs {dependency!r}: pip install 'ringroute[clients]' "
            f"(or pip install {dependency})",
            name=dependency,
        ) from exc
    return getattr(mod, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
