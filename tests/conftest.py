"""Shared test settings: Ray without auth on a short temp path, and small fixtures."""

import os
import tempfile
import warnings

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# Each pytest process (each xdist worker) gets its own Ray temp folder: a `ray start` cluster of one
# worker's test records its address there, and ray.init() in another worker would join it.
os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray", dir=os.environ.get("RAY_TMPDIR", "/tmp"))
warnings.filterwarnings("ignore", category=FutureWarning)
# xdist's workers share the machine's cores: a worker (and the processes it starts) gets its share of
# threads, so that torch's thread pools do not spin against each other (a 2-D VI fit took 60 s, not 6 s).
if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))

import pytest  # noqa: E402
from ray_cpus import RAY_CPUS  # noqa: E402

from bdlsweep.sweeps.ray_session import apply_ray_defaults  # noqa: E402

apply_ray_defaults()  # the test's Ray runs as the command's does


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for every test that needs it."""
    import ray

    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: ``--dist loadgroup`` hands each worker the next test in this order as it frees
    up, so the long end-to-end tests start early and the short ones fill the workers' last minutes."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
