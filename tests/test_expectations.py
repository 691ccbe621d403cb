"""Expectation suites (common/expectations.py): the same verdicts on pandas and on Spark, counts
without samples, and errors that say why."""

from __future__ import annotations

import great_expectations as gx
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.expectations import PANDAS_MAX_ROWS, SuiteResult, ordered_pairs, run_suite


def values(spark: SparkSession, *items: int | None) -> DataFrame:
    return spark.createDataFrame([(v,) for v in items], "value int")


def output_like(spark: SparkSession) -> DataFrame:
    """The column types our outputs have, with one bad row per expectation below."""
    return spark.createDataFrame(
        [
            ("u1", 3, "2026-11-01 10:00:00", "2026-11-01 11:00:00", "12.50", "2026-11-01"),
            ("u2", None, "2026-11-01 12:00:00", "2026-11-01 09:00:00", "-0.01", "2026-11-02"),
            ("u2", 0, "2026-11-02 08:00:00", "2026-11-02 08:00:00", "99999.99", "2026-11-02"),
        ],
        "user_id string, event_count int, first_seen string, last_seen string, amount string, day string",
    ).selectExpr(
        "user_id",
        "event_count",
        "cast(first_seen as timestamp) as first_seen",
        "cast(last_seen as timestamp) as last_seen",
        "cast(amount as decimal(18,2)) as amount",
        "cast(day as date) as day",
    )


OUTPUT_EXPECTATIONS = [
    gx.expectations.ExpectColumnValuesToBeUnique(column="user_id"),
    gx.expectations.ExpectColumnValuesToNotBeNull(column="event_count"),
    gx.expectations.ExpectColumnValuesToBeBetween(column="event_count", min_value=1),
    gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(column_A="last_seen", column_B="first_seen", or_equal=True),
    gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
    gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "day"]),
]


def verdicts(result: SuiteResult) -> dict[str, tuple[bool, int | None]]:
    """Success and unexpected count per expectation, keyed by its type and columns (GX does not
    keep the suite's order in its results)."""
    return {
        e["expectation"] + str(sorted(v for k, v in e["kwargs"].items() if k.startswith("column"))): (
            e["success"],
            e.get("unexpected_count"),
        )
        for e in result.expectations
    }


def test_a_small_data_set_is_validated_on_pandas_with_the_verdicts_spark_gives(spark: SparkSession) -> None:
    """Small outputs run their suite on a pandas copy: every expectation must reach the same
    verdict and count the same unexpected rows as on Spark, for each column type we write."""
    df = output_like(spark)
    on_spark = run_suite(df, "outputs", OUTPUT_EXPECTATIONS)
    on_pandas = run_suite(df, "outputs", OUTPUT_EXPECTATIONS, rows=3)
    assert (on_spark.engine, on_pandas.engine) == ("spark", "pandas")
    assert verdicts(on_spark) == {
        "expect_column_values_to_be_unique['user_id']": (False, 2),
        "expect_column_values_to_not_be_null['event_count']": (False, 1),
        "expect_column_values_to_be_between['event_count']": (False, 1),
        "expect_column_pair_values_a_to_be_greater_than_b['first_seen', 'last_seen']": (False, 1),
        "expect_column_values_to_be_between['amount']": (False, 1),
        "expect_compound_columns_to_be_unique[['user_id', 'day']]": (False, 2),
    }
    assert verdicts(on_pandas) == verdicts(on_spark)
    assert not any("raised_exception" in e for e in on_spark.expectations + on_pandas.expectations)
    assert not on_pandas.success and sorted(on_pandas.failed) == sorted(on_spark.failed)


def test_a_clean_small_data_set_passes_on_both_engines(spark: SparkSession) -> None:
    df = output_like(spark).limit(1)
    for rows in (None, 1):
        result = run_suite(df, "outputs", OUTPUT_EXPECTATIONS, rows=rows)
        assert result.success, result.failed
        assert [count for _, count in verdicts(result).values()] == [0] * len(OUTPUT_EXPECTATIONS)


def test_a_comparison_with_a_null_side_fails_the_same_way_on_both_engines(spark: SparkSession) -> None:
    """The engines disagree on `a >= b` when b is null; `ordered_pairs` makes null a not-null
    failure on both, and the comparison skips the row on both."""
    first_seen = F.when(F.col("user_id") == "u1", None).otherwise(F.col("first_seen"))
    df = output_like(spark).withColumn("first_seen", first_seen)
    expectations = ordered_pairs(("last_seen", "first_seen", True))
    on_spark = run_suite(df, "pairs", expectations)
    on_pandas = run_suite(df, "pairs", expectations, rows=3)
    assert verdicts(on_pandas) == verdicts(on_spark)
    assert verdicts(on_spark) == {
        "expect_column_values_to_not_be_null['last_seen']": (True, 0),
        "expect_column_values_to_not_be_null['first_seen']": (False, 1),
        "expect_column_pair_values_a_to_be_greater_than_b['first_seen', 'last_seen']": (False, 1),
    }


def test_an_expectation_that_cannot_be_evaluated_says_why_on_both_engines(spark: SparkSession) -> None:
    """A suite naming a column the data does not have fails with the error, not as bad data."""
    missing = gx.expectations.ExpectColumnValuesToNotBeNull(column="no_such_column")
    for rows in (None, 2):
        result = run_suite(values(spark, 1, 2), "values", [missing], rows=rows)
        assert not result.success
        assert "no_such_column" in result.expectations[0]["raised_exception"], result.engine


def test_a_data_set_above_the_pandas_limit_stays_on_spark(spark: SparkSession) -> None:
    not_null = gx.expectations.ExpectColumnValuesToNotBeNull(column="value")
    result = run_suite(values(spark, 1, None), "values", [not_null], rows=PANDAS_MAX_ROWS + 1)
    assert result.engine == "spark"
    assert result.expectations[0]["unexpected_count"] == 1
