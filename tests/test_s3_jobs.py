"""Every job end to end on S3: input read from `s3://`/`s3a://` (a glob over many small objects,
one folder per day), every table and the run report written to S3, results equal to the golden
files (the local-path run of the same fixture), and no secret in anything written.

Two launches per job, between them covering both schemes for reading and writing:
- in this process (`main()`, the shared session) with `s3://`;
- `spark-submit` of the packaged zip, a JVM of its own, with `s3a://`: proves a local
  spark-submit run gets the S3A settings from the environment alone.

A new job joins by adding one `JobCase` to JOBS.
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

from common.io import read_table
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

LAUNCHES = {"in_process": "s3", "spark_submit": "s3a"}


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


@pytest.mark.parametrize("launch", sorted(LAUNCHES))
@pytest.mark.parametrize("case", JOBS, ids=lambda case: case.job)
def test_job_reads_and_writes_s3(
    spark: SparkSession,
    s3: LocalS3,
    dist: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    case: JobCase,
    launch: str,
) -> None:
    scheme = LAUNCHES[launch]
    bucket = f"{case.job}-{launch}".replace("_", "-")
    upload_input(s3, bucket, case)
    source, output = f"{scheme}://{bucket}/input/2026/11/*/*.jsonl", f"{scheme}://{bucket}/output"

    if launch == "in_process":
        code = importlib.import_module(f"jobs.{case.job}").main(case.argv(source, output))
        captured = capfd.readouterr()
        console = captured.out + captured.err
    else:
        result = spark_submit(dist, case.job, case.argv(source, output), cwd=tmp_path)
        code, console = result.returncode, result.stdout + result.stderr
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
        assert f"output/{table}/_delta_log/00000000000000000000.json" in written
        actual = read_table(spark, f"{output}/{table}", "delta")
        if table in case.source_file:
            sources = {row[0] for row in actual.select("source_file").distinct().collect()}
            assert all(s.startswith(f"{scheme}://{bucket}/input/2026/11/") for s in sources), sources
            actual = file_name_only(actual)
        expected = read_expected(spark, case.fixture_input.parent / "expected" / f"{table}.jsonl", schema)
        assert_table_equals(actual, expected, approx=table in case.approx)

    secret = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    assert not [key for key, body in written.items() if secret in body]
    assert secret.decode() not in console
