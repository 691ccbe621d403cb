"""`common.outputs.publish_table`: an output is checked before it is written, so a table that
fails its suite is never published; one that passes is written and counted."""

from __future__ import annotations

from pathlib import Path

import great_expectations as gx
import pytest
from pyspark.sql import SparkSession

from common.errors import ValidationError
from common.io import path_exists
from common.outputs import publish_table
from common.report import RunReport
from common.spark import CacheScope

POSITIVE = [gx.expectations.ExpectColumnValuesToBeBetween(column="value", min_value=1)]


def publish(spark: SparkSession, root: Path, report: RunReport, *values: int) -> None:
    with CacheScope() as cache:
        publish_table(
            df=spark.createDataFrame([(v,) for v in values], "value int"),
            output_root=str(root),
            name="values",
            fmt="delta",
            report=report,
            cache=cache,
            expectations=POSITIVE,
        )


def test_a_table_that_fails_its_suite_is_never_written(spark: SparkSession, tmp_path: Path) -> None:
    report = RunReport("test", {})
    with pytest.raises(ValidationError, match=r"^expectations failed: values"):
        publish(spark, tmp_path, report, 3, 0)
    assert not path_exists(spark, str(tmp_path / "values"))
    assert "values" not in report.tables
    assert report.validation["values"]["expectations"][0]["unexpected_count"] == 1


def test_a_table_that_passes_is_written_and_counted(spark: SparkSession, tmp_path: Path) -> None:
    report = RunReport("test", {})
    publish(spark, tmp_path, report, 3, 1, 2)
    assert report.tables["values"]["rows"] == 3
    assert report.validation["values"]["engine"] == "pandas"
    stored = spark.read.format("delta").load(str(tmp_path / "values"))
    assert sorted(r["value"] for r in stored.collect()) == [1, 2, 3]
