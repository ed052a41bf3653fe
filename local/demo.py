"""``python -m local.demo ...`` (``make demo``): the entry point of :mod:`local.drivers.demo` (the command
keeps its name; the code is a driver of the local cloud, not part of its emulator)."""

import sys

from local.drivers.demo import main

if __name__ == "__main__":
    sys.exit(main())
