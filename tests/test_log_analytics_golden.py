"""The log analytics job on the golden fixture: every table, the quarantine and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common.tables import read_table
from jobs import log_analytics
from schemas.catalog import OUTPUT_TABLES
from schemas.logs import USER_ACTIVITY
from tests.golden import LOG_ANALYTICS_TABLES, assert_table_equals, file_name_only, log_analytics_args, read_expected

pytestmark = pytest.mark.slow

TABLES = LOG_ANALYTICS_TABLES


@pytest.fixture(scope="module")
def golden_run(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("log_analytics") / "out"
    report = log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(fixtures, output)))
    return output, report


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_matches_golden_file(spark: SparkSession, fixtures: Path, golden_run, table: str) -> None:
    output, _ = golden_run
    actual = read_table(spark, str(output / table), "delta").select(*TABLES[table].fieldNames())
    expected = read_expected(spark, fixtures / "log_analytics" / "expected" / f"{table}.jsonl", TABLES[table])
    assert_table_equals(file_name_only(actual), expected, approx=table in ("anomalies", "daily_engagement"))


@pytest.mark.parametrize("table", sorted(OUTPUT_TABLES["log_analytics"]))
def test_table_columns_are_the_contract(spark: SparkSession, golden_run, table: str) -> None:
    output, _ = golden_run
    written = read_table(spark, str(output / table), "delta").schema
    contract = OUTPUT_TABLES["log_analytics"][table]
    assert [(f.name, f.dataType) for f in written.fields] == [(f.name, f.dataType) for f in contract.fields]


def test_events_are_partitioned_by_day_in_bounded_files(spark: SparkSession, golden_run) -> None:
    output, _ = golden_run
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{output / 'events'}`").first()
    assert detail["partitionColumns"] == ["event_date"]
    assert detail["properties"]["delta.autoOptimize.optimizeWrite"] == "true"
    # one day, 24 events: one file, whatever the shuffle partitions
    assert [p.name for p in (output / "events").glob("event_date=*")] == ["event_date=2026-11-01"]
    assert len(list((output / "events" / "event_date=2026-11-01").glob("*.parquet"))) == 1


def test_ledger_records_each_file_loaded(spark: SparkSession, fixtures: Path, golden_run) -> None:
    output, report = golden_run
    rows = read_table(spark, str(output / "loaded_files"), "delta").collect()
    inputs = fixtures / "log_analytics" / "input"
    assert {
        r["file"]: (r["size"], r["status"], r["rows_read"], r["rows_valid"], r["rows_quarantined"]) for r in rows
    } == {
        f"file:{inputs / 'app-1.jsonl'}": ((inputs / "app-1.jsonl").stat().st_size, "loaded", 12, 12, 0),
        f"file:{inputs / 'app-2.jsonl'}": ((inputs / "app-2.jsonl").stat().st_size, "loaded", 29, 12, 17),
    }
    assert {r["run_id"] for r in rows} == {report["run_id"]}
    assert {tuple(str(d) for d in r["event_dates"]) for r in rows} == {("2026-11-01",)}


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
    assert on_disk["metrics"]["files"] == {
        "listed": 2,
        "new": 2,
        "changed": 0,
        "reloaded": 0,
        "unfinished": 0,
        "skipped": 0,
    }
    assert {name: t["rows"] for name, t in on_disk["tables"].items()} == {
        "events": 24,
        "loaded_files": 2,
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


def test_rerun_loads_nothing_and_changes_nothing(spark: SparkSession, fixtures: Path, golden_run) -> None:
    output, first = golden_run
    versions = {t: spark.sql(f"DESCRIBE HISTORY delta.`{output / t}` LIMIT 1").first()[0] for t in first["tables"]}
    second = log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(fixtures, output)))
    assert second["run_id"] != first["run_id"]
    assert (second["rows_read"], second["metrics"]["files"]["skipped"]) == (0, 2)
    assert {n: t["rows"] for n, t in second["tables"].items()} == {n: t["rows"] for n, t in first["tables"].items()}
    # not a commit anywhere: the files were skipped and the aggregates reflect events already
    assert {t: spark.sql(f"DESCRIBE HISTORY delta.`{output / t}` LIMIT 1").first()[0] for t in first["tables"]} == (
        versions
    )


def test_parquet_format_writes_the_same_tables(spark: SparkSession, fixtures: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(fixtures, output, "--format", "parquet")))
    assert not (output / "user_activity" / "_delta_log").exists()
    # the warehouse's state is Delta either way
    assert all((output / name / "_delta_log").is_dir() for name in ("events", "loaded_files", "quarantine"))
    actual = read_table(spark, str(output / "user_activity"), "parquet")
    expected = read_expected(spark, fixtures / "log_analytics" / "expected" / "user_activity.jsonl", USER_ACTIVITY)
    assert_table_equals(actual, expected)
