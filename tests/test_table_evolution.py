"""Tables evolve in one place, `common.delta.ensure_table`: the contract in schemas/ is the truth.

A table an earlier release wrote gets the nullable columns and properties it lacks and loses
the retired ones, the contract it was brought to is recorded, and a change no added column can
make stops the run with one line naming the table and the column. Real Delta tables.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql.types import (
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from common import delta
from common.customer_contract import DEMOGRAPHICS
from common.errors import JobError
from common.tables import write_table
from jobs import log_analytics, transaction_etl
from schemas.customers import PREDICTIONS, training_predictions_schema
from schemas.logs import ERROR_PATTERNS, EVENTS, USER_ACTIVITY
from schemas.quarantine import QUARANTINE
from schemas.transactions import DAILY_USER_TOTALS, ETL_QUARANTINE, TRANSACTIONS, USER_PROFILES

pytestmark = pytest.mark.slow

OLD = StructType([StructField("id", StringType(), False), StructField("day", StringType())])
NEW = StructType([*OLD.fields, StructField("note", StringType())])


def written_by_an_earlier_release(spark: SparkSession, path: str, properties: dict[str, str] | None = None) -> None:
    """A table as an earlier release left it: its old columns, properties and rows, no contract
    recorded."""
    delta.ensure_table(spark, path, OLD, ["day"], properties)
    spark.createDataFrame([("a", "d1"), ("b", "d2")], OLD).write.format("delta").mode("append").save(path)
    spark.sql(f"ALTER TABLE delta.`{path}` UNSET TBLPROPERTIES ('{delta.CONTRACT}', '{delta.CONTRACT_RELEASE}')")


def test_a_new_nullable_column_is_added_and_the_contract_recorded_once(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    written_by_an_earlier_release(spark, path)

    state = delta.ensure_table(spark, path, NEW, ["day"])

    table = spark.read.format("delta").load(path)
    assert table.columns == ["id", "day", "note"]
    assert sorted(map(tuple, table.collect())) == [("a", "d1", None), ("b", "d2", None)]
    properties = delta.table_properties(spark, path)
    assert properties[delta.CONTRACT] == delta.contract_digest(NEW, ["day"])
    assert state.files == 2
    # On its contract already: nothing to compare, nothing committed.
    assert delta.ensure_table(spark, path, NEW, ["day"]) == delta.TableState(version=state.version, files=2)


@pytest.mark.parametrize(
    ("contract", "partition_by", "message"),
    [
        (StructType(OLD.fields[:1]), ["day"], "table t has a column day its contract does not"),
        (
            StructType([OLD.fields[0], StructField("day", IntegerType())]),
            ["day"],
            "table t: column day is string, its contract says int",
        ),
        (StructType([*OLD.fields, StructField("n", LongType(), False)]), ["day"], "column n is NOT NULL"),
        (OLD, [], r"table t is partitioned by \['day'\], its contract by \[\]"),
    ],
)
def test_a_change_no_added_column_can_make_stops_with_the_table_and_column(
    spark: SparkSession, tmp_path: Path, contract: StructType, partition_by: list[str], message: str
) -> None:
    path = str(tmp_path / "t")
    written_by_an_earlier_release(spark, path)
    version = delta.version(spark, path)

    with pytest.raises(JobError, match=message):
        delta.ensure_table(spark, path, contract, partition_by)
    assert delta.version(spark, path) == version  # refused before any commit


def test_retiring_the_manifest_deletes_it_and_deletion_vectors_can_follow(spark: SparkSession, tmp_path: Path) -> None:
    """The order matters: Delta refuses deletion vectors while the manifest property is on."""
    path = str(tmp_path / "t")
    written_by_an_earlier_release(spark, path, delta.layout_properties(manifest=True))
    assert (tmp_path / "t" / delta.MANIFEST_DIR).is_dir()

    delta.ensure_table(
        spark,
        path,
        OLD,
        ["day"],
        {delta.DELETION_VECTORS: "true", **delta.layout_properties(manifest=False)},
        retired=[delta.SYMLINK_MANIFEST],
    )

    properties = delta.table_properties(spark, path)
    assert delta.SYMLINK_MANIFEST not in properties and properties[delta.DELETION_VECTORS] == "true"
    assert not (tmp_path / "t" / delta.MANIFEST_DIR).exists()
    # A row-level change now marks the row instead of rewriting its file.
    spark.createDataFrame([("p", "d3"), ("q", "d3")], OLD).coalesce(1).write.format("delta").mode("append").save(path)
    DeltaTable.forPath(spark, path).delete("id = 'p'")
    layout = delta.file_layout(spark, path)
    assert layout["day=d3"] == delta.PartitionFiles(files=1, with_deletion_vectors=1)
    assert sorted(map(tuple, spark.read.format("delta").load(path).collect())) == [
        ("a", "d1"),
        ("b", "d2"),
        ("q", "d3"),
    ]


def test_compaction_purges_deletion_vectors_and_bin_packs_crowded_partitions(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    delta.ensure_table(spark, path, OLD, ["day"], {delta.DELETION_VECTORS: "true"})
    for batch in (("a", "b"), ("c",)):
        spark.createDataFrame([(i, "d1") for i in batch], OLD).write.format("delta").mode("append").save(path)
    # One file holding both rows: deleting one marks it (deleting every row of a file removes the file).
    spark.createDataFrame([("x", "d2"), ("y", "d2")], OLD).coalesce(1).write.format("delta").mode("append").save(path)
    DeltaTable.forPath(spark, path).delete("id = 'x'")
    spark.createDataFrame([("z", date(2026, 1, 1).isoformat())], OLD).write.format("delta").mode("append").save(path)
    layout = delta.file_layout(spark, path)
    assert delta.partitions_to_rewrite(layout) == ["day=d1", "day=d2"]  # not the one-file day without a vector

    compaction = delta.compact(spark, path, layout)

    after = delta.file_layout(spark, path)
    assert all(part == delta.PartitionFiles(files=1) for part in after.values()), after
    assert compaction.deletion_vectors_purged == 1 and compaction.partitions_optimized == 2
    assert sorted(r["id"] for r in spark.read.format("delta").load(path).collect()) == ["a", "b", "c", "y", "z"]


def test_purging_deletion_vectors_rewrites_only_the_files_carrying_one(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    delta.ensure_table(spark, path, OLD, ["day"], {delta.DELETION_VECTORS: "true"})
    for batch in (("a", "b"), ("c",)):
        spark.createDataFrame([(i, "d1") for i in batch], OLD).write.format("delta").mode("append").save(path)
    spark.createDataFrame([("x", "d2"), ("y", "d2")], OLD).coalesce(1).write.format("delta").mode("append").save(path)
    DeltaTable.forPath(spark, path).delete("id = 'x'")
    before = delta.file_layout(spark, path)

    purged = delta.purge_deletion_vectors(spark, path)

    after = delta.file_layout(spark, path)
    assert after["day=d1"] == before["day=d1"]  # crowded, but no vector: left as it is
    assert after["day=d2"] == delta.PartitionFiles(files=1)
    assert (purged.files_removed, purged.files_added, purged.deletion_vectors_purged) == (1, 1, 1)
    assert sorted(r["id"] for r in spark.read.format("delta").load(path).collect()) == ["a", "b", "c", "y"]
    # Nothing left to purge: no commit.
    version = delta.version(spark, path)
    assert delta.purge_deletion_vectors(spark, path).files_removed == 0
    assert delta.version(spark, path) == version


# The tables keyed by people: (contract, partitioning, the properties their job declares).
PEOPLE_TABLES = {
    "transactions": (TRANSACTIONS, ["transaction_date"], transaction_etl.SILVER_PROPERTIES),
    "daily_user_totals": (DAILY_USER_TOTALS, ["transaction_date"], transaction_etl.GOLD_PROPERTIES),
    "user_profiles": (USER_PROFILES, [], transaction_etl.PROFILES_PROPERTIES),
    "etl_quarantine": (ETL_QUARANTINE, [], transaction_etl.QUARANTINE_PROPERTIES),
    "events": (EVENTS, ["event_date"], log_analytics.EVENTS_PROPERTIES),
    "log_quarantine": (QUARANTINE, [], log_analytics.QUARANTINE_PROPERTIES),
}
VALUES = {
    StringType: "u1",
    IntegerType: 1,
    LongType: 1,
    DoubleType: 1.0,
    DecimalType: Decimal("1.00"),
    DateType: date(2026, 1, 1),
    TimestampType: datetime(2026, 1, 1, 12),
}


def one_row(spark: SparkSession, schema: StructType):
    """A row of every column (each string column holding the id u1)."""
    return spark.createDataFrame([tuple(VALUES[type(f.dataType)] for f in schema.fields)], schema)


def add_statistics(table: Path) -> list[dict]:
    """The statistics of each add action in the table's log, oldest first, read from its JSON."""
    found = []
    for commit in sorted((table / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            add = json.loads(line).get("add")
            if add and add.get("stats"):
                found.append(json.loads(add["stats"]))
    return found


def columns_with_statistics(stats: dict) -> set[str]:
    return {*stats.get("minValues", {}), *stats.get("maxValues", {}), *stats.get("nullCount", {})}


@pytest.mark.parametrize("name", sorted(PEOPLE_TABLES))
def test_a_table_keyed_by_people_keeps_no_statistics_of_a_personal_column(
    spark: SparkSession, tmp_path: Path, name: str
) -> None:
    schema, partition_by, properties = PEOPLE_TABLES[name]
    wanted = properties[delta.STATS_COLUMNS]
    assert delta.PERSONAL_COLUMNS.isdisjoint(wanted.split(",")) and not set(partition_by) & set(wanted.split(","))
    new, older = tmp_path / "new", tmp_path / "older"
    # A new table, and one an earlier release created without the property, holding a row.
    delta.ensure_table(spark, str(new), schema, partition_by, properties)
    earlier = {k: v for k, v in properties.items() if k != delta.STATS_COLUMNS}
    delta.ensure_table(spark, str(older), schema, partition_by, earlier)
    one_row(spark, schema).write.format("delta").mode("append").save(str(older))
    [old_stats] = add_statistics(older)
    assert "user_id" in columns_with_statistics(old_stats) or "raw_record" in columns_with_statistics(old_stats)

    delta.ensure_table(spark, str(older), schema, partition_by, properties)  # the next run of its job

    for table in (new, older):
        assert delta.table_properties(spark, str(table))[delta.STATS_COLUMNS] == wanted
        one_row(spark, schema).write.format("delta").mode("append").save(str(table))
        written = add_statistics(table)[-1]
        assert written["numRecords"] == 1
        assert columns_with_statistics(written) == set(wanted.split(",")), table


# Tables a job replaces whole (`JobRun.publish`) or by slices (`publish_changes`) that name people.
PUBLISHED_TABLES = {
    "user_activity": USER_ACTIVITY,
    "training_predictions": training_predictions_schema([DEMOGRAPHICS]),
    "scoring_predictions": PREDICTIONS,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_TABLES))
def test_a_published_table_naming_people_keeps_no_statistics_of_them(
    spark: SparkSession, tmp_path: Path, name: str
) -> None:
    schema = PUBLISHED_TABLES[name]
    kept = {f.name for f in schema.fields} - delta.PERSONAL_COLUMNS
    new, older = str(tmp_path / "new"), str(tmp_path / "older")
    # An earlier release's table: Delta's default statistics, the id among them.
    one_row(spark, schema).write.format("delta").save(older)
    assert {"user_id", "customer_id"} & columns_with_statistics(add_statistics(Path(older))[-1])

    for path in (new, older):
        write_table(one_row(spark, schema), path, "delta")  # what JobRun.publish writes with
        assert delta.table_properties(spark, path)[delta.STATS_COLUMNS] == ",".join(
            f.name for f in schema.fields if f.name in kept
        )
        assert columns_with_statistics(add_statistics(Path(path))[-1]) == kept, path
    # A refresh by slices (a MERGE, a replaceWhere) writes into the table as it is.
    delta.keep_people_out_of_statistics(spark, new, schema)
    one_row(spark, schema).write.format("delta").mode("append").save(new)
    assert columns_with_statistics(add_statistics(Path(new))[-1]) == kept
    # The new table got the property in the commit creating it: no add action ever held the id.
    assert all(columns_with_statistics(stats) == kept for stats in add_statistics(Path(new)))


def test_a_published_table_naming_nobody_keeps_delta_default_statistics(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "error_patterns")
    write_table(one_row(spark, ERROR_PATTERNS), path, "delta")
    assert delta.STATS_COLUMNS not in delta.table_properties(spark, path)
    assert columns_with_statistics(add_statistics(Path(path))[-1]) == {f.name for f in ERROR_PATTERNS.fields}
