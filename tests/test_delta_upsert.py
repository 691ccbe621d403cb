"""`common.delta.upsert`: a first load into an empty table is a plain write with MERGE's
metrics; every later batch is a MERGE on the keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from common import delta
from common.errors import JobError

pytestmark = pytest.mark.slow

SCHEMA = "id string, day string, value int"
NEWER = "s.value > t.value"


def rows(spark: SparkSession, *items: tuple[str, str, int]) -> DataFrame:
    return spark.createDataFrame(list(items), SCHEMA)


def test_a_first_load_writes_the_batch_and_reports_it_as_inserts(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    state = delta.ensure_table(spark, path, rows(spark).schema, ["day"], {"delta.enableChangeDataFeed": "true"})
    table = DeltaTable.forPath(spark, path)

    metrics = delta.upsert(spark, path, rows(spark, ("a", "d1", 1), ("b", "d2", 2)), ["id"], NEWER, expected=state)

    assert metrics.as_report() == {"version": 1, "source_rows": 2, "inserted": 2, "updated": 0, "unchanged": 0}
    assert table.history(1).first()["operation"] == "WRITE"
    detail = table.detail().select("partitionColumns", "properties").first()
    assert detail["partitionColumns"] == ["day"]
    assert detail["properties"]["delta.enableChangeDataFeed"] == "true"
    assert sorted(tuple(r) for r in spark.read.format("delta").load(path).collect()) == [("a", "d1", 1), ("b", "d2", 2)]


def test_a_later_batch_is_merged_on_the_keys(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    delta.ensure_table(spark, path, rows(spark).schema, ["day"])
    delta.upsert(spark, path, rows(spark, ("a", "d1", 1), ("b", "d2", 2)), ["id"], NEWER)

    metrics = delta.upsert(spark, path, rows(spark, ("a", "d1", 5), ("b", "d2", 0), ("c", "d3", 3)), ["id"], NEWER)

    assert metrics.as_report() == {"version": 2, "source_rows": 3, "inserted": 1, "updated": 1, "unchanged": 1}
    assert DeltaTable.forPath(spark, path).history(1).first()["operation"] == "MERGE"
    stored = sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())
    assert stored == [("a", "d1", 5), ("b", "d2", 2), ("c", "d3", 3)]


def test_a_first_load_that_lost_a_race_stops_instead_of_hiding_the_other_rows(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Another writer commits between the emptiness check (at version 0) and the load: the
    overwrite would replace their rows, so the load stops, naming the version that has them."""
    path = str(tmp_path / "table")
    delta.ensure_table(spark, path, rows(spark).schema, ["day"])
    rows(spark, ("z", "d9", 9)).write.format("delta").mode("append").save(path)

    with pytest.raises(JobError, match=r"another writer committed to .* its rows are in version 1"):
        delta.first_load(DeltaTable.forPath(spark, path), path, rows(spark, ("a", "d1", 1)), empty_version=0)


def test_ensure_table_reports_the_state_a_writer_starts_from(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    assert delta.ensure_table(spark, path, rows(spark).schema, ["day"]) == delta.TableState(version=0, files=0)
    delta.upsert(spark, path, rows(spark, ("a", "d1", 1), ("b", "d2", 2)), ["id"], NEWER)

    # Existing: read from the log, after the commit that adds a property the table lacked.
    state = delta.ensure_table(spark, path, rows(spark).schema, ["day"], {"delta.appendOnly": "false"})
    assert state == delta.TableState(version=2, files=2)
    assert delta.table_properties(spark, path)["delta.appendOnly"] == "false"


def test_an_upsert_from_a_stale_state_stops_before_it_writes(spark: SparkSession, tmp_path: Path) -> None:
    """The state was read, then another writer committed: the MERGE's guarantee (e.g. which
    partitions hold the keys) no longer holds, so nothing is written."""
    path = str(tmp_path / "table")
    state = delta.ensure_table(spark, path, rows(spark).schema, ["day"])
    rows(spark, ("z", "d9", 9)).write.format("delta").mode("append").save(path)

    with pytest.raises(delta.ConcurrentWriteError, match=r"version 1, expected 0"):
        delta.upsert(spark, path, rows(spark, ("a", "d1", 1)), ["id"], NEWER, expected=state)
    assert [tuple(r) for r in spark.read.format("delta").load(path).collect()] == [("z", "d9", 9)]
