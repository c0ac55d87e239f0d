"""Shared test settings: Ray without auth on a short temp path, and small fixtures."""

import os
import subprocess
import sys
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
from local_servers import S3_BUCKET, free_port, stop_server, wait_until_answering  # noqa: E402
from ray_cpus import RAY_CPUS  # noqa: E402

from bdlsweep.sweeps.cluster.ray_session import apply_ray_defaults  # noqa: E402

# One command's Ray keeps idle workers for a minute; the session's Ray serves test after test, so its idle
# workers (which have imported torch and the evaluation code) wait ten minutes for the next test's tasks.
os.environ.setdefault("RAY_idle_worker_killing_time_threshold_ms", "600000")
apply_ray_defaults()  # otherwise the test's Ray runs as the command's does


@pytest.fixture(scope="session")
def s3_environment(tmp_path_factory):
    """A moto S3 server with an empty bucket; yields the environment that points AWS clients at it, set
    in this test process for the session."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    environment = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        wait_until_answering(environment["AWS_ENDPOINT_URL"], server, log_path, timeout_s=60)
        with pytest.MonkeyPatch.context() as patch:
            for key, value in environment.items():
                patch.setenv(key, value)
            import boto3

            boto3.client("s3").create_bucket(Bucket=S3_BUCKET)
            yield environment
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def ray_session(s3_environment):
    """One local Ray instance for every test that needs it, started in the S3 server's environment so
    that its workers reach a bucket storage as a researcher's local Ray reaches theirs."""
    import ray

    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: ``--dist loadgroup`` hands each worker the next test in this order as it frees
    up, so the long end-to-end tests start early and the short ones fill the workers' last minutes."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
