"""``python -m graphrec ...``: the CLI of the ``graphrec`` console script (also torchrun -m)."""

import sys

from graphrec.cli import main

if __name__ == "__main__":
    sys.exit(main())
