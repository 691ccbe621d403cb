"""The transaction ETL on two golden batches: every table after each batch, the run reports,
the Redshift export, the symlink manifests, a reader other than Spark, and a rerun.

Batch 1 loads six transactions (two in-batch duplicates). Batch 2 corrects two of them (one
moves to another day), repeats two unchanged or older versions, adds late data and its own
duplicates, and brings user profiles. Expected rows are computed by hand in the .jsonl files.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common import delta
from common.tables import read_table
from jobs import transaction_etl
from schemas.transactions import DAILY_USER_TOTALS
from tests.golden import LOOSE_GATES, TRANSACTION_ETL_TABLES, assert_table_equals, file_name_only, read_expected

pytestmark = pytest.mark.slow

TABLES = TRANSACTION_ETL_TABLES


def args(fixtures: Path, warehouse: Path, batch: str, *extra: str) -> list[str]:
    root = fixtures / "transaction_etl"
    batch_id = ["--batch-id", "b" + batch[-1]]
    return ["--transactions", str(root / batch), "--warehouse", str(warehouse), *batch_id, *LOOSE_GATES, *extra]


def batch2_args(fixtures: Path, warehouse: Path) -> list[str]:
    return args(fixtures, warehouse, "batch2", "--profiles", str(fixtures / "transaction_etl" / "profiles"))


@pytest.fixture(scope="module")
def golden(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    warehouse = tmp_path_factory.mktemp("transaction_etl") / "warehouse"
    first = transaction_etl.run(spark, transaction_etl.parse_args(args(fixtures, warehouse, "batch1")))
    versions = {name: delta.version(spark, str(warehouse / name)) for name in ("transactions", "daily_user_totals")}
    # Batch 1's export was loaded: the pipeline acknowledges it (else batch 2 would carry it over).
    export = warehouse / "redshift"
    shutil.copyfile(export / transaction_etl.EXPORT_RECORD, export / transaction_etl.EXPORT_LOADED)
    second = transaction_etl.run(spark, transaction_etl.parse_args(batch2_args(fixtures, warehouse)))
    return {"warehouse": warehouse, "first": first, "second": second, "batch1_versions": versions}


def stored(spark: SparkSession, warehouse: Path, table: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    df = reader.load(str(warehouse / table)).select(*[f.name for f in TABLES[table][1].fields])
    return file_name_only(df) if "source_file" in df.columns else df


def expected(spark: SparkSession, fixtures: Path, after: str, table: str) -> DataFrame:
    path = fixtures / "transaction_etl" / "expected" / after / f"{table}.jsonl"
    return read_expected(spark, path, TABLES[table][1])


@pytest.mark.parametrize("table", ["transactions", "daily_user_totals"])
def test_after_batch1(spark: SparkSession, fixtures: Path, golden: dict, table: str) -> None:
    actual = stored(spark, golden["warehouse"], table, golden["batch1_versions"][table])
    assert_table_equals(actual, expected(spark, fixtures, "after_batch1", table))


@pytest.mark.parametrize("table", sorted(TABLES))
def test_after_batch2(spark: SparkSession, fixtures: Path, golden: dict, table: str) -> None:
    actual = stored(spark, golden["warehouse"], table)
    assert_table_equals(actual, expected(spark, fixtures, "after_batch2", table))


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_columns_are_the_contract(spark: SparkSession, golden: dict, table: str) -> None:
    written = read_table(spark, str(golden["warehouse"] / table), "delta").schema
    assert [(f.name, f.dataType) for f in written.fields] == [(f.name, f.dataType) for f in TABLES[table][0].fields]


def test_silver_and_gold_are_partitioned_by_date(golden: dict) -> None:
    for table in ("transactions", "daily_user_totals"):
        partitions = sorted(p.name for p in (golden["warehouse"] / table).glob("transaction_date=*"))
        assert "transaction_date=2026-10-31" in partitions, table


def test_reports_account_for_every_line_and_merge(golden: dict) -> None:
    first, second = golden["first"], golden["second"]
    assert (first["rows_read"], first["rows_valid"], first["rows_quarantined"]) == (17, 8, 9)
    assert first["quarantined_by_reason"] == {
        "blank_line": 1,
        "invalid_amount": 3,
        "invalid_timestamp": 1,
        "malformed_json": 1,
        "missing_amount": 1,
        "missing_transaction_id": 1,
        "missing_user_id": 1,
    }
    merge = {k: v for k, v in first["metrics"]["merge_transactions"].items() if k != "version"}
    assert merge == {"source_rows": 6, "inserted": 6, "updated": 0, "unchanged": 0, "duplicates_collapsed": 2}
    assert first["metrics"]["daily_user_totals"]["dates_refreshed"] == "all"

    assert (second["rows_read"], second["rows_valid"], second["rows_quarantined"]) == (12, 9, 3)
    assert second["quarantined_by_reason"] == {"invalid_amount": 1, "invalid_transaction_id": 1, "malformed_json": 1}
    merge = {k: v for k, v in second["metrics"]["merge_transactions"].items() if k != "version"}
    assert merge == {"source_rows": 7, "inserted": 3, "updated": 2, "unchanged": 2, "duplicates_collapsed": 2}
    # t3 moved from 11-02 to 11-03: both days are recomputed.
    assert second["metrics"]["daily_user_totals"]["dates_refreshed"] == [
        "2026-10-31",
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
        "2026-11-04",
    ]
    assert second["metrics"]["profiles"] == {
        "rows_read": 9,
        "rows_valid": 4,
        "rows_quarantined": 5,
        "quarantined_by_reason": {
            "invalid_country": 1,
            "invalid_signup_date": 1,
            "invalid_updated_at": 1,
            "malformed_json": 1,
            "missing_user_id": 1,
        },
    }
    profiles = {k: v for k, v in second["metrics"]["merge_profiles"].items() if k != "version"}
    assert profiles == {"source_rows": 3, "inserted": 3, "updated": 0, "unchanged": 0, "duplicates_collapsed": 1}
    assert all(second["metrics"]["reconciliation"].values())
    assert {name: t["rows"] for name, t in second["tables"].items()} == {
        "transactions": 9,
        "daily_user_totals": 7,
        "user_profiles": 3,
        "quarantine": 17,
    }
    assert set(second["validation"]) == {"daily_user_totals", "user_profiles"}
    assert all(suite["success"] for suite in second["validation"].values())


def test_report_on_disk_is_the_last_runs(golden: dict) -> None:
    on_disk = json.loads((golden["warehouse"] / "run_report.json").read_text())
    assert on_disk == json.loads(json.dumps(golden["second"], default=str))
    assert on_disk["status"] == "succeeded" and on_disk["arguments"]["batch_id"] == "b2"


def test_redshift_export_holds_the_refreshed_days(spark: SparkSession, fixtures: Path, golden: dict) -> None:
    export = golden["warehouse"] / "redshift"
    exported = spark.read.parquet(str(export / "daily_user_totals"))
    assert [(f.name, f.dataType) for f in exported.schema.fields] == [
        (f.name, f.dataType) for f in DAILY_USER_TOTALS.fields
    ]
    assert_table_equals(exported, expected(spark, fixtures, "after_batch2", "daily_user_totals"))

    manifest = json.loads((export / "daily_user_totals.manifest").read_text())
    listed = {Path(e["url"].removeprefix("file:")): e["meta"]["content_length"] for e in manifest["entries"]}
    on_disk = {p: p.stat().st_size for p in (export / "daily_user_totals").glob("*.parquet")}
    assert listed == on_disk and listed
    assert all(e["mandatory"] for e in manifest["entries"])

    load = (export / "load_daily_user_totals.sql").read_text()
    assert "IAM_ROLE :'iam_role'" in load and "arn:aws" not in load
    assert "FORMAT AS PARQUET" in load and "MANIFEST" in load
    assert (
        "DELETE FROM daily_user_totals WHERE transaction_date IN "
        "('2026-10-31', '2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04');" in load
    )
    assert load.index("BEGIN;") < load.index("DELETE") < load.index("INSERT") < load.index("COMMIT;")

    ddl = (export / "create_tables.sql").read_text()
    assert "total_amount DECIMAL(18,2) NOT NULL" in ddl and "transaction_date DATE NOT NULL" in ddl
    assert "CREATE OR REPLACE VIEW daily_user_totals_with_profile" in ddl
    profiles = spark.read.parquet(str(export / "user_profiles"))
    assert profiles.columns == ["user_id", "country", "segment", "signup_date"] and profiles.count() == 3


def test_symlink_manifests_list_the_current_files(golden: dict) -> None:
    """Gold and the profiles keep manifests for Redshift Spectrum; silver has deletion vectors
    instead (Athena reads it natively), so it has none."""
    table = golden["warehouse"] / "daily_user_totals"
    manifests = sorted((table / "_symlink_format_manifest").glob("transaction_date=*/manifest"))
    assert len(manifests) == 5  # 10-31 .. 11-04
    listed = {Path(line.removeprefix("file:")) for m in manifests for line in m.read_text().split()}
    assert listed and all(p.exists() for p in listed)
    assert (golden["warehouse"] / "user_profiles" / "_symlink_format_manifest").is_dir()
    assert not (golden["warehouse"] / "transactions" / "_symlink_format_manifest").exists()


def test_tables_read_the_same_without_spark(spark: SparkSession, golden: dict) -> None:
    """delta-rs (the `deltalake` package) reads what Spark wrote: the log is the standard one.
    Through its query engine (DataFusion), which applies silver's deletion vectors; its
    `to_pyarrow_table()` refuses a table that has them."""
    from deltalake import DeltaTable, QueryBuilder

    for table, key in (("transactions", "transaction_id"), ("daily_user_totals", None), ("user_profiles", "user_id")):
        path = golden["warehouse"] / table
        spark_df = read_table(spark, str(path), "delta")
        timestamps = [f.name for f in spark_df.schema.fields if f.dataType.typeName() == "timestamp"]
        spark_rows = spark_df.withColumns({c: F.unix_micros(c) for c in timestamps}).collect()
        arrow = pa.table(QueryBuilder().register("t", DeltaTable(str(path))).execute("SELECT * FROM t").read_all())
        for name in timestamps:
            index = arrow.schema.get_field_index(name)
            arrow = arrow.set_column(index, name, arrow.column(name).cast("int64"))
        arrow_rows = arrow.select(spark_df.columns).to_pylist()

        def ordered(rows: list[dict]) -> list[tuple]:
            return sorted((tuple(r.values()) for r in rows), key=repr)

        assert ordered([r.asDict() for r in spark_rows]) == ordered(arrow_rows), table
        assert DeltaTable(str(path)).version() == delta.version(spark, str(path))
        if key:
            assert len({r[key] for r in arrow_rows}) == len(arrow_rows)
    silver = DeltaTable(str(golden["warehouse"] / "transactions"))
    query = QueryBuilder().register("t", silver).execute("SELECT transaction_id, amount FROM t")
    amounts = {r["transaction_id"]: r["amount"] for r in pa.table(query.read_all()).to_pylist()}
    assert amounts["t6"] == Decimal("1234567890123456.78")


def test_rerun_of_a_batch_changes_nothing(spark: SparkSession, fixtures: Path, golden: dict, tmp_path: Path) -> None:
    """Batch 2 again, on a copy of the golden warehouse (the other tests read the original)."""
    warehouse = tmp_path / "warehouse"
    shutil.copytree(golden["warehouse"], warehouse)
    before = {t: sorted(read_table(spark, str(warehouse / t), "delta").collect()) for t in TABLES}
    gold_version = delta.version(spark, str(warehouse / "daily_user_totals"))
    report = transaction_etl.run(spark, transaction_etl.parse_args(batch2_args(fixtures, warehouse)))
    after = {t: sorted(read_table(spark, str(warehouse / t), "delta").collect()) for t in TABLES}
    assert after == before
    assert delta.version(spark, str(warehouse / "daily_user_totals")) == gold_version
    merge = report["metrics"]["merge_transactions"]
    assert (merge["inserted"], merge["updated"], merge["unchanged"]) == (0, 0, 7)
    assert report["metrics"]["merge_profiles"]["unchanged"] == 3
    assert report["metrics"]["daily_user_totals"]["dates_refreshed"] == []
    assert report["metrics"]["redshift_export"]["daily_user_totals"] == "unchanged"
