"""End to end as on EMR: spark-submit the packaged zip from an empty directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common.tables import read_table
from tests.golden import LOG_ANALYTICS_TABLES as TABLES
from tests.golden import assert_table_equals, file_name_only, log_analytics_args, read_expected
from tests.submit import spark_submit

pytestmark = pytest.mark.slow


def test_log_analytics_from_the_zip(spark: SparkSession, dist: Path, fixtures: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "empty"
    workdir.mkdir()
    output = tmp_path / "out"
    result = spark_submit(dist, "log_analytics", log_analytics_args(fixtures, output), cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (output / "run_report.json").exists()
    for table, schema in TABLES.items():
        actual = read_table(spark, str(output / table), "delta").select(*schema.fieldNames())
        expected = read_expected(spark, fixtures / "log_analytics" / "expected" / f"{table}.jsonl", schema)
        assert_table_equals(file_name_only(actual), expected, approx=table == "anomalies")


def test_failure_under_spark_submit_is_one_line(dist: Path, tmp_path: Path) -> None:
    result = spark_submit(dist, "log_analytics", ["--input", str(tmp_path / "nope"), "--output", "out"], cwd=tmp_path)
    assert result.returncode == 1
    # spark-submit merges the Python driver's stderr into its stdout (Spark's PythonRunner)
    last_line = [line for line in result.stdout.splitlines() if line.strip()][-1]
    assert last_line == f"log_analytics: error: input path not found: {tmp_path / 'nope'}"
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()
