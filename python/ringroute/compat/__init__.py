"""Drop-in replacements for other consistent-hashing libraries, with the originals' exact answers.

Each module offers one library's API over ``ringroute.HashRing`` and the placement profile of the Rust
core that reproduces it; the modules hold configuration (node settings, instances, the caller's node
objects), and placement and lookups go through the core, except for what the core cannot reproduce
(a uhashring ``hash_fn`` callable or ketama ``replicas`` other than 4, continuum's float capacities),
whose points are made and searched in Python with the original's rules:

- ``ringroute.compat.uhashring.HashRing``: uhashring 2.x (profiles ``uhashring`` and
  ``uhashring-ketama``; a custom ``hash_fn`` or ketama ``replicas`` other than 4 in Python), and
  ``ringroute.compat.uhashring.monkey.patch_memcache``;
- ``ringroute.compat.hash_ring.HashRing``: amix's hash_ring 1.3.1 (profile ``hash_ring``), and its
  python-memcached wrapper ``MemcacheRing``;
- ``ringroute.compat.continuum.Continuum``: python-continuum 0.1.1 (profile ``continuum``; float
  capacities in Python).

Switching is an import away::

    from ringroute.compat.uhashring import HashRing   # was: from uhashring import HashRing

The golden vectors of the original libraries (``tests/data``) are checked through these APIs, row by
row, and uhashring is also compared live, side by side. Each module's docstring lists what it does not
reproduce.
"""
