"""Every job end to end on S3: input read from `s3://` (a glob over many small objects, one
folder per day, beside a decoy the glob must skip), every table and the run report written to
`s3://`, results equal to the golden files (the local-path run of the same fixture), and no
secret in anything written or printed. The run goes through `main()` in this process, on the
shared session, exactly as `python -m jobs.<job>` would. A new job joins by adding one
`JobCase` to JOBS.

`s3a://` is served by the same S3A code: rather than a second full run per job (minutes on a
busy machine), every reader and writer of common/io.py makes a round trip through it.

A local `spark-submit` of the packaged zip is a JVM of its own that must find the S3A settings
from the environment alone: the last test proves it on a run that lists real objects and stops
at once (what follows the settings is the code path the in-process run tests).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from common.io import (
    SOURCE_FILE,
    delete_path,
    read_json_lines,
    read_table,
    read_text,
    require_input,
    write_table,
    write_text,
)
from schemas.logs import RAW_LOG
from tests.golden import assert_table_equals, file_name_only, read_expected
from tests.submit import build_artifact, spark_submit
from tests.test_log_analytics_golden import TABLES as LOG_ANALYTICS_TABLES
from tools.local_s3 import LocalS3

# Each fixture input file is cut into this many objects, one per day folder.
PIECES_PER_FILE = 6


@dataclass(frozen=True)
class JobCase:
    """What the S3 end-to-end test needs to know about a job."""

    job: str
    tables: dict[str, StructType]
    argv: Callable[[str, str], list[str]]  # (input URI, output URI) -> arguments
    rows_read: int  # lines in tests/fixtures/<job>/input, as the report must count them
    approx: frozenset[str] = field(default_factory=frozenset)  # tables with float columns
    source_file: frozenset[str] = field(default_factory=frozenset)  # tables keeping a source_file column

    @property
    def fixture_input(self) -> Path:
        return Path(__file__).parent / "fixtures" / self.job / "input"


JOBS = [
    JobCase(
        job="log_analytics",
        tables=LOG_ANALYTICS_TABLES,
        argv=lambda source, output: [
            *("--input", source, "--output", output),
            *("--window-minutes", "60", "--min-window-events", "3"),
        ],
        rows_read=41,
        approx=frozenset({"anomalies"}),
        source_file=frozenset({"quarantine"}),
    ),
]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifact") / "dist"
    build_artifact(folder)
    return folder


def upload_input(s3: LocalS3, bucket: str, case: JobCase) -> None:
    """The fixture as many small objects under input/2026/11/<dd>/, plus a decoy the glob
    must not pick up (a whole copy of the input under 2026/10/)."""
    s3.create_bucket(bucket)
    files = sorted(case.fixture_input.iterdir())
    keys = s3.upload_spread(files, bucket, "input/2026/11", PIECES_PER_FILE)
    assert len(keys) >= 2 * PIECES_PER_FILE - 1
    s3.upload_spread(files, bucket, "input/2026/10", 1)


@pytest.mark.parametrize("case", JOBS, ids=lambda case: case.job)
def test_job_reads_and_writes_s3(
    spark: SparkSession, s3: LocalS3, capfd: pytest.CaptureFixture[str], case: JobCase
) -> None:
    bucket = case.job.replace("_", "-")
    upload_input(s3, bucket, case)
    source, output = f"s3://{bucket}/input/2026/11/*/*.jsonl", f"s3://{bucket}/output"

    code = importlib.import_module(f"jobs.{case.job}").main(case.argv(source, output))
    captured = capfd.readouterr()
    console = captured.out + captured.err
    assert code == 0, console[-3000:]

    written = s3.objects(bucket, "output/")
    report = json.loads(written["output/run_report.json"])
    assert report["status"] == "succeeded"
    assert report["arguments"]["input"] == source
    assert report["rows_read"] == case.rows_read  # the glob took the November files, not the decoy
    assert {name: table["path"] for name, table in report["tables"].items()} == {
        name: f"{output}/{name}" for name in case.tables
    }
    for table, schema in case.tables.items():
        # the commit and its checksum (Delta writes the .crc through FileContext, see common/s3.py)
        assert {f"output/{table}/_delta_log/00000000000000000000.{ext}" for ext in ("json", "crc")} <= set(written)
        actual = read_table(spark, f"{output}/{table}", "delta")
        if table in case.source_file:
            sources = {row[0] for row in actual.select("source_file").distinct().collect()}
            assert all(s.startswith(f"s3://{bucket}/input/2026/11/") for s in sources), sources
            actual = file_name_only(actual)
        expected = read_expected(spark, case.fixture_input.parent / "expected" / f"{table}.jsonl", schema)
        assert_table_equals(actual, expected, approx=table in case.approx)

    secret = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    assert not [key for key, body in written.items() if secret in body]
    assert secret.decode() not in console


def test_s3a_round_trip_through_every_reader_and_writer(spark: SparkSession, s3: LocalS3) -> None:
    bucket = "s3a-round-trip"
    s3.create_bucket(bucket)
    s3.upload_spread([Path(__file__).parent / "fixtures" / "log_analytics" / "input" / "app-1.jsonl"], bucket, "in", 3)
    root = f"s3a://{bucket}"
    require_input(spark, f"{root}/in/*/*.jsonl")
    lines = read_json_lines(spark, f"{root}/in/*/*.jsonl", RAW_LOG)
    assert lines.count() == 12
    assert {row[0].rsplit("/", 2)[0] for row in lines.select(SOURCE_FILE).collect()} == {f"{root}/in"}
    for fmt in ("delta", "parquet"):
        write_table(lines.select("user_id"), f"{root}/{fmt}", fmt)
        write_table(lines.select("user_id").limit(3), f"{root}/{fmt}", fmt)  # a rerun replaces
        assert read_table(spark, f"{root}/{fmt}", fmt).count() == 3
    write_text(spark, f"{root}/report.json", '{"ok": true}\n')
    assert read_text(spark, f"{root}/report.json") == '{"ok": true}\n'
    delete_path(spark, f"{root}/report.json")
    assert "report.json" not in s3.objects(bucket, "")


def test_spark_submit_of_the_zip_finds_s3_from_the_environment(s3: LocalS3, dist: Path, tmp_path: Path) -> None:
    """Under `spark-submit --master local[2]` only AWS_ENDPOINT_URL_S3 and the credentials in the
    environment point the run at the server. The answer proves it: `s3://` is served by S3A
    (else "No FileSystem for scheme"), the listing reaches the server (else the default AWS
    endpoint would not answer) path-style and signed, and finds objects but no data file."""
    bucket = "spark-submit"
    s3.create_bucket(bucket)
    s3.client().put_object(Bucket=bucket, Key="input/2026/11/01/_SUCCESS", Body=b"")
    source = f"s3://{bucket}/input"
    result = spark_submit(dist, "log_analytics", ["--input", source, "--output", f"s3://{bucket}/out"], cwd=tmp_path)
    assert result.returncode == 1
    # spark-submit merges the Python driver's stderr into its stdout (Spark's PythonRunner)
    last_line = [line for line in result.stdout.splitlines() if line.strip()][-1]
    assert last_line == f"log_analytics: error: no input files under {source}"
    assert "Traceback" not in result.stdout + result.stderr
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr
