"""``python -m bdlsweep`` runs the command line."""

import sys

from bdlsweep.cli import main

sys.exit(main())
