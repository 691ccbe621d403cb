"""Validity of customer records (row rules) and of segmentation data sets (expectation suites).

The ranges and the category cleaning come from `common.segment_scorer`, the plain-Python
statement of the same contract the real-time scorer enforces.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from common.io import CORRUPT_RECORD
from common.rules import fields
from common.segment_scorer import (
    AGE_MAX,
    AGE_MIN,
    CATEGORICAL_FEATURES,
    CUSTOMER_ID,
    NUMERIC_FEATURES,
    SPENDING_SCORE_MAX,
    SPENDING_SCORE_MIN,
)
from common.validation import REASON, RowRule, classify, keep_raw_only_when_quarantined, ordered_pairs, valid_rows
from schemas import conform_to
from schemas.customers import CUSTOMER

DUPLICATE_CUSTOMER_ID = "duplicate_customer_id"
MEAN_IN_RANGE = (("mean", "min"), ("max", "mean"))


def _in_range(value: Column, low: int, high: int) -> Column:
    return F.when(value.between(low, high), value)


def clean_category(value: Column) -> Column:
    """Same cleaning as `segment_scorer.clean_category`: trimmed, lower case."""
    return F.lower(fields.strip(value))


def present(field: str) -> RowRule:
    """`missing_<field>` when blank. (A CSV field cannot hold the nested JSON values that
    `required_text`'s second rule, invalid_<field>, looks for.)"""
    return fields.required_text(field)[0]


def typed_columns() -> dict[str, Column]:
    """Each raw field parsed once; the rules below judge these values, the jobs keep them."""
    return {
        "customer_id_clean": fields.clean_text(F.col("customer_id")),
        "age_value": _in_range(fields.parse_integer(F.col("age")), AGE_MIN, AGE_MAX),
        "gender_clean": clean_category(F.col("gender")),
        "marital_status_clean": clean_category(F.col("marital_status")),
        "annual_income_value": fields.parse_number(F.col("annual_income")),
        "spending_score_value": _in_range(
            fields.parse_integer(F.col("spending_score")), SPENDING_SCORE_MIN, SPENDING_SCORE_MAX
        ),
    }


def row_rules() -> list[RowRule]:
    """The customer line contract, in column order (needs `typed_columns`)."""
    return [
        fields.blank_line(),
        fields.malformed_csv(),
        present(CUSTOMER_ID),
        *fields.required_parsed("age", "age_value", f"an integer from {AGE_MIN} to {AGE_MAX}"),
        present("gender"),
        present("marital_status"),
        *fields.required_parsed("annual_income", "annual_income_value", "a plain decimal number"),
        RowRule("negative_annual_income", "annual_income is below zero", lambda: F.col("annual_income_value") < 0),
        *fields.required_parsed(
            "spending_score",
            "spending_score_value",
            f"an integer from {SPENDING_SCORE_MIN} to {SPENDING_SCORE_MAX}",
        ),
    ]


def reasons() -> list[str]:
    """Every reason a customer line can be quarantined with."""
    return [rule.reason for rule in row_rules()] + [DUPLICATE_CUSTOMER_ID]


def quarantine_duplicate_ids(classified: DataFrame) -> DataFrame:
    """Quarantine every otherwise valid row whose customer_id another valid row also has.

    Two records for one customer leave the segment ambiguous and the predictions table keyed
    twice; which copy is right is not ours to guess, so all copies go, with their raw lines.
    """
    valid = F.col(REASON).isNull()
    copies = F.count(F.when(valid, True)).over(Window.partitionBy("customer_id_clean"))
    return classified.withColumn(REASON, F.when(valid & (copies > 1), DUPLICATE_CUSTOMER_ID).otherwise(F.col(REASON)))


def classify_lines(lines: DataFrame) -> DataFrame:
    """Type every line's fields and give it its verdict (`reason`, null when valid)."""
    raw = ["customer_id", *NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    return (
        lines.withColumns(typed_columns())
        .transform(lambda df: classify(df, row_rules()))
        .transform(quarantine_duplicate_ids)
        .transform(keep_raw_only_when_quarantined)
        .drop(*raw, CORRUPT_RECORD)
        .withColumnsRenamed(
            {
                "customer_id_clean": "customer_id",
                "age_value": "age",
                "gender_clean": "gender",
                "marital_status_clean": "marital_status",
                "annual_income_value": "annual_income",
                "spending_score_value": "spending_score",
            }
        )
    )


def to_customers(classified: DataFrame) -> DataFrame:
    """The valid rows as typed customers."""
    return classified.transform(valid_rows).transform(conform_to(CUSTOMER))


def customer_expectations() -> list[Any]:
    """Valid customers as a data set: non-empty, complete, one row per customer, in range."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *(gxe.ExpectColumnValuesToNotBeNull(column=f.name) for f in CUSTOMER.fields),
        gxe.ExpectColumnValuesToBeUnique(column=CUSTOMER_ID),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=AGE_MIN, max_value=AGE_MAX),
        gxe.ExpectColumnValuesToBeBetween(column="annual_income", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(
            column="spending_score", min_value=SPENDING_SCORE_MIN, max_value=SPENDING_SCORE_MAX
        ),
    ]


def prediction_expectations(k: int) -> list[Any]:
    """One segment per customer, from the model's k segments."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column=CUSTOMER_ID),
        gxe.ExpectColumnValuesToBeUnique(column=CUSTOMER_ID),
        gxe.ExpectColumnValuesToNotBeNull(column="segment"),
        gxe.ExpectColumnValuesToBeBetween(column="segment", min_value=0, max_value=k - 1),
    ]


def profile_expectations(k: int) -> list[Any]:
    """Per segment: one row, a positive size, min <= mean <= max.

    The mean of whole numbers (an exact sum, one rounding) cannot leave [min, max]; a mean of
    decimals can, by an ulp (e.g. three incomes of 0.1), so income is only checked min <= max.
    """
    import great_expectations.expectations as gxe

    ranges = ordered_pairs(
        *((f"{name}_{a}", f"{name}_{b}", True) for name in ("age", "spending_score") for a, b in MEAN_IN_RANGE),
        ("annual_income_max", "annual_income_min", True),
    )
    return [
        gxe.ExpectColumnValuesToBeUnique(column="segment"),
        gxe.ExpectColumnValuesToBeBetween(column="segment", min_value=0, max_value=k - 1),
        gxe.ExpectColumnValuesToBeBetween(column="customers", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="share_of_customers", min_value=0, max_value=1),
        *ranges,
    ]
