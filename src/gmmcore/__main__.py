"""Entry point of ``python -m gmmcore`` and the ``gmmcore`` script (see gmmcore._cli)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
