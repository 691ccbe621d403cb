"""The run's metrics line against the CloudWatch Embedded Metric Format specification's structure
(no Spark: a run report is plain data)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

import common.report
from common import emf
from common.classify import SKIPPED
from common.expectations import SuiteResult
from common.report import RunReport, row_accounting

# The units the EMF specification (CloudWatch's StandardUnit) allows.
UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def check_emf(document: dict[str, Any]) -> None:
    """The specification's rules for a document's structure, as assertions."""
    metadata = document["_aws"]
    assert set(metadata) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] > 0  # ms since the epoch
    assert isinstance(metadata["CloudWatchMetrics"], list) and metadata["CloudWatchMetrics"]
    for directive in metadata["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 1024
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list) and 1 <= len(dimension_set) <= 30
            for name in dimension_set:  # a dimension is a top-level string member
                assert isinstance(document[name], str) and 1 <= len(document[name]) <= 1024
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert isinstance(metric["Name"], str) and 1 <= len(metric["Name"]) <= 1024
            assert metric.get("Unit", "None") in UNITS
            value = document[metric["Name"]]  # a metric's value is a top-level number member
            assert isinstance(value, int | float) and not isinstance(value, bool)
        names = [metric["Name"] for metric in directive["Metrics"]]
        assert len(names) == len(set(names))


def report(**overrides: Any) -> dict[str, Any]:
    run = RunReport("log_analytics", {"input": "s3://bucket/logs", "output": "s3://bucket/out"})
    run.counts = row_accounting(1000, {"malformed_json": 7, "invalid_timestamp": 3})
    run.tables["user_activity"] = {"path": "s3://bucket/out/user_activity", "format": "delta", "rows": 120}
    run.tables["quarantine"] = {"path": "s3://bucket/out/quarantine", "format": "delta", "rows": 10}
    failed = ["expect_column_values_to_be_unique({'column': 'user_id'})", "expect_column_values_to_not_be_null(...)"]
    for result in (
        SuiteResult("events", True, 5, [], []),
        SuiteResult("user_activity", False, 4, failed, [], "pandas"),
    ):
        run.validation[result.suite] = result.as_report()
    return {**run.as_dict(), **overrides}


def test_the_line_is_one_emf_document_with_the_runs_figures() -> None:
    content = report()
    line = emf.metrics_line(content)
    assert "\n" not in line and len(line.encode()) < 256 * 1024  # one CloudWatch Logs event
    document = json.loads(line)
    check_emf(document)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "SparkJobs" and directive["Dimensions"] == [["job"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units["DurationSeconds"] == "Seconds" and units["RowsRead"] == "Count"
    assert document["job"] == "log_analytics" and document["status"] == "succeeded"
    assert (document["RowsRead"], document["RowsValid"], document["RowsQuarantined"]) == (1000, 990, 10)
    assert document["RunSucceeded"] == 1 and document["ExpectationFailures"] == 2
    assert document["TableRows.user_activity"] == 120 and document["TableRows.quarantine"] == 10
    assert document["DurationSeconds"] == content["timings_seconds"]["total"]
    assert document["run_id"] == content["run_id"]
    finished = datetime.fromisoformat(content["finished_at"])
    assert document["_aws"]["Timestamp"] == int(finished.timestamp() * 1000)


def test_a_report_read_back_from_json_gives_the_same_line() -> None:
    content = report()
    assert emf.metrics_line(json.loads(json.dumps(content))) == emf.metrics_line(content)


def test_a_report_without_counts_or_tables_is_still_valid() -> None:
    bare = {"job": "table_maintenance", "status": "succeeded", "finished_at": datetime.now(UTC).isoformat()}
    document = emf.metrics_document(bare)
    check_emf(document)
    assert document["RowsRead"] == 0 and document["ExpectationFailures"] == 0


def test_the_quarantine_rate_leaves_skipped_header_lines_out() -> None:
    counts = row_accounting(1006, {"invalid_status_code": 10, SKIPPED: 6})
    assert counts["rows_skipped"] == 6 and counts["rows_valid"] == 990
    document = emf.metrics_document(report(**counts))
    check_emf(document)
    assert document["RowsRead"] == 1006 and document["QuarantineRate"] == 0.01


def test_table_names_become_safe_metric_names() -> None:
    document = emf.metrics_document(report(tables={"daily totals/2026": {"rows": 3}}))
    assert document["TableRows.daily_totals_2026"] == 3
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", m["Name"]) for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"])


def test_more_metrics_than_emf_allows_is_refused() -> None:
    with pytest.raises(ValueError, match="EMF's 100 per directive"):
        emf.metrics_document(report(tables={f"t{i}": {"rows": i} for i in range(95)}))


def test_the_checker_rejects_what_the_specification_forbids() -> None:
    document = emf.metrics_document(report())
    broken = json.loads(json.dumps(document))
    broken["RowsRead"] = "1000"  # a metric value must be a number
    with pytest.raises(AssertionError):
        check_emf(broken)
    broken = json.loads(json.dumps(document))
    broken["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Rows"
    with pytest.raises(AssertionError):
        check_emf(broken)


def test_writing_the_report_emits_the_line_once(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    written: list[str] = []
    monkeypatch.setattr(common.report, "write_text", lambda spark, path, text: written.append(path))
    run = RunReport("segment_customers", {"input": "x"})
    run.counts = row_accounting(5, {})
    content = run.write(None, "/tmp/out")  # type: ignore[arg-type]
    assert written == ["/tmp/out/run_report.json"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    check_emf(document)
    assert document["run_id"] == content["run_id"] and document["RowsRead"] == 5


def test_a_report_the_builder_cannot_read_is_a_warning_not_a_failed_run(capsys) -> None:
    emf.emit({"job": "log_analytics", "status": "succeeded", "finished_at": "not a date"})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("log_analytics: warning: no metrics line: ValueError")
