"""The job skeleton (common/job.py): the input gate and its row accounting, suites that record
their result and stop a failing run, tables checked before they are written, reconciliation,
and the report written last."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import great_expectations as gx
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.classify import Contract, Field, RowRule
from common.errors import InputError, ValidationError
from common.fs import path_exists
from common.job import ROWS_PER_FILE, JobRun, files_for, require_all_hold
from common.lines import RAW_RECORD, SOURCE_FILE
from common.report import REPORT_FILE, row_accounting

# `value` must be present and not below zero.
VALUE_CONTRACT = Contract(
    kind="value",
    line_rules=(),
    fields=(
        Field(
            "value",
            "value",
            lambda raw: raw,
            lambda raw, typed: [
                RowRule("missing_value", "value is null", lambda: F.col(typed).isNull()),
                RowRule("negative_value", "value is below zero", lambda: F.col(typed) < 0),
            ],
        ),
    ),
)
POSITIVE = [gx.expectations.ExpectColumnValuesToBeBetween(column="value", min_value=1)]


def lines(spark: SparkSession, *items: int | None) -> DataFrame:
    rows = [(str(v), "memory", v) for v in items]
    return spark.createDataFrame(rows, f"{RAW_RECORD} string, {SOURCE_FILE} string, value int")


def values(spark: SparkSession, *items: int | None) -> DataFrame:
    return spark.createDataFrame([(v,) for v in items], "value int")


def job_run(spark: SparkSession, root: Path) -> JobRun:
    return JobRun(spark, "test", argparse.Namespace(output=str(root)), output=str(root))


def test_the_input_gate_counts_every_row_once_and_caches_it_for_the_run(spark: SparkSession, tmp_path: Path) -> None:
    with job_run(spark, tmp_path) as run:
        classified = run.accept_input(lines(spark, 1, None, -2, -3, 5), VALUE_CONTRACT, source="memory")
        assert classified.is_cached
        assert run.counts == {
            "rows_read": 5,
            "rows_valid": 2,
            "rows_quarantined": 3,
            "quarantined_by_reason": {"missing_value": 1, "negative_value": 2},
        }
    assert not classified.is_cached  # the run released it


def test_the_input_gate_stops_on_an_empty_input(spark: SparkSession, tmp_path: Path) -> None:
    with job_run(spark, tmp_path) as run, pytest.raises(InputError, match=r"^no value lines in memory$"):
        run.accept_input(lines(spark), VALUE_CONTRACT, source="memory")


def test_the_input_gate_stops_when_every_row_is_quarantined(spark: SparkSession, tmp_path: Path) -> None:
    with job_run(spark, tmp_path) as run, pytest.raises(InputError) as error:
        run.accept_input(lines(spark, None, -1, -1), VALUE_CONTRACT, source="memory")
    assert str(error.value) == ("no valid value lines in memory: all 3 quarantined (missing_value=1, negative_value=2)")


def test_the_previous_report_is_retired_only_once_the_input_is_accepted(spark: SparkSession, tmp_path: Path) -> None:
    report = tmp_path / REPORT_FILE
    report.write_text("{}")
    with job_run(spark, tmp_path) as run:
        with pytest.raises(InputError, match="too few"):
            run.accept_input(lines(spark, 1), VALUE_CONTRACT, source="memory", require=refuse)
        assert report.exists()
        run.accept_input(lines(spark, 1), VALUE_CONTRACT, source="memory")
        assert not report.exists()


def refuse(counts: dict) -> None:
    raise InputError(f"{counts['rows_valid']} rows are too few")


def test_check_records_a_passing_suite(spark: SparkSession, tmp_path: Path) -> None:
    not_null = gx.expectations.ExpectColumnValuesToNotBeNull(column="value")
    with job_run(spark, tmp_path) as run:
        df = values(spark, 1, 2)
        assert run.check(df, "values", [not_null]) is df
    assert run.report.validation["values"]["success"] is True
    assert "validate_values" in run.report.timings


def test_check_records_and_stops_a_failing_suite(spark: SparkSession, tmp_path: Path) -> None:
    expectations = [gx.expectations.ExpectColumnValuesToBeBetween(column="value", min_value=0)]
    failed = r"^expectations failed: values: expect_column_values_to_be_between"
    with job_run(spark, tmp_path) as run, pytest.raises(ValidationError, match=failed):
        run.check(values(spark, 1, -5), "values", expectations)
    recorded = run.report.validation["values"]
    assert recorded["success"] is False
    assert recorded["expectations"][0]["unexpected_count"] == 1


def test_a_table_that_fails_its_suite_is_never_written(spark: SparkSession, tmp_path: Path) -> None:
    with job_run(spark, tmp_path) as run, pytest.raises(ValidationError, match=r"^expectations failed: values"):
        run.publish("values", values(spark, 3, 0), expectations=POSITIVE)
    assert not path_exists(spark, str(tmp_path / "values"))
    assert "values" not in run.report.tables
    assert run.report.validation["values"]["expectations"][0]["unexpected_count"] == 1


def test_a_table_that_passes_is_written_counted_and_returned(spark: SparkSession, tmp_path: Path) -> None:
    with job_run(spark, tmp_path) as run:
        published = run.publish("values", values(spark, 3, 1, 2), expectations=POSITIVE)
        assert (published.count, published.path) == (3, str(tmp_path / "values"))
        assert published.rows.is_cached
    assert run.report.tables["values"]["rows"] == 3
    assert run.report.validation["values"]["engine"] == "pandas"
    stored = spark.read.format("delta").load(str(tmp_path / "values"))
    assert sorted(r["value"] for r in stored.collect()) == [1, 2, 3]


def test_reconciliation_stops_naming_every_check_that_does_not_hold() -> None:
    assert require_all_hold({"a": True}, "bad") == {"a": True}
    with pytest.raises(ValidationError, match=r"^tables do not reconcile: b, c$"):
        require_all_hold({"a": True, "b": False, "c": False}, "tables do not reconcile")


def test_finish_writes_the_report_with_the_accounting_and_reconciliation(spark: SparkSession, tmp_path: Path) -> None:
    with job_run(spark, tmp_path) as run:
        run.accept_input(lines(spark, 1, -1), VALUE_CONTRACT, source="memory")
        run.reconcile({"rows_add_up": True})
        written = run.finish()
    on_disk = json.loads((tmp_path / REPORT_FILE).read_text())
    assert on_disk == json.loads(json.dumps(written, default=str))
    assert (on_disk["rows_read"], on_disk["rows_valid"], on_disk["rows_quarantined"]) == (2, 1, 1)
    assert on_disk["metrics"]["reconciliation"] == {"rows_add_up": True}


def test_row_accounting_adds_up() -> None:
    assert row_accounting(10, {"b": 2, "a": 1}) == {
        "rows_read": 10,
        "rows_valid": 7,
        "rows_quarantined": 3,
        "quarantined_by_reason": {"a": 1, "b": 2},
    }


def test_a_small_table_is_written_as_one_file(spark: SparkSession, tmp_path: Path) -> None:
    with job_run(spark, tmp_path) as run:
        run.publish("values", values(spark, *range(1, 50)).repartition(4))
    files = list((tmp_path / "values").glob("*.parquet"))
    assert len(files) == 1
    assert files_for(ROWS_PER_FILE * 2 + 1) == 3 and files_for(0) == 1


def test_a_failed_run_still_prints_its_metrics_line(spark: SparkSession, tmp_path: Path, capsys) -> None:
    with pytest.raises(ValidationError), job_run(spark, tmp_path) as run:
        run.report.counts = row_accounting(10, {"bad_value": 1})
        raise ValidationError("tables do not reconcile")
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith('{"_aws"')]
    assert line["status"] == "failed" and line["RunSucceeded"] == 0 and line["GateTripped"] == 0
    assert line["RowsRead"] == 10 and line["QuarantineRate"] == 0.1
