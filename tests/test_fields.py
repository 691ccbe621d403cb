"""The field parsers every contract shares: which texts they accept and the exact value they give.

They check the untrimmed text against a pattern padded with white space and cast it as it is,
so these cases pin down that the cast's own trimming and the pattern agree: what the pattern
lets by is exactly what gets a value, surrounding white space included.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from common.rules import fields


def parsed(spark: SparkSession, parser, values: list[str | None]) -> list:
    """Each value through `parser`, in order."""
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    return [row[0] for row in df.orderBy("i").select(parser(F.col("v"))).collect()]


def at(*parts: int) -> dt.datetime:
    """A UTC instant as Spark returns it to Python (naive, in the session's zone, UTC)."""
    return dt.datetime(*parts)


TIMESTAMPS = {
    "2026-11-01T10:00:00Z": at(2026, 11, 1, 10),
    "2026-11-01T10:00:00.250Z": at(2026, 11, 1, 10, 0, 0, 250000),
    "2026-11-01 10:00:00": at(2026, 11, 1, 10),
    "2026-11-01T12:00:00+02:00": at(2026, 11, 1, 10),
    "2026-11-01T02:00:00-0800": at(2026, 11, 1, 10),
    " \t2026-11-01T10:00:00Z\n": at(2026, 11, 1, 10),
    "2026-11-01T10:00:00Z ": at(2026, 11, 1, 10),
    "2026-11-01": None,
    "2026-11-01T10:00": None,
    "2026-11-01T10:00:00ZZ": None,
    "2026-11-01T10:00:00UTC": None,
    "2026-02-30T10:00:00Z": None,
    "x2026-11-01T10:00:00Z": None,
    "": None,
    None: None,
}


def test_iso_timestamps(spark: SparkSession) -> None:
    assert parsed(spark, fields.parse_iso_timestamp, list(TIMESTAMPS)) == list(TIMESTAMPS.values())


def test_z_means_utc_whatever_the_rest_of_the_text(spark: SparkSession) -> None:
    """'Z' is cut before the cast (a fast path); the instant must equal an explicit +00:00."""
    with_z = ["2026-03-29T01:30:00Z", "2026-10-25T01:30:00.999999Z", "1999-12-31 23:59:59Z"]
    as_offset = [v[:-1] + "+00:00" for v in with_z]
    assert parsed(spark, fields.parse_iso_timestamp, with_z) == parsed(spark, fields.parse_iso_timestamp, as_offset)


INTEGERS = {"404": 404, " 404\t": 404, "0404": 404, "404.0": None, "+404": None, "4 04": None, "": None, None: None}
DECIMALS = {
    "-12.50": Decimal("-12.50"),
    "\t+3.1 ": Decimal("3.10"),
    "7": Decimal("7.00"),
    "10.005": None,
    "1e2": None,
    ".5": None,
    "12,50": None,
}
DAY = dt.date(2026, 11, 1)
DATES = {"2026-11-01": DAY, " 2026-11-01\n": DAY, "2026-02-30": None, "20261101": None}
NUMBERS = {"48.75": 48.75, " -3 ": -3.0, "5e4": None, "NaN": None, "52,000": None}


@pytest.mark.parametrize(
    ("parser", "cases"),
    [
        (fields.parse_integer, INTEGERS),
        (fields.parse_decimal, DECIMALS),
        (fields.parse_iso_date, DATES),
        (fields.parse_number, NUMBERS),
    ],
    ids=["integer", "decimal", "date", "number"],
)
def test_parsers_accept_exactly_their_pattern(spark: SparkSession, parser, cases: dict) -> None:
    assert parsed(spark, parser, list(cases)) == list(cases.values())


def test_matches_sets_surrounding_white_space_aside(spark: SparkSession) -> None:
    def digits(value: Column) -> Column:
        return fields.matches(value, r"^[0-9]+$")

    assert parsed(spark, digits, ["12", " 12\t\r\n", "1 2", "", " ", None]) == [True, True, False, False, False, None]


def test_matches_needs_an_anchored_pattern() -> None:
    with pytest.raises(ValueError, match="anchored"):
        fields.matches(F.col("v"), "[0-9]+")


def test_strip_removes_every_kind_of_surrounding_white_space(spark: SparkSession) -> None:
    assert parsed(spark, fields.strip, [" \t a b \r\n", "ab", None]) == ["a b", "ab", None]


def test_parsers_keep_the_column_type_contract(spark: SparkSession) -> None:
    schema = StructType([StructField("v", StringType())])
    df = spark.createDataFrame([("1",)], schema).select(
        fields.parse_iso_timestamp(F.col("v")).alias("ts"),
        fields.parse_integer(F.col("v")).alias("i"),
        fields.parse_decimal(F.col("v")).alias("d"),
        fields.parse_iso_date(F.col("v")).alias("date"),
        fields.parse_number(F.col("v")).alias("n"),
    )
    assert [f.dataType.simpleString() for f in df.schema.fields] == [
        "timestamp",
        "int",
        "decimal(18,2)",
        "date",
        "double",
    ]
