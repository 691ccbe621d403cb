"""Validity of log lines (row rules) and of log analytics data sets (expectation suites)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from common.rules import fields
from common.validation import RowRule, ordered_pairs

STATUS_MIN, STATUS_MAX = 100, 599
# A status code from this value up is an error (4xx client, 5xx server).
ERROR_STATUS_MIN = 400


def typed_columns() -> dict[str, Column]:
    """Each raw field parsed once; the rules below judge these values, the job keeps them."""
    status = fields.parse_integer(F.col("status_code"))
    return {
        "event_ts": fields.parse_iso_timestamp(F.col("timestamp")),
        "user_id": fields.clean_text(F.col("user_id")),
        "event_type": fields.clean_text(F.col("event_type")),
        "status": F.when(status.between(STATUS_MIN, STATUS_MAX), status),
    }


def row_rules() -> list[RowRule]:
    """The log line contract, in the order reasons are assigned (needs `typed_columns`)."""
    return [
        fields.blank_line(),
        fields.malformed_json(),
        *fields.required_parsed("timestamp", "event_ts", "an ISO-8601 timestamp"),
        *fields.required_text("user_id"),
        *fields.required_text("event_type"),
        *fields.required_parsed("status_code", "status", f"an integer from {STATUS_MIN} to {STATUS_MAX}"),
    ]


def event_expectations() -> list[Any]:
    """Valid events as a data set: non-empty, every field present, codes in range."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("event_ts", "user_id", "event_type", "status_code")),
        gxe.ExpectColumnValuesToBeBetween(column="status_code", min_value=STATUS_MIN, max_value=STATUS_MAX),
    ]


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
            gxe.ExpectColumnValuesToBeUnique(column="status_code"),
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
