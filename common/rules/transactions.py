"""Validity of transaction and profile lines (row rules) and of the ETL's data sets
(expectation suites)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from common.rules import fields
from common.validation import RowRule

# decimal(18, 2): 16 integer digits, 2 decimals.
AMOUNT_PRECISION, AMOUNT_SCALE = 18, 2
# Raw fields whose JSON numbers must reach the parser with their exact digits.
EXACT_NUMBER_FIELDS = ("amount",)


def transaction_columns() -> dict[str, Column]:
    """Each raw transaction field parsed once; the rules judge these values, the job keeps them."""
    return {
        "transaction_id": fields.clean_text(F.col("transaction_id")),
        "user_id": fields.clean_text(F.col("user_id")),
        "transaction_ts": fields.parse_iso_timestamp(F.col("timestamp")),
        "amount_value": fields.parse_decimal(F.col("amount"), AMOUNT_PRECISION, AMOUNT_SCALE),
    }


def transaction_rules() -> list[RowRule]:
    """The transaction line contract, in the order reasons are assigned."""
    return [
        fields.blank_line(),
        fields.malformed_json(),
        *fields.required_text("transaction_id"),
        *fields.required_text("user_id"),
        *fields.required_parsed("timestamp", "transaction_ts", "an ISO-8601 timestamp"),
        *fields.required_parsed(
            "amount", "amount_value", f"a decimal number with at most {AMOUNT_SCALE} decimal places"
        ),
    ]


def profile_columns() -> dict[str, Column]:
    """Each raw profile field parsed once (blank attributes become null)."""

    def text_or_null(name: str) -> Column:
        return F.when(~fields.is_blank(F.col(name)), fields.clean_text(F.col(name)))

    return {
        "user_id": fields.clean_text(F.col("user_id")),
        "country": text_or_null("country"),
        "segment": text_or_null("segment"),
        "signup_date_value": fields.parse_iso_date(F.col("signup_date")),
        "updated_at_value": fields.parse_iso_timestamp(F.col("updated_at")),
    }


def profile_rules() -> list[RowRule]:
    """The profile line contract: a user_id; attributes optional but well-formed when present."""
    return [
        fields.blank_line(),
        fields.malformed_json(),
        *fields.required_text("user_id"),
        *fields.optional_text("country"),
        *fields.optional_text("segment"),
        *fields.optional_parsed("signup_date", "signup_date_value", "a yyyy-MM-dd date"),
        *fields.optional_parsed("updated_at", "updated_at_value", "an ISO-8601 timestamp"),
    ]


def batch_expectations() -> list[Any]:
    """The batch merged into silver: one row per id, every field present."""
    import great_expectations.expectations as gxe

    required = ("transaction_id", "user_id", "transaction_ts", "transaction_date", "amount")
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in required),
        gxe.ExpectColumnValuesToBeUnique(column="transaction_id"),
    ]


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
