"""Fixtures of the storage tests: an S3 API (moto's server on 127.0.0.1) with one empty bucket."""

import os
import subprocess
import sys

import pytest
from local_servers import S3_BUCKET, free_port, wait_until_answering


@pytest.fixture(scope="session")
def s3_environment(tmp_path_factory):
    """A moto S3 server with an empty bucket; yields the environment that points AWS clients at it."""
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
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
