"""One customer contract: the plain-Python module the scorer ships with is the one the Spark
schemas, rules and pipeline read their names, patterns, ranges and categories from."""

from __future__ import annotations

import subprocess
import sys

from common import customer_contract as contract
from common import patterns, segment_scorer, segmentation
from common.rules import customers as customer_rules
from common.rules import fields
from schemas.customers import BEHAVIOUR_FEATURES_SCHEMA, CUSTOMER, RAW_CUSTOMER, segment_profiles_schema


def test_schemas_use_the_contracts_field_names() -> None:
    assert tuple(RAW_CUSTOMER.fieldNames()) == contract.RAW_FIELDS
    assert tuple(CUSTOMER.fieldNames()) == contract.RAW_FIELDS
    assert tuple(BEHAVIOUR_FEATURES_SCHEMA.fieldNames()[2:]) == contract.BEHAVIOUR_FEATURES
    assert BEHAVIOUR_FEATURES_SCHEMA.fieldNames()[0] == contract.CUSTOMER_ID
    assert set(contract.FIELD_ORDER) == {*contract.NUMERIC_FEATURES, *contract.CATEGORICAL_FEATURES}


def test_the_spark_side_and_the_scorer_read_one_module() -> None:
    for name in ("CUSTOMER_ID", "NUMERIC_FEATURES", "CATEGORICAL_FEATURES", "AGE_MIN", "AGE_MAX"):
        assert getattr(segment_scorer, name) is getattr(contract, name)
    for name in ("AGE_MIN", "AGE_MAX", "SPENDING_SCORE_MIN", "SPENDING_SCORE_MAX", "CUSTOMER_ID"):
        assert getattr(customer_rules, name) is getattr(contract, name)
    assert segmentation.NUMERIC_FEATURES is contract.NUMERIC_FEATURES
    assert segmentation.CATEGORICAL_FEATURES is contract.CATEGORICAL_FEATURES
    assert segment_scorer.clean_customer is contract.clean_customer


def test_patterns_have_one_home() -> None:
    for name in ("INTEGER_PATTERN", "NUMBER_PATTERN", "WHITESPACE"):
        assert getattr(contract, name) is getattr(patterns, name)
        assert getattr(fields, name) is getattr(patterns, name)
    assert fields.ISO_TIMESTAMP_PATTERN is patterns.ISO_TIMESTAMP_PATTERN
    assert fields.ISO_DATE_PATTERN is patterns.ISO_DATE_PATTERN


def test_profiles_have_each_familys_columns() -> None:
    demographic = segment_profiles_schema([contract.DEMOGRAPHICS]).fieldNames()
    behaviour = segment_profiles_schema([contract.BEHAVIOUR]).fieldNames()
    both = segment_profiles_schema(list(contract.FAMILIES)).fieldNames()
    for name in contract.BEHAVIOUR_FEATURES:
        assert {f"{name}_mean", f"{name}_min", f"{name}_max"} <= set(behaviour) - set(demographic)
    assert "monetary_median" in behaviour and "age_mean" not in behaviour and "gender_share" not in behaviour
    assert set(both) == set(demographic) | set(behaviour)


def test_the_contract_imports_no_spark() -> None:
    code = "import sys, common.customer_contract; print(sorted(m for m in sys.modules if 'spark' in m or 'py4j' in m))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
