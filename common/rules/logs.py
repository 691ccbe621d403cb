"""Validity of log lines (row rules) and of log analytics data sets (expectation suites)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from common.classify import INGEST_FILE, Contract, Field, RowRule
from common.expectations import ordered_pairs
from common.lines import CORRUPT_RECORD, RAW_RECORD
from common.log_formats import LAYOUT_KNOWN
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


# ── access log formats (common/log_formats.py): the same contract, read from each format's fields ──

COMBINED_TIME = "dd/MMM/yyyy:HH:mm:ss Z"


def unparseable_line() -> RowRule:
    """The line does not split into the format's fields."""
    return RowRule(
        "unparseable_line",
        "the line does not split into the format's fields",
        lambda: F.col(CORRUPT_RECORD).isNotNull(),
    )


def invalid(reason: str, description: str) -> fields.RuleBuilder:
    """One rule: the field's typed value is null (a format's fields are there when the line parses)."""

    def rules(raw: str, typed: str) -> list[RowRule]:
        return [RowRule(reason, description, lambda: F.col(typed).isNull())]

    return rules


def parse_clf_time(value: Column) -> Column:
    """`10/Oct/2026:13:55:36 -0700` (Apache's %t without its brackets) as UTC, or null."""
    return F.try_to_timestamp(value, F.lit(COMBINED_TIME))


def parse_bytes(value: Column) -> Column:
    """A byte count, or null (`-`, no body, is null before it gets here)."""
    return F.when(value.rlike(r"^[0-9]{1,18}$"), value.cast("long"))


def no_rule(raw: str, typed: str) -> list[RowRule]:
    """A field the line's pattern guarantees (e.g. the client address of a parsed line)."""
    return []


def access_log_contract(
    kind: str,
    parse_time: Callable[[Column], Column],
    time_expected: str,
    *,
    status_may_be_absent: bool = False,
    layout_rules: tuple[Callable[[], RowRule], ...] = (),
    skip: Callable[[], Column] | None = None,
) -> Contract:
    """An access log format's contract: the line must split into the format's fields; then its
    time, status, request and byte count must be usable. Reasons in this order."""
    return Contract(
        kind=kind,
        line_rules=(fields.blank_line, *layout_rules, unparseable_line),
        fields=(
            Field(
                "timestamp", "event_ts", parse_time, invalid("invalid_timestamp", f"the time is not {time_expected}")
            ),
            Field(
                "status_code",
                "status_code",
                parse_status_code,
                lambda raw, typed: [
                    *(
                        [RowRule("missing_status_code", "no status code (`-`)", lambda: F.col(raw).isNull())]
                        if status_may_be_absent
                        else []
                    ),
                    *invalid("invalid_status_code", f"the status is not from {STATUS_MIN} to {STATUS_MAX}")(raw, typed),
                ],
            ),
            Field(
                "event_type",
                "event_type",
                lambda c: c,
                invalid("invalid_request", "the request is not METHOD TARGET [HTTP/x]"),
            ),
            Field("user_id", "user_id", lambda c: c, no_rule),
            Field("bytes", "bytes", parse_bytes, fields.optional_parsed("a byte count or -")),
        ),
        ingest_file=INGEST_FILE,
        skip=skip,
    )


def unsupported_layout() -> RowRule:
    """A CloudFront file whose header names no `#Fields:` with every field the mapping reads."""
    return RowRule(
        "unsupported_layout",
        "the file's #Fields: header lacks a field the mapping needs",
        lambda: ~F.col(LAYOUT_KNOWN),
    )


def header_line() -> Column:
    """CloudFront's `#Version:` and `#Fields:` lines: not events, skipped."""
    return F.col(RAW_RECORD).startswith("#")


COMBINED_CONTRACT = access_log_contract("combined log", parse_clf_time, "dd/MMM/yyyy:HH:mm:ss ±hhmm")
ALB_CONTRACT = access_log_contract(
    "alb log", fields.parse_iso_timestamp, "an ISO-8601 timestamp", status_may_be_absent=True
)
CLOUDFRONT_CONTRACT = access_log_contract(
    "cloudfront log",
    fields.parse_iso_timestamp,
    "a date and a time",
    layout_rules=(unsupported_layout,),
    skip=header_line,
)
