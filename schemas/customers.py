"""Customers: the raw CSV contract, the behaviour features, and the customer segmentation
output tables. Field names come from `common.customer_contract` (the plain-Python contract the
scorer shares); a test pins that these schemas use them."""

from collections.abc import Sequence

from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from common.customer_contract import BEHAVIOUR, BEHAVIOUR_FEATURES, DEMOGRAPHICS, FAMILIES, MONETARY, RAW_FIELDS

# The CSV columns, in header order. All are read as text: the row rules decide what is valid
# (an age of "34.5" or an income of "$50k" is quarantined, never coerced or dropped silently).
RAW_CUSTOMER = StructType([StructField(name, StringType()) for name in RAW_FIELDS])

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

# One segment per customer scored (segment_customers); a training run's predictions also keep
# the features (training_predictions_schema).
PREDICTIONS = StructType(
    [
        StructField("customer_id", StringType()),
        StructField("segment", IntegerType()),
    ]
)


# Behaviour per customer, derived from the warehouse's transactions (common.behaviour):
# `transactions` is the number of transactions in the look-back window, kept for the report;
# the five features after it are what the model sees.
BEHAVIOUR_FEATURES_SCHEMA = StructType(
    [
        StructField("customer_id", StringType()),
        StructField("transactions", LongType()),
        StructField("recency_days", IntegerType()),
        StructField("frequency", IntegerType()),
        StructField("monetary", DoubleType()),
        StructField("avg_basket", DoubleType()),
        StructField("refund_share", DoubleType()),
    ]
)
if tuple(f.name for f in BEHAVIOUR_FEATURES_SCHEMA.fields[2:]) != BEHAVIOUR_FEATURES:
    raise AssertionError("BEHAVIOUR_FEATURES_SCHEMA must list the contract's behaviour features in order")


def training_predictions_schema(families: Sequence[str]) -> StructType:
    """The predictions of a training run on `families`: each customer's segment and, in their
    own units, the features of those families the model saw. Kept so that `segment_profiles`
    can be recomputed from this table alone after an erasure (jobs/erase_users.py): the
    training input may be gone or changed by then (a CSV replaced, a warehouse loaded,
    erased or past its retention since)."""
    _check_families(families)
    demographic = list(CUSTOMER.fields[1:]) if DEMOGRAPHICS in families else []
    behaviour = list(BEHAVIOUR_FEATURES_SCHEMA.fields[2:]) if BEHAVIOUR in families else []
    return StructType([*PREDICTIONS.fields, *demographic, *behaviour])


_PROFILE_HEAD = [
    StructField("segment", IntegerType()),
    StructField("customers", LongType()),
    StructField("share_of_customers", DoubleType()),
]
_DEMOGRAPHIC_STATS = [
    StructField("age_mean", DoubleType()),
    StructField("age_min", IntegerType()),
    StructField("age_max", IntegerType()),
    StructField("annual_income_mean", DoubleType()),
    StructField("annual_income_min", DoubleType()),
    StructField("annual_income_max", DoubleType()),
    StructField("spending_score_mean", DoubleType()),
    StructField("spending_score_min", IntegerType()),
    StructField("spending_score_max", IntegerType()),
]
# Mean, min and max of each behaviour feature in its own units (days, purchase days, money,
# share), and the median net spend: the mean of a heavy-tailed spend describes few customers.
_BEHAVIOUR_STATS = [
    StructField(f"{name}_{stat}", field.dataType if stat in ("min", "max") else DoubleType())
    for name, field in ((f.name, f) for f in BEHAVIOUR_FEATURES_SCHEMA.fields[2:])
    for stat in ("mean", "min", "max")
] + [StructField(f"{MONETARY}_median", DoubleType())]
_CATEGORY_SHARES = [
    StructField("gender_share", MapType(StringType(), DoubleType())),
    StructField("marital_status_share", MapType(StringType(), DoubleType())),
]


def _check_families(families: Sequence[str]) -> None:
    unknown = set(families) - set(FAMILIES)
    if unknown or not families:
        raise ValueError(f"families must be some of {list(FAMILIES)}, got {list(families)}")


def segment_profiles_schema(families: Sequence[str]) -> StructType:
    """The profile table of a model trained on `families`: its size, then per family the
    range and mean of each number and (demographics) the share of each category."""
    _check_families(families)
    demographic = DEMOGRAPHICS in families
    return StructType(
        [
            *_PROFILE_HEAD,
            *(_DEMOGRAPHIC_STATS if demographic else []),
            *(_BEHAVIOUR_STATS if BEHAVIOUR in families else []),
            *(_CATEGORY_SHARES if demographic else []),
        ]
    )


# One row per segment: its size, the range and mean of each numeric feature, and the share of
# each category (category -> fraction of the segment's customers, summing to 1). A model with
# behaviour features has their columns too (segment_profiles_schema).
SEGMENT_PROFILES = segment_profiles_schema([DEMOGRAPHICS])
