"""latest_per_key: the in-batch deduplication under the silver MERGE."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.transaction_etl import latest_per_key


def test_latest_per_key_keeps_unique_rows_and_the_newest_of_each_repeated_key(spark: SparkSession) -> None:
    rows = [
        ("a", 1, "only"),
        ("b", 1, "old"),
        ("b", 3, "new"),
        ("b", 2, "middle"),
        ("c", 5, "only"),
        ("d", 7, "newer"),
        ("d", 4, "older"),
    ]
    batch = spark.createDataFrame(rows, "key string, version int, label string")
    latest = latest_per_key(batch, "key", [F.col("version").desc()])
    assert latest.columns == batch.columns  # same columns, same order
    expected = spark.createDataFrame(
        [("a", 1, "only"), ("b", 3, "new"), ("c", 5, "only"), ("d", 7, "newer")], batch.schema
    )
    assert_df_equality(latest.orderBy("key"), expected, ignore_nullable=True)


def test_latest_per_key_without_repeats_is_the_batch(spark: SparkSession) -> None:
    batch = spark.createDataFrame([("x", 1), ("y", 2)], "key string, version int")
    assert_df_equality(latest_per_key(batch, "key", [F.col("version").desc()]).orderBy("key"), batch)


def test_latest_per_key_sorts_the_batch_once_after_its_shuffle(spark: SparkSession) -> None:
    """The session turns off Spark's pre-shuffle group limit (common/spark.py): with keys that
    rarely repeat it sorted every row a second time and dropped almost none."""
    batch = spark.createDataFrame([("x", 1), ("x", 2), ("y", 2)], "key string, version int")
    latest = latest_per_key(batch, "key", [F.col("version").desc()])
    plan = latest._jdf.queryExecution().executedPlan().toString()
    assert "WindowGroupLimit" not in plan
    assert plan.count("Sort [") == 1
    assert sorted(tuple(r) for r in latest.collect()) == [("x", 2), ("y", 2)]
