"""``python -m graphrec ...``: the same CLI as the ``graphrec`` console script (also for torchrun -m)."""

import sys

from graphrec.cli import main

if __name__ == "__main__":
    sys.exit(main())
