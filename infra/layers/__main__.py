"""``python -m infra.layers [build|size]`` (see the package docstring)."""

import sys

from infra.layers import main

raise SystemExit(main(sys.argv[1:]))
