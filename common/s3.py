"""S3 for sessions we run locally: `s3://` and `s3a://` both served by Hadoop's S3A connector,
configured from the standard AWS environment, so a job reads and writes S3 on a laptop with the
same URIs it uses on EMR.

Why here and why on the live session:
- On EMR, EMRFS serves `s3://` (core-site.xml sets `fs.s3.impl`) with the cluster's instance
  role. We must change nothing there, so we act only when the master is local *and* nothing but
  S3A (or nothing at all) serves `s3://` yet.
- A local run may be started from plain Python (tests, `python -m jobs.x`) or by `spark-submit
  --master local[...]` (the packaged zip). In the second case the JVM and its SparkConf exist
  before our code runs, so the settings are applied to the running session's Hadoop
  configuration, after `getOrCreate`; doing the same in both cases keeps one code path.
  Every query copies that configuration when it is planned (Spark's and Delta's
  `sessionState.newHadoopConf()`), and in local mode the executors share the driver's JVM, so
  what we set is what every read and write sees.
- The settings are recomputed from the environment each time a job builds its session: a
  process that changes `AWS_ENDPOINT_URL_S3` between runs (the test suite) gets the new
  endpoint. A key the user set explicitly (`--conf spark.hadoop.fs.s3a.X=...`) always wins.

Encryption at rest: with `SPARK_JOBS_S3_KMS_KEY_ARN` set to a KMS key ARN, everything S3A writes
asks for SSE-KMS under that key (`s3a_encryption`, the same two properties the EMR cluster's
core-site and the EMR Serverless job runs set; see docs/security-encryption.md). Unset, S3A asks
for nothing and the bucket's default encryption applies, so a bucket whose default is already
SSE-KMS keeps its own key.

Credentials never pass through here: the AWS SDK's own provider chain finds them (environment
variables, the shared profile files, web identity, container and instance roles), so no
secret is ever put into a Hadoop or Spark setting, a log line or a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pyspark.sql import SparkSession

S3A_FILESYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"

# S3A's own providers first, so keys configured the Hadoop way (fs.s3a.access.key, session
# tokens, a JCEKS credential file) still work; then the SDK's default chain: AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, Java system properties, web identity (EKS),
# AWS_PROFILE and ~/.aws/credentials, then container and EC2 instance roles. S3A's default list
# has no profile provider, which is what a developer laptop usually relies on.
CREDENTIAL_PROVIDERS = ",".join(
    [
        "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
        "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "com.amazonaws.auth.DefaultAWSCredentialsProviderChain",
    ]
)

# S3A 3.3.4 defaults retry a dead endpoint for minutes: 20 SDK attempts inside 7 S3A retries,
# 50 s to establish a connection, 200 s of socket silence. A local run should fail in seconds
# and say why; throttling (503 SlowDown) keeps its own, longer, retry budget.
RESILIENCE: dict[str, str] = {
    "fs.s3a.attempts.maximum": "3",  # retries inside the AWS SDK, per HTTP request
    "fs.s3a.retry.limit": "3",  # retries of a failed S3A operation, exponential backoff
    "fs.s3a.retry.interval": "500ms",  # the backoff's first interval
    "fs.s3a.connection.establish.timeout": "5000",  # ms to open a TCP connection
    "fs.s3a.connection.timeout": "30000",  # ms of silence on an open connection
}

# A KMS key named by its full ARN (multi-Region keys included): an alias or a bare key id would be
# resolved in the caller's account, which is not always the bucket owner's.
KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
KMS_KEY_EXAMPLE = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KMS_KEY_VARIABLE = "SPARK_JOBS_S3_KMS_KEY_ARN"
ENCRYPTION_KEYS = ("fs.s3a.encryption.algorithm", "fs.s3a.encryption.key")


def parse_kms_key_arn(text: str) -> str:
    """The key ARN as given, or ValueError saying what is expected (one line)."""
    if not KMS_KEY_ARN.fullmatch(text.strip()):
        raise ValueError(f"a KMS key must be given as a key ARN like {KMS_KEY_EXAMPLE}, got {text!r}")
    return text.strip()


def s3a_encryption(kms_key_arn: str | None) -> dict[str, str]:
    """S3A's SSE-KMS properties for `kms_key_arn` (S3A 3.3.2+ names); none without a key, so the
    bucket's default encryption applies. The one home of these properties: local sessions, the
    EMR cluster's core-site and EMR Serverless's spark-defaults all take them from here."""
    if kms_key_arn is None:
        return {}
    return dict(zip(ENCRYPTION_KEYS, ("SSE-KMS", parse_kms_key_arn(kms_key_arn)), strict=True))


# Every Hadoop key `s3a_settings` may set.
MANAGED_KEYS: tuple[str, ...] = (
    "fs.s3.impl",
    "fs.s3a.impl",
    "fs.s3a.aws.credentials.provider",
    "fs.s3a.endpoint",
    "fs.s3a.endpoint.region",
    "fs.s3a.path.style.access",
    "fs.s3a.connection.ssl.enabled",
    *RESILIENCE,
    *ENCRYPTION_KEYS,
)

DEFAULT_REGION = "us-east-1"


def endpoint_from_env(environ: Mapping[str, str]) -> str | None:
    """The custom S3 endpoint, as the AWS SDKs and CLI read it: the S3-specific variable first."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = environ.get(name, "").strip()
        if value:
            return value.rstrip("/")
    return None


def region_from_env(environ: Mapping[str, str]) -> str | None:
    """The region, as the AWS SDKs and CLI read it."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def s3a_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The Hadoop settings that make S3A serve `s3://` and `s3a://` for this environment.

    Deliberately no `fs.AbstractFileSystem.s3.impl`: S3A's FileContext binding hard-codes the
    scheme `s3a` and fails on `s3://` paths, whereas with none configured, FileContext users
    (Spark's checkpoint manager, which Delta uses for its .crc files) fall back to FileSystem.

    With `SPARK_JOBS_S3_KMS_KEY_ARN` set, objects are written with SSE-KMS under that key.

    With a custom endpoint (MinIO, LocalStack, moto, an S3-compatible store) requests use
    path-style URLs (`http://host/bucket/key`): such servers rarely resolve
    `bucket.host` names. A plain `http://` endpoint turns TLS off, or S3A would speak TLS to it.
    """
    settings = {
        "fs.s3.impl": S3A_FILESYSTEM,
        "fs.s3a.impl": S3A_FILESYSTEM,
        "fs.s3a.aws.credentials.provider": CREDENTIAL_PROVIDERS,
        **RESILIENCE,
    }
    region = region_from_env(environ)
    endpoint = endpoint_from_env(environ)
    if endpoint is not None:
        settings["fs.s3a.endpoint"] = endpoint
        settings["fs.s3a.path.style.access"] = "true"
        settings["fs.s3a.connection.ssl.enabled"] = "false" if endpoint.startswith("http://") else "true"
        # Signature V4 needs a region; S3-compatible servers accept any.
        region = region or DEFAULT_REGION
    if region is not None:
        settings["fs.s3a.endpoint.region"] = region
    try:
        settings.update(s3a_encryption(environ.get(KMS_KEY_VARIABLE, "").strip() or None))
    except ValueError as exc:
        raise ValueError(f"{KMS_KEY_VARIABLE}: {exc}") from None
    return settings


def serves_s3_locally(spark: SparkSession) -> bool:
    """True when this session is ours to configure: a local master, and `s3://` unclaimed or
    already ours (on an EMR node `fs.s3.impl` names EMRFS, and then we keep out)."""
    if not spark.sparkContext.master.startswith("local"):
        return False
    current = spark.sparkContext._jsc.hadoopConfiguration().get("fs.s3.impl")
    return current is None or current == S3A_FILESYSTEM


# Where we note which keys we set, so a later call can tell ours from the user's.
APPLIED_KEYS_MARKER = "spark-jobs.s3a.applied-keys"


def _set_elsewhere(spark: SparkSession, key: str, ours: set[str]) -> bool:
    """True when the user configured `key`: `--conf spark.hadoop.<key>` or a *-site.xml file."""
    if spark.sparkContext.getConf().contains(f"spark.hadoop.{key}"):
        return True
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    # Hadoop remembers where a key came from even after `unset`: an absent key is nobody's.
    if key in ours or hadoop_conf.get(key) is None:
        return False
    sources = hadoop_conf.getPropertySources(key)
    return sources is not None and not all(_is_default_source(str(source)) for source in sources)


def _is_default_source(source: str) -> bool:
    """Hadoop's shipped defaults, and Spark's own (it sets fs.s3a.endpoint=s3.amazonaws.com)."""
    return source == "core-default.xml" or source.startswith("Set by Spark to default")


def configure_s3(spark: SparkSession, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Apply `s3a_settings` to a local session's Hadoop configuration; returns what was applied.

    Does nothing (returns {}) off a local master. Explicit configuration wins: a key set with
    `--conf spark.hadoop.<key>` or in a core-site.xml is left as it is. A key we set earlier that
    the environment no longer asks for (an endpoint that was unset) is removed again.
    """
    if not serves_s3_locally(spark):
        return {}
    settings = s3a_settings(os.environ if environ is None else environ)
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    ours = set(filter(None, (hadoop_conf.get(APPLIED_KEYS_MARKER) or "").split(",")))
    applied: dict[str, str] = {}
    for key in MANAGED_KEYS:
        if _set_elsewhere(spark, key, ours):
            continue
        if key in settings:
            hadoop_conf.set(key, settings[key])
            applied[key] = settings[key]
        elif key in ours:
            hadoop_conf.unset(key)
    hadoop_conf.set(APPLIED_KEYS_MARKER, ",".join(sorted(applied)))
    return applied
