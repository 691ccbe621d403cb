"""S3 failures a user meets, each a single line naming the path and the problem, exit code 1,
no stack trace: a bucket that does not exist, a prefix with no files, credentials the server
rejects, an endpoint that does not answer. They are translated in common/io.py, so every job
reports them alike; log_analytics stands for all of them.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common.s3 import configure_s3
from jobs import log_analytics
from tests.cli import error_line, run_cli
from tools.local_s3 import LocalS3

pytestmark = pytest.mark.slow

BUCKET = "failures"
INPUT = f"s3://{BUCKET}/input/2026/11/*/*.jsonl"
# A dead endpoint must fail well within this; the test enforces it with an alarm.
DEAD_ENDPOINT_DEADLINE_S = 90


@pytest.fixture(scope="module")
def bucket(s3: LocalS3, fixtures: Path) -> str:
    s3.create_bucket(BUCKET)
    s3.upload_spread(sorted((fixtures / "log_analytics" / "input").iterdir()), BUCKET, "input/2026/11", 2)
    s3.client().put_object(Bucket=BUCKET, Key="only-marker/_SUCCESS", Body=b"")
    return BUCKET


def run_job(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit code and the error line."""
    code, err = run_cli(log_analytics.main, capsys, *args)
    return code, error_line(err)


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail the test, instead of hanging the suite, if the block runs longer than `seconds`."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def closed_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("s3://no-such-bucket/logs/2026/11/*/*.jsonl", "cannot read {source}: bucket 'no-such-bucket' does not exist"),
        ("s3://no-such-bucket/logs", "cannot read {source}: bucket 'no-such-bucket' does not exist"),
        (f"s3://{BUCKET}/empty/2026/11/*/*.jsonl", "input path not found: {source}"),
        (f"s3a://{BUCKET}/empty/prefix", "input path not found: {source}"),
        (f"s3://{BUCKET}/only-marker", "no input files under {source}"),
    ],
    ids=["missing-bucket-glob", "missing-bucket", "empty-prefix-glob", "empty-prefix", "marker-only"],
)
def test_input_that_is_not_there(bucket: str, capsys, source: str, problem: str) -> None:
    code, line = run_job(capsys, "--input", source, "--output", f"s3://{bucket}/out")
    assert code == 1
    assert line == f"log_analytics: error: {problem.format(source=source)}"


def test_output_bucket_that_does_not_exist(s3: LocalS3, bucket: str, capsys) -> None:
    code, line = run_job(capsys, "--input", INPUT, "--output", "s3://no-such-bucket/out")
    assert code == 1
    # the run's first touch of its output: is it a log warehouse, built with these settings?
    assert line == "log_analytics: error: cannot read s3://no-such-bucket/out: bucket 'no-such-bucket' does not exist"


def test_credentials_the_server_rejects(s3: LocalS3, bucket: str, capsys) -> None:
    with s3.enforcing_authentication():
        code, line = run_job(capsys, "--input", INPUT, "--output", f"s3://{bucket}/out")
    assert code == 1
    assert line.startswith(f"log_analytics: error: cannot read {INPUT}: access denied")
    assert line.endswith(": check the AWS credentials and the bucket policy")
    assert s3.objects(bucket, "out/") == {}


def test_endpoint_that_does_not_answer(
    spark: SparkSession, s3: LocalS3, bucket: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused on every attempt: bounded retries (common/s3.py RESILIENCE), then one line."""
    port = closed_loopback_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    try:
        with deadline(DEAD_ENDPOINT_DEADLINE_S):
            code, line = run_job(capsys, "--input", INPUT, "--output", f"s3://{bucket}/out")
    finally:
        monkeypatch.undo()
        configure_s3(spark)  # back to the live server for the tests after this one
    elapsed = time.monotonic() - started
    assert code == 1
    assert line.startswith(f"log_analytics: error: cannot read {INPUT}: storage endpoint did not answer: ")
    assert f"127.0.0.1:{port}" in line and "Connection refused" in line
    assert elapsed < DEAD_ENDPOINT_DEADLINE_S
