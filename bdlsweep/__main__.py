"""``python -m bdlsweep`` runs the command line."""

import sys

from bdlsweep.cli import main

if __name__ == "__main__":
    sys.exit(main())
