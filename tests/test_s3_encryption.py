"""SSE-KMS on the wire: a job run with `SPARK_JOBS_S3_KMS_KEY_ARN` in its environment writes every
object (tables, run report, Athena DDL) with the SSE-KMS headers and the key, as moto's S3 server
records them and HeadObject reports them back. The environment is the mechanism local runs use
for S3A settings (common/s3.py); the two properties are the ones EMR's core-site and the EMR
Serverless job runs set (tools/emr).

The AWS SDK for Java v1 inside S3A 3.3.x sends SSE-KMS requests over HTTPS only, so the server
here speaks TLS on loopback with a self-signed certificate, and the job is a `spark-submit` of
the packaged zip whose JVM trusts that certificate (the shared test session's JVM cannot be told
to trust a new certificate once started).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.s3 import KMS_KEY_VARIABLE
from common.spark import java_home
from tests.golden import LOG_ANALYTICS_OPTIONS
from tests.submit import SHORT_LIVED_JVM, spark_submit
from tools.emr import registry
from tools.local_s3 import LocalS3

pytestmark = pytest.mark.slow

BUCKET = "encrypted"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def tls_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    with LocalS3(tls_dir=tmp_path_factory.mktemp("tls")) as server:
        yield server


def encryption_of(s3: LocalS3, prefix: str) -> dict[str, tuple[str | None, str | None]]:
    """Object key -> (ServerSideEncryption, SSEKMSKeyId) as HeadObject reports them."""
    client, found = s3.client(), {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            head = client.head_object(Bucket=BUCKET, Key=item["Key"])
            found[item["Key"]] = (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId"))
    return found


def test_objects_a_job_writes_carry_the_sse_kms_headers_with_the_key(
    tls_s3: LocalS3, fixtures: Path, dist: Path, tmp_path: Path
) -> None:
    tls_s3.create_bucket(BUCKET)
    tls_s3.upload_spread(sorted((fixtures / "log_analytics" / "input").iterdir()), BUCKET, "input/2026/11", 2)
    store, password = tls_s3.java_truststore(java_home())
    trust = f"{SHORT_LIVED_JVM} -Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStorePassword={password}"
    environment = {**tls_s3.environment(), "AWS_CA_BUNDLE": str(tls_s3.certificate), KMS_KEY_VARIABLE: KEY}
    args = registry.find("log_analytics").invocation(
        inputs={"--input": f"s3://{BUCKET}/input/2026/11/*/*.jsonl"},
        output=f"s3://{BUCKET}/output",
        options=LOG_ANALYTICS_OPTIONS,
    )
    result = spark_submit(
        dist, "log_analytics", args, cwd=tmp_path, conf={"spark.driver.extraJavaOptions": trust}, extra_env=environment
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    written = encryption_of(tls_s3, "output/")
    assert any(key.endswith(".parquet") for key in written) and "output/run_report.json" in written
    assert {key: value for key, value in written.items() if value != ("aws:kms", KEY)} == {}
    # The inputs, uploaded without asking for encryption, carry no KMS header: the server reports
    # what each request asked for, so the check above can fail.
    assert {value for value in encryption_of(tls_s3, "input/").values()} == {(None, None)}
