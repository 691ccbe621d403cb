"""Validity of customer records (row rules) and of segmentation data sets (expectation suites).

Field names, ranges and the category cleaning come from `common.customer_contract`, the
plain-Python statement of the same contract the real-time scorer enforces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from common.classify import REASON, Contract, Field, RowRule, valid_rows
from common.customer_contract import (
    AGE_MAX,
    AGE_MIN,
    AVG_BASKET,
    BEHAVIOUR,
    CUSTOMER_ID,
    DEMOGRAPHICS,
    FREQUENCY,
    MONETARY,
    RECENCY_DAYS,
    REFUND_SHARE,
    SPENDING_SCORE_MAX,
    SPENDING_SCORE_MIN,
    behaviour_ranges,
)
from common.expectations import ordered_pairs
from common.rules import fields
from schemas import conform_to
from schemas.customers import CUSTOMER

DUPLICATE_CUSTOMER_ID = "duplicate_customer_id"
MEAN_IN_RANGE = (("mean", "min"), ("max", "mean"))


def _in_range(value: Column, low: int, high: int) -> Column:
    return F.when(value.between(low, high), value)


def clean_category(value: Column) -> Column:
    """Same cleaning as `customer_contract.clean_category`: trimmed, lower case."""
    return F.lower(fields.strip(value))


def parse_age(value: Column) -> Column:
    return _in_range(fields.parse_integer(value), AGE_MIN, AGE_MAX)


def parse_spending_score(value: Column) -> Column:
    return _in_range(fields.parse_integer(value), SPENDING_SCORE_MIN, SPENDING_SCORE_MAX)


def income_rules(raw: str, typed: str) -> list[RowRule]:
    """A plain decimal number, not below zero."""
    return [
        *fields.required_parsed("a plain decimal number")(raw, typed),
        RowRule("negative_annual_income", f"{raw} is below zero", lambda: F.col(typed) < 0),
    ]


def quarantine_duplicate_ids(classified: DataFrame) -> DataFrame:
    """Quarantine every otherwise valid row whose customer_id another valid row also has.

    Two records for one customer leave the segment ambiguous and the predictions table keyed
    twice; which copy is right is not ours to guess, so all copies go, with their raw lines.
    """
    valid = F.col(REASON).isNull()
    copies = F.count(F.when(valid, True)).over(Window.partitionBy(CUSTOMER_ID))
    return classified.withColumn(REASON, F.when(valid & (copies > 1), DUPLICATE_CUSTOMER_ID).otherwise(F.col(REASON)))


# The customer line contract, in column order: one CSV record per line under the header.
CUSTOMER_CONTRACT = Contract(
    kind="customer",
    line_rules=(fields.blank_line, fields.malformed_csv),
    fields=(
        fields.text(CUSTOMER_ID, rules=fields.present),
        fields.parsed("age", "age", parse_age, f"an integer from {AGE_MIN} to {AGE_MAX}"),
        fields.text("gender", parse=clean_category, rules=fields.present),
        fields.text("marital_status", parse=clean_category, rules=fields.present),
        Field("annual_income", "annual_income", fields.parse_number, income_rules),
        fields.parsed(
            "spending_score",
            "spending_score",
            parse_spending_score,
            f"an integer from {SPENDING_SCORE_MIN} to {SPENDING_SCORE_MAX}",
        ),
    ),
    then=(quarantine_duplicate_ids,),
    extra_reasons=(DUPLICATE_CUSTOMER_ID,),
)


def to_customers(classified: DataFrame) -> DataFrame:
    """The valid rows as typed customers."""
    return classified.transform(valid_rows).transform(conform_to(CUSTOMER))


def behaviour_expectations(lookback_days: int) -> list[Any]:
    """Derived behaviour as a data set: one complete row per customer, every feature within
    the range the contract gives for the window (the ranges the scorer checks requests by)."""
    import great_expectations.expectations as gxe

    bounded = [(name, low, high) for name, (low, high) in behaviour_ranges(lookback_days).items()]
    return [
        gxe.ExpectColumnValuesToBeUnique(column=CUSTOMER_ID),
        *(gxe.ExpectColumnValuesToNotBeNull(column=name) for name, _, _ in bounded),
        gxe.ExpectColumnValuesToBeBetween(column="transactions", min_value=0),
        *(
            gxe.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high)
            for name, low, high in bounded
            if low is not None or high is not None
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


def profile_expectations(k: int, families: Sequence[str] = (DEMOGRAPHICS,)) -> list[Any]:
    """Per segment: one row, a positive size, min <= mean <= max.

    The mean of whole numbers (an exact sum, one rounding) cannot leave [min, max]; a mean of
    decimals can, by an ulp (e.g. three incomes of 0.1), so income and the behaviour's money
    and shares are only checked min <= max.
    """
    import great_expectations.expectations as gxe

    whole, decimal = [], []
    if DEMOGRAPHICS in families:
        whole += ["age", "spending_score"]
        decimal += ["annual_income"]
    if BEHAVIOUR in families:
        whole += [RECENCY_DAYS, FREQUENCY]
        decimal += [MONETARY, AVG_BASKET, REFUND_SHARE]
    ranges = ordered_pairs(
        *((f"{name}_{a}", f"{name}_{b}", True) for name in whole for a, b in MEAN_IN_RANGE),
        *((f"{name}_max", f"{name}_min", True) for name in decimal),
    )
    return [
        gxe.ExpectColumnValuesToBeUnique(column="segment"),
        gxe.ExpectColumnValuesToBeBetween(column="segment", min_value=0, max_value=k - 1),
        gxe.ExpectColumnValuesToBeBetween(column="customers", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="share_of_customers", min_value=0, max_value=1),
        *ranges,
    ]
