"""A run's figures as one CloudWatch Embedded Metric Format (EMF) line, so alarms need no code.

CloudWatch Logs turns a log event that is an EMF document into metrics: the `_aws` member
names the metrics (namespace, dimensions, units) and their values are the document's own
top-level members. The line goes to the driver's stdout; on EMR Serverless the job run's
CloudWatch logging delivers it, on EMR on EC2 the CloudWatch agent (docs/observability.md).
Everything else in the line (run id, version, status) is searchable with Logs Insights.

`metrics_line` is pure (a run report dict in, one JSON line out); `emit` prints it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

NAMESPACE = "SparkJobs"
DIMENSIONS = [["job"]]
# EMF caps a directive at 100 metrics; a run has 6 plus one per table.
MAX_METRICS = 100


def _table_metric(table: str) -> str:
    """`TableRows.<table>`: a metric per table (one line cannot give a `table` dimension two values)."""
    return "TableRows." + re.sub(r"[^A-Za-z0-9_.-]", "_", table)


def _timestamp_ms(report: Mapping[str, Any]) -> int:
    return int(datetime.fromisoformat(report["finished_at"]).timestamp() * 1000)


def metrics_document(report: Mapping[str, Any], namespace: str = NAMESPACE) -> dict[str, Any]:
    """The EMF document for a run report (`RunReport.as_dict()` or a `run_report.json`)."""
    validation = report.get("validation", {})
    values: dict[str, tuple[float | int, str]] = {
        "RunSucceeded": (1 if report.get("status") == "succeeded" else 0, "Count"),
        "DurationSeconds": (float(report.get("timings_seconds", {}).get("total", 0.0)), "Seconds"),
        "RowsRead": (int(report.get("rows_read", 0)), "Count"),
        "RowsValid": (int(report.get("rows_valid", 0)), "Count"),
        "RowsQuarantined": (int(report.get("rows_quarantined", 0)), "Count"),
        "ExpectationFailures": (sum(len(suite.get("failed") or ()) for suite in validation.values()), "Count"),
        "GateTripped": (1 if report.get("status") == "gate_tripped" else 0, "Count"),
    }
    for table, info in sorted(report.get("tables", {}).items()):
        values[_table_metric(table)] = (int(info.get("rows", 0)), "Count")
    # The share of records (rows read less skipped header lines), as the quarantine gate judges it.
    records = int(report.get("rows_read", 0)) - int(report.get("rows_skipped", 0))
    if records:
        values["QuarantineRate"] = (int(report.get("rows_quarantined", 0)) / records, "None")
    if len(values) > MAX_METRICS:
        raise ValueError(f"{len(values)} metrics is more than EMF's {MAX_METRICS} per directive")
    return {
        "_aws": {
            "Timestamp": _timestamp_ms(report),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": DIMENSIONS,
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        "job": report["job"],
        "version": report.get("version"),
        "run_id": report.get("run_id"),
        "status": report.get("status"),
        **({"gate": report["gate"]} if report.get("gate") else {}),
        **{name: value for name, (value, _) in values.items()},
    }


def metrics_line(report: Mapping[str, Any], namespace: str = NAMESPACE) -> str:
    """The EMF document as one line of compact JSON (a log event must be the document alone)."""
    return json.dumps(metrics_document(report, namespace), separators=(",", ":"), default=str)


def emit(report: Mapping[str, Any]) -> None:
    """Print the run's metrics line on stdout, alone on its line, once the report is written.

    Never fails the run: the report is already written, so a line that cannot be built is a
    warning on stderr (and a missing `RunSucceeded`, which the no-success alarm sees).
    """
    try:
        line = metrics_line(report)
    except (KeyError, TypeError, ValueError) as exc:
        sys.stderr.write(f"{report.get('job', 'job')}: warning: no metrics line: {type(exc).__name__}: {exc}\n")
        return
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
