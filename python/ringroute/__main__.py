"""``python -m ringroute``: the command line of :mod:`ringroute.cli`."""

from ringroute.cli import main

raise SystemExit(main())
