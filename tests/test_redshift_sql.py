"""The Redshift SQL and COPY manifests, as text: no Spark, no Redshift needed."""

from __future__ import annotations

import json

import pytest
from pyspark.sql.types import ArrayType, StringType

from common.redshift import copy_manifest, create_table_sql, idempotent_load_sql, redshift_type
from schemas.transactions import DAILY_USER_TOTALS


def test_table_ddl_keeps_column_order_and_money_type() -> None:
    ddl = create_table_sql(
        "daily_user_totals", DAILY_USER_TOTALS, not_null=["user_id"], distkey="user_id", sortkey=["transaction_date"]
    )
    assert ddl.splitlines()[1:5] == [
        "    user_id VARCHAR(256) NOT NULL,",
        "    transaction_date DATE,",
        "    total_amount DECIMAL(18,2),",
        "    transaction_count BIGINT",
    ]
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS daily_user_totals (")
    assert ddl.endswith("DISTKEY (user_id)\nSORTKEY (transaction_date);\n")


def test_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError, match="no Redshift type"):
        redshift_type(ArrayType(StringType()))


def test_manifest_lists_each_file_with_its_size() -> None:
    manifest = json.loads(copy_manifest([("s3://b/x/part-0.parquet", 10), ("s3://b/x/part-1.parquet", 20)]))
    assert manifest == {
        "entries": [
            {"url": "s3://b/x/part-0.parquet", "mandatory": True, "meta": {"content_length": 10}},
            {"url": "s3://b/x/part-1.parquet", "mandatory": True, "meta": {"content_length": 20}},
        ]
    }


def test_load_by_keys_deletes_matching_rows_inside_one_transaction() -> None:
    sql = idempotent_load_sql("user_profiles", "s3://b/p.manifest", replace_keys=["user_id"])
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT"
    assert statements[1] == "CREATE TEMP TABLE user_profiles_stage (LIKE user_profiles)"
    assert statements[2].split("\n") == [
        "COPY user_profiles_stage",
        "FROM 's3://b/p.manifest'",
        "IAM_ROLE :'iam_role'",
        "FORMAT AS PARQUET",
        "MANIFEST",
    ]
    assert statements[3] == (
        "DELETE FROM user_profiles USING user_profiles_stage WHERE user_profiles.user_id = user_profiles_stage.user_id"
    )
    assert statements[4] == "INSERT INTO user_profiles SELECT * FROM user_profiles_stage"


def test_load_needs_exactly_one_way_to_replace() -> None:
    with pytest.raises(ValueError):
        idempotent_load_sql("t", "s3://b/m", replace_predicate="x = 1", replace_keys=["k"])
    with pytest.raises(ValueError):
        idempotent_load_sql("t", "s3://b/m")
