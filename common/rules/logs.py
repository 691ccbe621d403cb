"""Validity of log lines (row rules) and of log analytics data sets (expectation suites)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from common.classify import INGEST_FILE, Contract
from common.expectations import ordered_pairs
from common.rules import fields

STATUS_MIN, STATUS_MAX = 100, 599
# A status code from this value up is an error (4xx client, 5xx server).
ERROR_STATUS_MIN = 400


def parse_status_code(value: Column) -> Column:
    """An HTTP status code: an integer within the status range, or null."""
    status = fields.parse_integer(value)
    return F.when(status.between(STATUS_MIN, STATUS_MAX), status)


# The log line contract: one JSON object per line with these four fields (more are ignored),
# in the order reasons are assigned. The warehouse's events keep the file each came from.
LOG_CONTRACT = Contract(
    kind="log",
    line_rules=(fields.blank_line, fields.malformed_json),
    fields=(
        fields.parsed("timestamp", "event_ts", fields.parse_iso_timestamp, "an ISO-8601 timestamp"),
        fields.text("user_id"),
        fields.text("event_type"),
        fields.parsed("status_code", "status_code", parse_status_code, f"an integer from {STATUS_MIN} to {STATUS_MAX}"),
    ),
    ingest_file=INGEST_FILE,
)


def output_expectations() -> dict[str, list[Any]]:
    """Per output table: keys unique, counts positive, pairs of columns consistent."""
    import great_expectations.expectations as gxe

    return {
        "user_activity": [
            gxe.ExpectColumnValuesToNotBeNull(column="user_id"),
            gxe.ExpectColumnValuesToBeUnique(column="user_id"),
            gxe.ExpectColumnValuesToBeBetween(column="event_count", min_value=1),
            *ordered_pairs(("last_seen", "first_seen", True)),
        ],
        "error_patterns": [
            gxe.ExpectColumnValuesToNotBeNull(column="event_date"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["event_date", "status_code"]),
            gxe.ExpectColumnValuesToBeBetween(column="status_code", min_value=ERROR_STATUS_MIN, max_value=STATUS_MAX),
            gxe.ExpectColumnValuesToBeBetween(column="error_count", min_value=1),
        ],
        "activity_windows": [
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["window_start", "event_type"]),
            gxe.ExpectColumnValuesToBeBetween(column="distinct_users", min_value=1),
            *ordered_pairs(("window_end", "window_start", False), ("event_count", "error_count", True)),
        ],
        "daily_engagement": [
            gxe.ExpectColumnValuesToNotBeNull(column="event_date"),
            gxe.ExpectColumnValuesToBeUnique(column="event_date"),
            gxe.ExpectColumnValuesToBeBetween(column="active_users", min_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="events_per_user_mean", min_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="new_users", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="returning_users", min_value=0),
            *ordered_pairs(
                ("event_count", "active_users", True),
                ("active_users", "new_users", True),
                ("events_per_user_p90", "events_per_user_median", True),
            ),
        ],
        "anomalies": [
            gxe.ExpectColumnValuesToBeUnique(column="window_start"),
            *ordered_pairs(("robust_z_score", "z_threshold", False)),
            gxe.ExpectColumnValuesToBeBetween(column="error_rate", min_value=0, max_value=1),
        ],
    }
