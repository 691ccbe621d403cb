"""Delta Lake operations an incremental warehouse needs: create, upsert, replace a slice,
find what changed, and publish manifests for engines that cannot read the Delta log.

Every function takes a table path (local or s3://), so jobs need no metastore.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from common.errors import JobError
from common.fs import qualify
from common.sql import in_predicate

# Commit metadata key under which a derived table records the source version it reflects.
SOURCE_VERSION_KEY = "source_version"


def table_exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: StructType,
    partition_by: Sequence[str] = (),
    properties: Mapping[str, str] | None = None,
) -> DeltaTable:
    """The table at `path`, created empty with `schema` if absent.

    Creating before the first load fixes the schema, its NOT NULL columns, the partitioning
    and table properties (e.g. change data feed) from version 0, whatever writes next.
    """
    builder = DeltaTable.createIfNotExists(spark).location(qualify(spark, path)).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    return builder.execute()


def version(spark: SparkSession, path: str) -> int:
    """The table's latest version."""
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


@dataclass(frozen=True)
class MergeMetrics:
    """What one MERGE did to the target, from the Delta log's operation metrics."""

    version: int
    source_rows: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        """Source rows matching a target row that did not need changing (e.g. a rerun)."""
        return self.source_rows - self.inserted - self.updated

    def as_report(self) -> dict[str, int]:
        return {
            "version": self.version,
            "source_rows": self.source_rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


def upsert(
    spark: SparkSession,
    path: str,
    source: DataFrame,
    keys: Sequence[str],
    update_when: str,
) -> MergeMetrics:
    """MERGE `source` into the table at `path` on `keys`: insert new keys, update a matched
    row only when `update_when` holds (SQL over aliases `t` target and `s` source).

    `source` must hold at most one row per key (Delta refuses a MERGE where several source
    rows match one target row). A condition that is false for an identical row makes a
    rerun of the same batch a no-op. Into an empty table, the rows are simply written
    (`first_load`), with the same metrics.
    """
    target = DeltaTable.forPath(spark, path)
    before = version(spark, path)
    if target.detail().select("numFiles").first()[0] == 0:
        return first_load(target, path, source, before)
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    columns = {f"`{c}`": f"s.`{c}`" for c in source.columns}
    (
        target.alias("t")
        .merge(source.alias("s"), on)
        .whenMatchedUpdate(condition=update_when, set=columns)
        .whenNotMatchedInsert(values=columns)
        .execute()
    )
    last = target.history(1).select("version", "operation", "operationMetrics").first()
    if last["version"] == before:
        # Delta skips the commit of a MERGE that changed nothing: every source row matched
        # a row that needed no update.
        return MergeMetrics(version=before, source_rows=source.count(), inserted=0, updated=0)
    if last["operation"] != "MERGE":
        raise JobError(f"expected the MERGE commit at version {last['version']} of {path}, found {last['operation']}")
    metrics = last["operationMetrics"] or {}
    return MergeMetrics(
        version=int(last["version"]),
        source_rows=int(metrics.get("numSourceRows", 0)),
        inserted=int(metrics.get("numTargetRowsInserted", 0)),
        updated=int(metrics.get("numTargetRowsUpdated", 0)),
    )


def first_load(target: DeltaTable, path: str, source: DataFrame, empty_version: int) -> MergeMetrics:
    """Load `source` into the table at `path`, empty at `empty_version`: what a MERGE would do
    (every row an insert), without its join against nothing and its copy of the source.

    An overwrite, not an append, so that no other writer's rows can be doubled: a commit that
    lands while it runs makes Delta refuse it (it read the whole table), and one that landed
    between the emptiness check and its start shows as a read version other than
    `empty_version`, which stops the run naming the version to restore.
    """
    source.write.format("delta").mode("overwrite").save(path)
    last = target.history(1).select("version", "readVersion", "operation", "operationMetrics").first()
    if last["operation"] != "WRITE":
        raise JobError(f"expected the first load at version {last['version']} of {path}, found {last['operation']}")
    if last["readVersion"] != empty_version:
        raise JobError(
            f"another writer committed to {path} during its first load (version {last['readVersion']}, "
            f"expected {empty_version}); its rows are in version {last['readVersion']}: restore it and rerun the batch"
        )
    metrics = last["operationMetrics"] or {}
    rows = int(metrics["numOutputRows"]) if "numOutputRows" in metrics else source.count()
    return MergeMetrics(version=int(last["version"]), source_rows=rows, inserted=rows, updated=0)


def replace_where(
    df: DataFrame,
    path: str,
    condition: str,
    partition_by: Sequence[str] = (),
    source_version: int | None = None,
) -> None:
    """Atomically replace the rows of the table at `path` that match `condition` with `df`
    (creating the table if absent); rows outside `condition` stay as they are.

    `source_version` is stored in the commit's metadata: the version of the table this one is
    derived from, so the next run knows from where to look for changes (`last_source_version`).
    """
    writer = df.write.format("delta").mode("overwrite").option("replaceWhere", condition)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if source_version is not None:
        writer = writer.option("userMetadata", json.dumps({SOURCE_VERSION_KEY: source_version}))
    writer.save(path)


def overwrite(df: DataFrame, path: str, partition_by: Sequence[str] = (), source_version: int | None = None) -> None:
    """Replace the whole table, keeping its schema and NOT NULL constraints, recording
    `source_version` like `replace_where`."""
    writer = df.write.format("delta").mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if source_version is not None:
        writer = writer.option("userMetadata", json.dumps({SOURCE_VERSION_KEY: source_version}))
    writer.save(path)


def last_source_version(spark: SparkSession, path: str) -> int | None:
    """The source version recorded by the latest commit that recorded one, or None."""
    if not table_exists(spark, path):
        return None
    rows = (
        DeltaTable.forPath(spark, path)
        .history()
        .filter(F.col("userMetadata").isNotNull())
        .orderBy(F.col("version").desc())
        .select("userMetadata")
        .collect()
    )
    for row in rows:
        try:
            value = json.loads(row["userMetadata"]).get(SOURCE_VERSION_KEY)
        except (ValueError, AttributeError):
            continue
        if value is not None:
            return int(value)
    return None


def changed_values(spark: SparkSession, path: str, column: str, after_version: int, up_to_version: int) -> list[Any]:
    """Distinct values of `column` on rows inserted, updated (before and after) or deleted in
    versions (after_version, up_to_version], from the change data feed.

    For a partition column this is the set of partitions a derived table must recompute: an
    update moving a row from one date to another touches both dates.
    """
    if up_to_version <= after_version:
        return []
    changes = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", after_version + 1)
        .option("endingVersion", up_to_version)
        .load(path)
    )
    return sorted(row[0] for row in changes.select(column).distinct().collect() if row[0] is not None)


def is_in(column: str, values: Sequence[Any]) -> str:
    """A Spark SQL predicate `column IN (...)` for replaceWhere, with values quoted as literals."""
    return in_predicate(f"`{column}`", values)


def generate_symlink_manifest(spark: SparkSession, path: str) -> None:
    """Write `_symlink_format_manifest/` (one manifest per partition): the list of data files
    of the current version, which Redshift Spectrum, Athena and Presto read instead of the log."""
    DeltaTable.forPath(spark, path).generate("symlink_format_manifest")
