"""The log analytics job on the golden fixture: every table, the quarantine and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common.tables import read_table
from jobs import log_analytics
from schemas.logs import USER_ACTIVITY
from tests.golden import LOG_ANALYTICS_TABLES, assert_table_equals, file_name_only, log_analytics_args, read_expected

TABLES = LOG_ANALYTICS_TABLES


@pytest.fixture(scope="module")
def golden_run(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("log_analytics") / "out"
    report = log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(fixtures, output)))
    return output, report


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_matches_golden_file(spark: SparkSession, fixtures: Path, golden_run, table: str) -> None:
    output, _ = golden_run
    actual = read_table(spark, str(output / table), "delta")
    expected = read_expected(spark, fixtures / "log_analytics" / "expected" / f"{table}.jsonl", TABLES[table])
    if table == "quarantine":
        actual = file_name_only(actual)
    assert_table_equals(actual, expected, approx=table in ("anomalies", "daily_engagement"))


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_columns_are_the_contract(spark: SparkSession, golden_run, table: str) -> None:
    output, _ = golden_run
    written = read_table(spark, str(output / table), "delta").schema
    assert [(f.name, f.dataType) for f in written.fields] == [(f.name, f.dataType) for f in TABLES[table].fields]


def test_report_accounts_for_every_line(golden_run) -> None:
    output, report = golden_run
    on_disk = json.loads((output / "run_report.json").read_text())
    assert on_disk == json.loads(json.dumps(report, default=str))
    assert on_disk["status"] == "succeeded"
    assert (on_disk["rows_read"], on_disk["rows_valid"], on_disk["rows_quarantined"]) == (41, 24, 17)
    assert on_disk["quarantined_by_reason"] == {
        "blank_line": 2,
        "invalid_event_type": 1,
        "invalid_status_code": 3,
        "invalid_timestamp": 3,
        "invalid_user_id": 1,
        "malformed_json": 3,
        "missing_event_type": 1,
        "missing_status_code": 1,
        "missing_timestamp": 1,
        "missing_user_id": 1,
    }
    assert {name: t["rows"] for name, t in on_disk["tables"].items()} == {
        "quarantine": 17,
        "user_activity": 7,
        "error_patterns": 3,
        "activity_windows": 16,
        "anomalies": 1,
        "daily_engagement": 1,
    }
    assert all(on_disk["metrics"]["reconciliation"].values())


def test_report_holds_every_expectation_suite(golden_run) -> None:
    _, report = golden_run
    suites = report["validation"]
    # Each event's fields are proven by the row rules (the accounting above); suites judge the outputs.
    assert set(suites) == {
        "user_activity",
        "error_patterns",
        "activity_windows",
        "anomalies",
        "daily_engagement",
    }
    assert all(suite["success"] and suite["evaluated"] >= 3 and not suite["failed"] for suite in suites.values())
    unique_users = next(
        e for e in suites["user_activity"]["expectations"] if e["expectation"] == "expect_column_values_to_be_unique"
    )
    assert unique_users["element_count"] == 7


def test_rerun_replaces_outputs(spark: SparkSession, fixtures: Path, golden_run) -> None:
    output, first = golden_run
    second = log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(fixtures, output)))
    assert second["run_id"] != first["run_id"]
    assert {n: t["rows"] for n, t in second["tables"].items()} == {n: t["rows"] for n, t in first["tables"].items()}
    assert read_table(spark, str(output / "user_activity"), "delta").count() == 7


def test_parquet_format_writes_the_same_tables(spark: SparkSession, fixtures: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(fixtures, output, "--format", "parquet")))
    assert not (output / "user_activity" / "_delta_log").exists()
    actual = read_table(spark, str(output / "user_activity"), "parquet")
    expected = read_expected(spark, fixtures / "log_analytics" / "expected" / "user_activity.jsonl", USER_ACTIVITY)
    assert_table_equals(actual, expected)
