"""The S3 configuration (common/s3.py) and the guards that keep secrets out of logs and reports.
No Spark job runs here: these are fast."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from common.cli import storage_path
from common.report import RunReport, redact_arguments
from common.s3 import CREDENTIAL_PROVIDERS, KMS_KEY_VARIABLE, S3A_FILESYSTEM, configure_s3, s3a_settings
from tools.emr import registry
from tools.local_s3 import split_lines

EMRFS = "com.amazon.ws.emr.hadoop.fs.EmrFileSystem"


def test_without_endpoint_s3_goes_to_aws_through_s3a() -> None:
    settings = s3a_settings({})
    assert settings["fs.s3.impl"] == settings["fs.s3a.impl"] == S3A_FILESYSTEM
    assert settings["fs.s3a.aws.credentials.provider"] == CREDENTIAL_PROVIDERS
    assert "DefaultAWSCredentialsProviderChain" in CREDENTIAL_PROVIDERS
    assert "fs.s3a.endpoint" not in settings and "fs.s3a.path.style.access" not in settings
    assert "fs.s3a.endpoint.region" not in settings


def test_region_comes_from_the_sdk_variables() -> None:
    assert s3a_settings({"AWS_DEFAULT_REGION": "eu-west-1"})["fs.s3a.endpoint.region"] == "eu-west-1"
    assert s3a_settings({"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "x"})["fs.s3a.endpoint.region"] == (
        "eu-central-1"
    )


@pytest.mark.parametrize(
    ("environ", "endpoint", "ssl"),
    [
        ({"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000/"}, "http://127.0.0.1:9000", "false"),
        ({"AWS_ENDPOINT_URL": "https://minio.internal"}, "https://minio.internal", "true"),
        ({"AWS_ENDPOINT_URL": "http://general", "AWS_ENDPOINT_URL_S3": "http://s3-only"}, "http://s3-only", "false"),
    ],
)
def test_custom_endpoint_uses_path_style(environ: dict[str, str], endpoint: str, ssl: str) -> None:
    settings = s3a_settings(environ)
    assert settings["fs.s3a.endpoint"] == endpoint
    assert settings["fs.s3a.path.style.access"] == "true"
    assert settings["fs.s3a.connection.ssl.enabled"] == ssl
    assert settings["fs.s3a.endpoint.region"] == "us-east-1"


KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_a_kms_key_in_the_environment_asks_s3a_for_sse_kms() -> None:
    settings = s3a_settings({KMS_KEY_VARIABLE: f" {KMS_KEY} "})
    assert settings["fs.s3a.encryption.algorithm"] == "SSE-KMS"
    assert settings["fs.s3a.encryption.key"] == KMS_KEY
    # without one S3A asks for nothing: the bucket's default encryption applies
    assert not any("encryption" in key for key in s3a_settings({KMS_KEY_VARIABLE: ""}))


def test_a_malformed_kms_key_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match=f"{KMS_KEY_VARIABLE}: a KMS key must be given as a key ARN"):
        s3a_settings({KMS_KEY_VARIABLE: "alias/spark-jobs"})


def test_no_setting_holds_a_credential() -> None:
    environ = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok"}
    values = " ".join(s3a_settings(environ).values())
    assert not any(secret in values for secret in environ.values())


@pytest.fixture
def hadoop_conf(spark: SparkSession) -> Iterator[object]:
    """The live session's Hadoop configuration, its S3 settings restored after the test."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    yield conf
    conf.set("fs.s3.impl", S3A_FILESYSTEM)
    configure_s3(spark)


def test_live_session_follows_the_environment(spark: SparkSession, hadoop_conf) -> None:
    configure_s3(spark, {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"})
    assert hadoop_conf.get("fs.s3a.endpoint") == "http://127.0.0.1:1"
    assert hadoop_conf.get("fs.s3.impl") == S3A_FILESYSTEM
    configure_s3(spark, {})
    assert hadoop_conf.get("fs.s3a.endpoint") is None
    assert hadoop_conf.get("fs.s3a.path.style.access") in (None, "false")
    configure_s3(spark, {"AWS_ENDPOINT_URL": "http://127.0.0.1:3"})  # and back again
    assert hadoop_conf.get("fs.s3a.endpoint") == "http://127.0.0.1:3"
    configure_s3(spark, {KMS_KEY_VARIABLE: KMS_KEY})
    assert hadoop_conf.get("fs.s3a.encryption.key") == KMS_KEY
    configure_s3(spark, {})  # a key no longer asked for is removed again
    assert hadoop_conf.get("fs.s3a.encryption.key") is None
    assert hadoop_conf.get("fs.s3a.encryption.algorithm") is None


def test_emrfs_is_left_alone(spark: SparkSession, hadoop_conf) -> None:
    """On an EMR node core-site.xml maps s3:// to EMRFS: we change nothing at all."""
    hadoop_conf.set("fs.s3.impl", EMRFS)
    assert configure_s3(spark, {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2"}) == {}
    assert hadoop_conf.get("fs.s3.impl") == EMRFS
    assert hadoop_conf.get("fs.s3a.endpoint") != "http://127.0.0.1:2"


def test_credentials_in_a_uri_are_refused() -> None:
    assert storage_path("s3://bucket/logs/*/*.jsonl") == "s3://bucket/logs/*/*.jsonl"
    assert storage_path("/tmp/a@b/logs") == "/tmp/a@b/logs"
    with pytest.raises(argparse.ArgumentTypeError):
        storage_path("s3a://AKIAEXAMPLE:s3cr3t@bucket/logs")


# Every path argument of every job: each must go through `storage_path`.
PATH_ARGUMENTS = {
    "log_analytics": ("--input", "--output"),
    "transaction_etl": ("--transactions", "--profiles", "--warehouse"),
    "customer_segmentation": ("--input", "--output"),
    "segment_customers": ("--model", "--input", "--output"),
    "maintain_tables": ("--warehouse", "--output"),
}


def test_every_job_lists_its_path_arguments() -> None:
    assert sorted(PATH_ARGUMENTS) == sorted({job.reports_as for job in registry.present()})


@pytest.mark.parametrize(
    ("job", "argument"), [(job, argument) for job, arguments in PATH_ARGUMENTS.items() for argument in arguments]
)
def test_every_path_argument_refuses_credentials_without_echoing_them(job: str, argument: str, capsys) -> None:
    module = importlib.import_module(f"jobs.{job}")
    argv = [text for name in PATH_ARGUMENTS[job] for text in (name, f"s3://bucket/{name[2:]}")]
    value = vars(module.parse_args(argv))[argument[2:]]
    # a repeatable path argument (log_analytics' --input) holds the list of its values
    assert (value if isinstance(value, str) else value[-1]) == f"s3://bucket/{argument[2:]}"
    argv[argv.index(argument) + 1] = "s3a://AKIAEXAMPLE:s3cr3t@bucket/logs"
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "credentials in a URI are not accepted" in err and "s3cr3t" not in err


def test_report_arguments_are_redacted() -> None:
    arguments = {"input": "s3a://KEY:s3cr3t@bucket/x", "output": "s3://bucket/out", "api_token": "t0k", "n": 3}
    assert redact_arguments(arguments) == {
        "input": "s3a://***@bucket/x",
        "output": "s3://bucket/out",
        "api_token": "***",
        "n": 3,
    }
    assert "s3cr3t" not in str(RunReport("job", arguments).as_dict())


def test_split_lines_keeps_every_line_exactly() -> None:
    data = b'{"a":1}\n\n   \nnot json\r\n{"b":2}'
    pieces = split_lines(data, 3)
    assert len(pieces) == 3
    assert b"".join(pieces) == data + b"\n"
    assert all(piece.endswith(b"\n") for piece in pieces)


def test_split_lines_starts_every_csv_piece_with_the_header() -> None:
    header = b"\xef\xbb\xbfid,name\r\n"
    pieces = split_lines(header + b"1,a\r\n\r\n2,b\r\n3,c", 2, header=True)
    assert pieces == [header + b"1,a\r\n\r\n", header + b"2,b\r\n3,c\n"]
    assert split_lines(header, 3, header=True) == [header]
