"""Customers: the raw CSV contract and the customer segmentation output tables."""

from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

# The CSV columns, in header order. All are read as text: the row rules decide what is valid
# (an age of "34.5" or an income of "$50k" is quarantined, never coerced or dropped silently).
RAW_CUSTOMER = StructType(
    [
        StructField("customer_id", StringType()),
        StructField("age", StringType()),
        StructField("gender", StringType()),
        StructField("marital_status", StringType()),
        StructField("annual_income", StringType()),
        StructField("spending_score", StringType()),
    ]
)

# A valid, typed customer: what the model is trained on and scores.
CUSTOMER = StructType(
    [
        StructField("customer_id", StringType()),
        StructField("age", IntegerType()),
        StructField("gender", StringType()),
        StructField("marital_status", StringType()),
        StructField("annual_income", DoubleType()),
        StructField("spending_score", IntegerType()),
    ]
)

PREDICTIONS = StructType(
    [
        StructField("customer_id", StringType()),
        StructField("segment", IntegerType()),
    ]
)

# One row per segment: its size, the range and mean of each numeric feature, and the share of
# each category (category -> fraction of the segment's customers, summing to 1).
SEGMENT_PROFILES = StructType(
    [
        StructField("segment", IntegerType()),
        StructField("customers", LongType()),
        StructField("share_of_customers", DoubleType()),
        StructField("age_mean", DoubleType()),
        StructField("age_min", IntegerType()),
        StructField("age_max", IntegerType()),
        StructField("annual_income_mean", DoubleType()),
        StructField("annual_income_min", DoubleType()),
        StructField("annual_income_max", DoubleType()),
        StructField("spending_score_mean", DoubleType()),
        StructField("spending_score_min", IntegerType()),
        StructField("spending_score_max", IntegerType()),
        StructField("gender_share", MapType(StringType(), DoubleType())),
        StructField("marital_status_share", MapType(StringType(), DoubleType())),
    ]
)
