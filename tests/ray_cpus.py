"""The CPUs a test's Ray gets: this machine's cores shared among pytest-xdist's workers.

Two workers that each start a 2-CPU Ray on a 2-core machine run four trial actors on two cores; the
sweeps then take about 1.7 times as long as with one CPU each (measured on the tiny regression sweep).
"""

import os

RAY_CPUS = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
