"""Validity of transaction and profile lines (row rules) and of the ETL's data sets
(expectation suites)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from common.classify import INGEST_FILE, Contract
from common.rules import fields

# decimal(18, 2): 16 integer digits, 2 decimals.
AMOUNT_PRECISION, AMOUNT_SCALE = 18, 2
# Raw fields whose JSON numbers must reach the parser with their exact digits.
EXACT_NUMBER_FIELDS = ("amount",)


def parse_amount(value: Column) -> Column:
    return fields.parse_decimal(value, AMOUNT_PRECISION, AMOUNT_SCALE)


def text_or_null(value: Column) -> Column:
    """Trimmed text, or null when blank: an attribute left empty is unknown, not ''."""
    return F.when(~fields.is_blank(value), fields.clean_text(value))


# The transaction line contract, in the order reasons are assigned. Silver keeps the file each
# valid row came from (`source_file`), so the classifier keeps it under `ingest_file`.
TRANSACTION_CONTRACT = Contract(
    kind="transaction",
    line_rules=(fields.blank_line, fields.malformed_json),
    fields=(
        fields.text("transaction_id"),
        fields.text("user_id"),
        fields.parsed("timestamp", "transaction_ts", fields.parse_iso_timestamp, "an ISO-8601 timestamp"),
        fields.parsed("amount", "amount", parse_amount, f"a decimal number with at most {AMOUNT_SCALE} decimal places"),
    ),
    ingest_file=INGEST_FILE,
)

# The profile line contract: a user_id; attributes optional but well-formed when present.
PROFILE_CONTRACT = Contract(
    kind="profile",
    line_rules=(fields.blank_line, fields.malformed_json),
    fields=(
        fields.text("user_id"),
        fields.text("country", parse=text_or_null, rules=fields.optional_text),
        fields.text("segment", parse=text_or_null, rules=fields.optional_text),
        fields.parsed("signup_date", "signup_date", fields.parse_iso_date, "a yyyy-MM-dd date", required=False),
        fields.parsed("updated_at", "updated_at", fields.parse_iso_timestamp, "an ISO-8601 timestamp", required=False),
    ),
)


def daily_totals_expectations() -> list[Any]:
    """Gold rows written by a run: one per user and day, counts positive, no overflowed total."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "transaction_date"]),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("user_id", "transaction_date", "total_amount")),
        gxe.ExpectColumnValuesToBeBetween(column="transaction_count", min_value=1),
    ]


def profile_expectations() -> list[Any]:
    """The profile table: one row per user."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="user_id"),
        gxe.ExpectColumnValuesToBeUnique(column="user_id"),
    ]
