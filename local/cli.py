"""``python -m local.cli up|down|status|serve``: the entry point of :mod:`local.drivers.cli` (the command
keeps its name; the code is a driver of the local cloud, not part of its emulator)."""

import sys

from local.drivers.cli import main

if __name__ == "__main__":
    sys.exit(main())
