"""Delta Lake operations an incremental warehouse needs: create, upsert, replace a slice,
find what changed, publish manifests for engines that cannot read the Delta log, and keep the
tables healthy over many batches (file layout, compaction, VACUUM).

Every function takes a table path (local or s3://), so jobs need no metastore.

File layout: tables get `delta.autoOptimize.optimizeWrite`, so every write (MERGE included)
shuffles its rows by the partition columns and bin-packs each partition into files of about
the target size (`use_target_file_size`), whatever the shuffle partitions: a batch writes, per
partition it touches, about ceil(bytes / target) files. Concurrency: one writer per table at a
time (see `concurrent_writes`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote

from delta import exceptions as delta_exceptions
from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BinaryType, MapType, StructField, StructType

from common.errors import JobError
from common.fs import delete_path, join_path, qualify
from common.spark import session_conf
from common.sql import in_predicate, string_literal
from common.version import __version__

# Commit metadata key under which a derived table records the source version it reflects.
SOURCE_VERSION_KEY = "source_version"

# Table properties of the warehouse's tables.
OPTIMIZE_WRITE = "delta.autoOptimize.optimizeWrite"
# Delta rewrites `_symlink_format_manifest/` of the partitions a commit touched, on every commit
# (incrementally; the first commit after enabling writes it whole), for engines that read a table
# through manifests (Redshift Spectrum). Delta refuses it together with deletion vectors.
SYMLINK_MANIFEST = "delta.compatibility.symlinkFormatManifest.enabled"
MANIFEST_DIR = "_symlink_format_manifest"
# A MERGE, UPDATE or DELETE marks the rows it replaces in a small deletion vector file instead of
# rewriting every data file holding one (copy-on-write): a correction costs the rows it changes,
# not the dates it touches. Readers apply the vectors (Spark, Athena engine 3, delta-rs through
# DataFusion); maintenance purges them (`compact`).
DELETION_VECTORS = "delta.enableDeletionVectors"
CHANGE_DATA_FEED = "delta.enableChangeDataFeed"
# Recorded in every table's properties by `ensure_table`: the digest of the contract (columns,
# types, partitioning) the table was last brought to, and the release that did it.
CONTRACT = "spark_jobs.contract"
CONTRACT_RELEASE = "spark_jobs.release"
# How long files a commit removed stay on storage (VACUUM deletes them after): the time travel
# window. And how long the log keeps commits (cleaned up at checkpoints): the change feed and
# the history reach back at most that far.
DELETED_FILE_RETENTION = "delta.deletedFileRetentionDuration"
LOG_RETENTION = "delta.logRetentionDuration"
DEFAULT_DELETED_FILE_RETENTION = "interval 7 days"
DEFAULT_LOG_RETENTION = "interval 30 days"
# The columns whose per-file min/max (and null counts) the log records for data skipping; Delta's
# default is the first 32. The log keeps each commit's statistics for its retention and a live
# file's in every checkpoint, so a table keyed by people names the columns worth skipping on and
# leaves out those naming a person (an erased id must not survive as a file's min or max:
# docs/privacy.md). Partition columns need none: the log records their values per file.
STATS_COLUMNS = "delta.dataSkippingStatsColumns"
# How many leading columns get statistics when STATS_COLUMNS is unset: 0 for a table whose only
# columns worth skipping on name people.
INDEXED_COLUMNS = "delta.dataSkippingNumIndexedCols"
# Never in a table's statistics: ids of people, and raw lines or request fields that may hold one.
PERSONAL_COLUMNS = frozenset({"user_id", "customer_id", "client_ip", "user_agent", "path", "raw_record"})
# Target size of the files writes and compaction produce, in MiB (EMR users expect 128 MB-1 GB
# files; 128 keeps a day of a few million rows in one or two files).
DEFAULT_TARGET_FILE_MB = 128


def layout_properties(manifest: bool = True) -> dict[str, str]:
    """Properties every warehouse table gets: bounded files on every write, retention windows
    stated in the table (not left to defaults a reader cannot see), and manifests kept current."""
    properties = {
        OPTIMIZE_WRITE: "true",
        DELETED_FILE_RETENTION: DEFAULT_DELETED_FILE_RETENTION,
        LOG_RETENTION: DEFAULT_LOG_RETENTION,
    }
    if manifest:
        properties[SYMLINK_MANIFEST] = "true"
    return properties


def stats_columns(*columns: str) -> dict[str, str]:
    """The `STATS_COLUMNS` property keeping statistics of `columns` only (none personal)."""
    personal = sorted(PERSONAL_COLUMNS.intersection(columns))
    if personal or not columns:
        raise ValueError(f"statistics columns must be some columns and none of {personal}")
    return {STATS_COLUMNS: ",".join(columns)}


def statistics_without_people(schema: StructType, partition_by: Sequence[str] = ()) -> dict[str, str]:
    """The `STATS_COLUMNS` property for a table of rows with `schema` that a job replaces whole
    (an aggregate, predictions): statistics of every column worth skipping on but those naming
    a person (`PERSONAL_COLUMNS`); none when the rows name nobody (Delta's default stays)."""
    names = [f.name for f in schema.fields]
    if not PERSONAL_COLUMNS.intersection(names):
        return {}
    kept = [
        f.name
        for f in schema.fields
        if f.name not in PERSONAL_COLUMNS
        and f.name not in partition_by
        and not isinstance(f.dataType, (ArrayType, MapType, StructType, BinaryType))
    ]
    return stats_columns(*kept) if kept else {INDEXED_COLUMNS: "0"}


def keep_people_out_of_statistics(
    spark: SparkSession, path: str, schema: StructType, partition_by: Sequence[str] = ()
) -> dict[str, str]:
    """Before a job replaces the Delta table at `path` with rows of `schema`: set its statistics
    property (`statistics_without_people`) when it lacks it or names other columns, so the add
    actions of the write hold no min or max of a person's id. Returns the property for a
    table not created yet: the writer passes it as an option (Delta then sets it in the
    commit creating the table, before the files' statistics are collected)."""
    if not statistics_without_people(schema) or not table_exists(spark, path):
        return statistics_without_people(schema, partition_by)
    table = DeltaTable.forPath(spark, path)
    detail = table.detail().select("properties", "partitionColumns").first()
    current = detail["properties"] or {}
    # The columns the table has before this write (a column it gains gets statistics from its
    # next write) and its partitioning (a MERGE or replaceWhere keeps it).
    stored = {f.name for f in table.toDF().schema.fields}
    wanted = statistics_without_people(
        StructType([f for f in schema.fields if f.name in stored]), detail["partitionColumns"]
    )
    missing = {key: value for key, value in wanted.items() if current.get(key) != value}
    if missing:
        settings = ", ".join(f"'{key}' = '{value}'" for key, value in sorted(missing.items()))
        with concurrent_writes(path):
            spark.sql(f"ALTER TABLE delta.`{qualify(spark, path)}` SET TBLPROPERTIES ({settings})")
    return {}


def use_target_file_size(spark: SparkSession, target_mb: int = DEFAULT_TARGET_FILE_MB) -> None:
    """Make optimized writes bin-pack each partition into ~`target_mb` files, and OPTIMIZE
    compact files smaller than that into files of that size.

    The bin size is measured on the shuffled rows (before Parquet's encoding and compression),
    so files come out somewhat smaller than the target, never more numerous than
    ceil(partition bytes / target).
    """
    if target_mb < 1:
        raise ValueError("target file size must be at least 1 MiB")
    spark.conf.set("spark.databricks.delta.optimizeWrite.binSize", str(target_mb))
    spark.conf.set("spark.databricks.delta.optimize.maxFileSize", str(target_mb * 1024 * 1024))
    spark.conf.set("spark.databricks.delta.optimize.minFileSize", str(target_mb * 1024 * 1024))


def files_for(total_bytes: int, target_mb: int = DEFAULT_TARGET_FILE_MB) -> int:
    """How many files of ~`target_mb` hold `total_bytes` (at least one)."""
    return max(1, math.ceil(total_bytes / (target_mb * 1024 * 1024)))


def scanned_bytes(df: DataFrame) -> int:
    """The bytes of the distinct files a (file-based) DataFrame reads, after partition pruning:
    what a rewrite of those rows will roughly occupy."""
    files = df.select(F.col("_metadata.file_path").alias("f"), F.col("_metadata.file_size").alias("s")).distinct()
    return int(files.agg(F.sum("s")).first()[0] or 0)


class ConcurrentWriteError(JobError):
    """Another writer committed to a table this run was writing: the run stops before it looks
    complete; rerunning the same batch converges (each commit is atomic, reruns idempotent)."""


# Delta's commit conflicts, as PySpark raises them (`delta.exceptions` converts the JVM's).
CONFLICTS: tuple[type[Exception], ...] = (
    delta_exceptions.DeltaConcurrentModificationException,
    delta_exceptions.ConcurrentWriteException,
    delta_exceptions.MetadataChangedException,
    delta_exceptions.ProtocolChangedException,
    delta_exceptions.ConcurrentAppendException,
    delta_exceptions.ConcurrentDeleteReadException,
    delta_exceptions.ConcurrentDeleteDeleteException,
    delta_exceptions.ConcurrentTransactionException,
)


def concurrent_write_message(path: str, detail: str) -> str:
    return (
        f"another writer committed to {path} while this run wrote it ({detail}); "
        "one writer per table at a time: rerun this batch once it has finished"
    )


@contextmanager
def concurrent_writes(path: str) -> Iterator[None]:
    """Turn Delta's commit conflict on the table at `path` into one line (`ConcurrentWriteError`).

    Delta detects a conflict only when both writers' commits reach the same log through a log
    store that makes commits atomic across them: on S3 that is one Spark driver at a time
    (S3SingleDriverLogStore, the default), or the DynamoDB log store for several clusters.
    """
    try:
        yield
    except CONFLICTS as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ConcurrentWriteError(concurrent_write_message(path, f"{type(exc).__name__}: {first.strip()}")) from None


def table_exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


@dataclass(frozen=True)
class TableState:
    """Where a table stands before a write: its latest version and how many data files it has
    (none: the write is a first load)."""

    version: int
    files: int


def contract_digest(schema: StructType, partition_by: Sequence[str] = ()) -> str:
    """A short digest of a table's contract: its columns, their types and its partitioning."""
    columns = [(f.name, f.dataType.simpleString()) for f in schema.fields]
    return hashlib.sha256(json.dumps([columns, list(partition_by)]).encode()).hexdigest()[:16]


def columns_to_add(
    name: str, current: StructType, current_partitions: Sequence[str], schema: StructType, partition_by: Sequence[str]
) -> list[StructField]:
    """The contract's columns the table lacks, to be added; a change no added column can make
    (a column dropped or renamed, a type changed, a NOT NULL column added to stored rows, other
    partitioning) is a `JobError` naming the table and the column: it needs a rebuild."""
    wanted = {f.name: f for f in schema.fields}
    stored = {f.name: f for f in current.fields}
    for column in stored:
        if column not in wanted:
            raise JobError(
                f"table {name} has a column {column} its contract does not: a dropped or renamed column needs a rebuild"
            )
        was, becomes = stored[column].dataType.simpleString(), wanted[column].dataType.simpleString()
        if was != becomes:
            raise JobError(
                f"table {name}: column {column} is {was}, its contract says {becomes}: a type change needs a rebuild"
            )
    if list(current_partitions) != list(partition_by):
        raise JobError(
            f"table {name} is partitioned by {list(current_partitions)}, its contract by {list(partition_by)}: "
            "a partitioning change needs a rebuild"
        )
    added = [f for f in schema.fields if f.name not in stored]
    for field in added:
        if not field.nullable:
            raise JobError(
                f"table {name}: column {field.name} is NOT NULL in its contract and cannot be added to stored rows"
            )
    return added


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: StructType,
    partition_by: Sequence[str] = (),
    properties: Mapping[str, str] | None = None,
    retired: Sequence[str] = (),
) -> TableState:
    """The table at `path`, created empty with `schema` if absent, else brought to its contract;
    returns its state, which a writer passes on (`upsert`) instead of reading the log again.

    Creating before the first load fixes the schema, its NOT NULL columns, the partitioning
    and table properties (e.g. change data feed) from version 0, whatever writes next (a
    DataFrame write that creates a table makes every column nullable).

    The one place tables evolve: `schema` (from schemas/) is the truth. A table an earlier
    release wrote gets the nullable columns it lacks (`columns_to_add`; anything else stops the
    run), loses the `retired` properties (retiring the symlink manifest also deletes its
    manifests, which would otherwise name files a reader must no longer read), and gets the
    `properties` it lacks, in that order (Delta accepts deletion vectors only once the manifest
    is off); a value the table has (an owner's longer retention, say) is kept. The contract's
    digest is recorded (`CONTRACT`), so a table already on it costs no schema comparison.
    """
    digest = contract_digest(schema, partition_by)
    properties = {**(properties or {}), CONTRACT: digest, CONTRACT_RELEASE: __version__}
    location = qualify(spark, path)
    if not table_exists(spark, path):
        builder = DeltaTable.createIfNotExists(spark).location(location).addColumns(schema)
        if partition_by:
            builder = builder.partitionedBy(*partition_by)
        for key, value in properties.items():
            builder = builder.property(key, value)
        builder.execute()
        # A writer that created it at the same moment is caught by the commit's read version.
        return TableState(version=0, files=0)
    table = DeltaTable.forPath(spark, path)
    detail = table.detail().select("properties", "numFiles", "partitionColumns").first()
    current = detail["properties"] or {}
    name = path.rstrip("/").rsplit("/", 1)[-1]
    with concurrent_writes(path):
        if current.get(CONTRACT) != digest:
            added = columns_to_add(name, table.toDF().schema, detail["partitionColumns"], schema, partition_by)
            if added:
                columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in added)
                spark.sql(f"ALTER TABLE delta.`{location}` ADD COLUMNS ({columns})")
        unset = sorted(key for key in retired if key in current)
        if unset:
            keys = ", ".join(f"'{key}'" for key in unset)
            spark.sql(f"ALTER TABLE delta.`{location}` UNSET TBLPROPERTIES IF EXISTS ({keys})")
            if SYMLINK_MANIFEST in unset:
                delete_path(spark, join_path(path, MANIFEST_DIR))
        missing = {key: value for key, value in properties.items() if key not in current}
        if current.get(CONTRACT) != digest:
            missing.update({CONTRACT: digest, CONTRACT_RELEASE: __version__})
        if missing:
            settings = ", ".join(f"'{key}' = '{value}'" for key, value in sorted(missing.items()))
            spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ({settings})")
    return TableState(version=version(spark, path), files=int(detail["numFiles"]))


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
    # What it cost: target rows rewritten unchanged (copy-on-write; none on a table with
    # deletion vectors, which marks the replaced rows instead), the deletion vectors it wrote,
    # target files it read after pruning (the commit does not record it: `files_in` counts
    # them), and files it removed and added.
    copied: int = 0
    deletion_vectors_added: int = 0
    files_read: int = 0
    files_removed: int = 0
    files_added: int = 0

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

    def cost(self) -> dict[str, int]:
        """What the MERGE read and rewrote: the figures that must follow the batch, not the table."""
        return {
            "rows_copied": self.copied,
            "deletion_vectors_added": self.deletion_vectors_added,
            "files_read": self.files_read,
            "files_removed": self.files_removed,
            "files_added": self.files_added,
        }


def upsert(
    spark: SparkSession,
    path: str,
    source: DataFrame,
    keys: Sequence[str],
    update_when: str,
    target_filter: str | None = None,
    expected: TableState | None = None,
) -> MergeMetrics:
    """MERGE `source` into the table at `path` on `keys`: insert new keys, update a matched
    row only when `update_when` holds (SQL over aliases `t` target and `s` source).

    `source` must hold at most one row per key (Delta refuses a MERGE where several source
    rows match one target row). A condition that is false for an identical row makes a
    rerun of the same batch a no-op. Into an empty table, the rows are simply written
    (`first_load`), with the same metrics.

    `target_filter` (SQL over `t`, e.g. the partitions that can hold a source key) joins the ON
    condition: Delta then reads and rewrites only the files it selects, so the MERGE costs what
    the batch touches, not the table. The caller guarantees that no stored row of a source key
    lies outside it (else that key would be inserted a second time). `expected`: the table's
    state (`ensure_table`) that guarantee was established on (its file count is then not read
    again); a commit that landed since, before the MERGE or during it, stops the run with
    `ConcurrentWriteError`.
    """
    target = DeltaTable.forPath(spark, path)
    before = version(spark, path)
    if expected is not None and before != expected.version:
        raise ConcurrentWriteError(concurrent_write_message(path, f"version {before}, expected {expected.version}"))
    files = expected.files if expected is not None else file_count(spark, path)
    if files == 0:
        return first_load(target, path, source, before)
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    if target_filter:
        on = f"{on} AND ({target_filter})"
    columns = {f"`{c}`": f"s.`{c}`" for c in source.columns}
    with concurrent_writes(path):
        (
            target.alias("t")
            .merge(source.alias("s"), on)
            .whenMatchedUpdate(condition=update_when, set=columns)
            .whenNotMatchedInsert(values=columns)
            .execute()
        )
    last = target.history(1).select("version", "readVersion", "operation", "operationMetrics").first()
    if last["version"] == before:
        # Delta skips the commit of a MERGE that changed nothing: every source row matched
        # a row that needed no update.
        return MergeMetrics(version=before, source_rows=source.count(), inserted=0, updated=0)
    if last["operation"] != "MERGE":
        raise JobError(f"expected the MERGE commit at version {last['version']} of {path}, found {last['operation']}")
    if last["readVersion"] != before:
        raise ConcurrentWriteError(
            concurrent_write_message(path, f"the MERGE read version {last['readVersion']}, expected {before}")
        )
    metrics = last["operationMetrics"] or {}
    return MergeMetrics(
        version=int(last["version"]),
        source_rows=int(metrics.get("numSourceRows", 0)),
        inserted=int(metrics.get("numTargetRowsInserted", 0)),
        updated=int(metrics.get("numTargetRowsUpdated", 0)),
        copied=int(metrics.get("numTargetRowsCopied", 0)),
        deletion_vectors_added=int(metrics.get("numTargetDeletionVectorsAdded", 0)),
        files_removed=int(metrics.get("numTargetFilesRemoved", 0)),
        files_added=int(metrics.get("numTargetFilesAdded", 0)),
    )


def merge_changes(spark: SparkSession, path: str, changes: DataFrame, keys: Sequence[str], deleted: str) -> None:
    """MERGE rows in their final form into the table at `path` on `keys`: a row whose boolean
    column `deleted` holds deletes its key's row, any other replaces it or is inserted. The
    table's columns are taken from `changes` (its other columns are left out)."""
    columns = DeltaTable.forPath(spark, path).toDF().columns
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    values = {f"`{c}`": f"s.`{c}`" for c in columns}
    with concurrent_writes(path):
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(changes.alias("s"), on)
            .whenMatchedDelete(condition=f"s.`{deleted}`")
            .whenMatchedUpdate(set=values)
            .whenNotMatchedInsert(condition=f"NOT s.`{deleted}`", values=values)
            .execute()
        )


def first_load(target: DeltaTable, path: str, source: DataFrame, empty_version: int) -> MergeMetrics:
    """Load `source` into the table at `path`, empty at `empty_version`: what a MERGE would do
    (every row an insert), without its join against nothing and its copy of the source.

    An overwrite, not an append, so that no other writer's rows can be doubled: a commit that
    lands while it runs makes Delta refuse it (it read the whole table), and one that landed
    between the emptiness check and its start shows as a read version other than
    `empty_version`, which stops the run naming the version to restore.
    """
    with concurrent_writes(path):
        source.write.format("delta").mode("overwrite").save(path)
    last = target.history(1).select("version", "readVersion", "operation", "operationMetrics").first()
    if last["operation"] != "WRITE":
        raise JobError(f"expected the first load at version {last['version']} of {path}, found {last['operation']}")
    if last["readVersion"] != empty_version:
        raise ConcurrentWriteError(
            f"another writer committed to {path} during its first load (version {last['readVersion']}, "
            f"expected {empty_version}); its rows are in version {last['readVersion']}: restore it and rerun the batch"
        )
    metrics = last["operationMetrics"] or {}
    rows = int(metrics["numOutputRows"]) if "numOutputRows" in metrics else source.count()
    files = int(metrics.get("numFiles", 0))
    return MergeMetrics(version=int(last["version"]), source_rows=rows, inserted=rows, updated=0, files_added=files)


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
    with concurrent_writes(path):
        writer.save(path)


def overwrite(df: DataFrame, path: str, partition_by: Sequence[str] = (), source_version: int | None = None) -> None:
    """Replace the whole table, keeping its schema and NOT NULL constraints, recording
    `source_version` like `replace_where`."""
    writer = df.write.format("delta").mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if source_version is not None:
        writer = writer.option("userMetadata", json.dumps({SOURCE_VERSION_KEY: source_version}))
    with concurrent_writes(path):
        writer.save(path)


def delete_rows(spark: SparkSession, path: str, condition: Column, user_metadata: str | None = None) -> int:
    """DELETE the rows of the table at `path` matching `condition`, in one commit; returns how
    many. None matching commits nothing, so a table without such rows keeps its version (and
    its change data feed shows no change). Tables with deletion vectors mark the rows deleted;
    the others rewrite the files holding them. `user_metadata`: recorded in the commit (e.g.
    `MAINTENANCE_METADATA`, which tells readers of the history the DELETE is no correction)."""
    matching = spark.read.format("delta").load(path).filter(condition).count()
    if matching:
        tagged = {USER_METADATA: user_metadata} if user_metadata is not None else {}
        with concurrent_writes(path), session_conf(spark, tagged):
            DeltaTable.forPath(spark, path).delete(condition)
    return matching


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
    versions (after_version, up_to_version], from the change data feed, maintenance commits
    (`maintenance_versions`: a retention DELETE) left out.

    For a partition column this is the set of partitions a derived table must recompute: an
    update moving a row from one date to another touches both dates. Rows a retention DELETE
    removed are no correction: what was derived from them is kept.
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
    skipped = maintenance_versions(spark, path, after_version)
    if skipped:
        changes = changes.filter(~F.col("_commit_version").isin(sorted(skipped)))
    return sorted(row[0] for row in changes.select(column).distinct().collect() if row[0] is not None)


# ── maintenance commits: what readers of a table's history must not take for a change ───

# A commit's user metadata, from this session setting when the writer gives none.
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
# Recorded by a maintain_tables retention DELETE: rows removed because they are older than the
# retention, not corrected; the aggregates derived from them are kept.
MAINTENANCE_KEY = "maintenance"
MAINTENANCE_METADATA = json.dumps({MAINTENANCE_KEY: "retention", "by": "maintain_tables"})
# Commits that rewrite files without changing a row (dataChange=false), only record a VACUUM,
# or only set properties (a retention's `RETAINED_FROM`).
DATA_NEUTRAL_OPERATIONS = ("OPTIMIZE", "REORG", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES")


# Set on a table by a retention DELETE (maintain_tables): the first date it keeps. A table
# derived from it and rebuilt whole (its change feed unreadable) keeps its own rows of the days
# before, as the refreshes between do.
RETAINED_FROM = "spark_jobs.retained_from"


def record_retained_from(spark: SparkSession, path: str, first_kept: date) -> None:
    """Record `first_kept` as the table's `RETAINED_FROM` (a property: it outlives the log's
    commits, which expire, as the change feed does)."""
    with concurrent_writes(path):
        spark.sql(f"ALTER TABLE delta.`{qualify(spark, path)}` SET TBLPROPERTIES ('{RETAINED_FROM}' = '{first_kept}')")


def retained_from(spark: SparkSession, path: str) -> date | None:
    """The first date a retention DELETE kept in the table (`RETAINED_FROM`), None when none ran."""
    value = table_properties(spark, path).get(RETAINED_FROM)
    return date.fromisoformat(value) if value else None


def is_maintenance_metadata(user_metadata: str | None) -> bool:
    """Whether a commit's user metadata is that of a maintenance commit (`MAINTENANCE_METADATA`)."""
    if not user_metadata:
        return False
    try:
        return MAINTENANCE_KEY in json.loads(user_metadata)
    except (ValueError, TypeError):
        return False


def _history_after(spark: SparkSession, path: str, after_version: int) -> list[Any]:
    return (
        DeltaTable.forPath(spark, path)
        .history()
        .filter(F.col("version") > after_version)
        .select("version", "operation", "userMetadata")
        .collect()
    )


def maintenance_versions(spark: SparkSession, path: str, after_version: int) -> set[int]:
    """The versions after `after_version` committed by maintenance with its tag (a retention
    DELETE), from the history the log still holds."""
    return {
        int(row["version"])
        for row in _history_after(spark, path, after_version)
        if is_maintenance_metadata(row["userMetadata"])
    }


def changing_versions(spark: SparkSession, path: str, after_version: int) -> list[int] | None:
    """The versions after `after_version` that changed the table's rows other than by
    maintenance (compaction and purges, `DATA_NEUTRAL_OPERATIONS`; tagged retention DELETEs,
    `MAINTENANCE_METADATA`), in order; None when the log no longer holds every commit since
    then (it cannot tell)."""
    current = version(spark, path)
    rows = _history_after(spark, path, after_version) if current > after_version else []
    if {int(row["version"]) for row in rows} != set(range(after_version + 1, current + 1)):
        return None
    return sorted(
        int(row["version"])
        for row in rows
        if row["operation"] not in DATA_NEUTRAL_OPERATIONS and not is_maintenance_metadata(row["userMetadata"])
    )


def data_changed_since(spark: SparkSession, path: str, since_version: int) -> bool:
    """Whether the table had a commit after `since_version` that changed its rows other than by
    maintenance (`changing_versions`); True when the log cannot tell, or the table is older
    than `since_version` (it was replaced)."""
    if version(spark, path) < since_version:
        return True
    changing = changing_versions(spark, path, since_version)
    return changing is None or bool(changing)


def is_in(column: str, values: Sequence[Any]) -> str:
    """A Spark SQL predicate `column IN (...)` for replaceWhere, with values quoted as literals."""
    return in_predicate(f"`{column}`", values)


# ── maintenance: compaction and VACUUM ──────────────────────────────────────────────────

_INTERVAL = re.compile(r"^\s*(?:interval\s+)?(\d+)\s*(week|day|hour|minute|second)s?\s*$", re.IGNORECASE)
_HOURS_PER_UNIT = {"week": 168.0, "day": 24.0, "hour": 1.0, "minute": 1 / 60, "second": 1 / 3600}


def interval_hours(text: str) -> float:
    """'interval 7 days' (a Delta retention property) -> 168.0."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f"not a retention interval: {text!r} (expected e.g. 'interval 7 days')")
    return int(match[1]) * _HOURS_PER_UNIT[match[2].lower()]


def table_properties(spark: SparkSession, path: str) -> dict[str, str]:
    return dict(DeltaTable.forPath(spark, path).detail().select("properties").first()[0] or {})


def deleted_file_retention_hours(spark: SparkSession, path: str) -> float:
    """The table's time travel window: how long removed files must stay (Delta's default 7 days)."""
    return interval_hours(table_properties(spark, path).get(DELETED_FILE_RETENTION, DEFAULT_DELETED_FILE_RETENTION))


def files_in(spark: SparkSession, path: str, predicate: str | None, at_version: int) -> int:
    """Data files of version `at_version` a scan with partition `predicate` reads (None: all),
    from the log's file list after partition pruning: no data file is opened."""
    df = spark.read.format("delta").option("versionAsOf", at_version).load(path)
    if predicate:
        df = df.where(predicate)
    return len(df.inputFiles())


def file_count(spark: SparkSession, path: str) -> int:
    """Data files in the table's current version."""
    return int(DeltaTable.forPath(spark, path).detail().select("numFiles").first()[0])


@dataclass(frozen=True)
class PartitionFiles:
    """One partition's data files in a table's current version, and how many of them carry a
    deletion vector (rows a MERGE or DELETE replaced, still in the file until purged)."""

    files: int
    with_deletion_vectors: int = 0


def file_layout(spark: SparkSession, path: str) -> dict[str, PartitionFiles]:
    """Per partition directory (relative to the table, e.g. `transaction_date=2024-01-05`; `""`
    when not partitioned), its data files and those with a deletion vector, from the add actions
    of the latest snapshot: no data file is opened, whatever the table's size.

    Delta's Python API has no view of the add actions, so this asks the JVM's DeltaLog (Delta
    3.3's `update(stalenessAcceptable, checkIfUpdatedSinceTs, catalogTableOpt)`).
    """
    jvm = spark._jvm
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, qualify(spark, path))
    snapshot = log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())
    adds = DataFrame(snapshot.allFiles().toDF(), spark)
    rows = (
        adds.select(
            F.regexp_extract("path", r"^(.*)/[^/]*$", 1).alias("directory"),
            F.col("deletionVector").isNotNull().cast("int").alias("vector"),
        )
        .groupBy("directory")
        .agg(F.count("*").alias("files"), F.sum("vector").alias("vectors"))
        .collect()
    )
    return {row["directory"]: PartitionFiles(int(row["files"]), int(row["vectors"] or 0)) for row in rows}


def files_per_partition(spark: SparkSession, path: str) -> dict[str, int]:
    """Data files of the current version per partition directory (`file_layout`)."""
    return {directory: part.files for directory, part in file_layout(spark, path).items()}


def max_files_per_partition(spark: SparkSession, path: str) -> int:
    """The most data files any one partition of the current version has (all files when not
    partitioned), from the log's file list alone."""
    return max(files_per_partition(spark, path).values(), default=0)


HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def partition_predicate(directories: Sequence[str]) -> str | None:
    """A Spark SQL predicate selecting exactly the partitions of the Hive-style `directories`
    (`date=2024-01-05`, `a=1/b=x`), or None for the whole table (not partitioned, or a
    directory that does not name its partition values)."""
    clauses = []
    for directory in directories:
        terms = []
        for segment in directory.split("/"):
            column, equals, value = segment.partition("=")
            if not equals or not column:
                return None
            name = f"`{unquote(column)}`"
            value = unquote(value)
            terms.append(f"{name} IS NULL" if value == HIVE_NULL_PARTITION else f"{name} = {string_literal(value)}")
        clauses.append("(" + " AND ".join(terms) + ")")
    return " OR ".join(clauses) if clauses else None


def commit_timestamp(spark: SparkSession, path: str, at_version: int) -> datetime | None:
    """When version `at_version` was committed (UTC), or None if the log no longer has it."""
    row = (
        DeltaTable.forPath(spark, path)
        .history()
        .filter(F.col("version") == at_version)
        .select(F.unix_timestamp("timestamp").alias("t"))
        .first()
    )
    return None if row is None else datetime.fromtimestamp(row["t"], UTC)


def commits_after(spark: SparkSession, path: str, operations: Sequence[str], after_version: int | None) -> int:
    """How many commits of `operations` the table has after `after_version` (None: all), from
    the history its log still holds."""
    history = DeltaTable.forPath(spark, path).history().filter(F.col("operation").isin(list(operations)))
    if after_version is not None:
        history = history.filter(F.col("version") > after_version)
    return history.count()


@dataclass(frozen=True)
class Compaction:
    files_before: int
    files_after: int
    files_removed: int
    files_added: int
    partitions_optimized: int
    max_files_per_partition: int
    deletion_vectors_purged: int = 0

    def as_report(self) -> dict[str, int]:
        return {
            "files_before": self.files_before,
            "files_after": self.files_after,
            "files_removed": self.files_removed,
            "files_added": self.files_added,
            "partitions_optimized": self.partitions_optimized,
            "max_files_per_partition": self.max_files_per_partition,
            "deletion_vectors_purged": self.deletion_vectors_purged,
        }


def crowded_partitions(layout: Mapping[str, PartitionFiles]) -> list[str]:
    """Partition directories of a `file_layout` holding more than one data file: the ones
    bin-packing can change."""
    return sorted(directory for directory, part in layout.items() if part.files > 1)


def partitions_with_deletion_vectors(layout: Mapping[str, PartitionFiles]) -> list[str]:
    """Partition directories of a `file_layout` with a file carrying a deletion vector."""
    return sorted(directory for directory, part in layout.items() if part.with_deletion_vectors)


def partitions_to_rewrite(layout: Mapping[str, PartitionFiles]) -> list[str]:
    """What `compact` rewrites: partitions with several files or any deletion vector."""
    return sorted({*crowded_partitions(layout), *partitions_with_deletion_vectors(layout)})


def compact(spark: SparkSession, path: str, layout: Mapping[str, PartitionFiles] | None = None) -> Compaction:
    """Rewrite the partitions `partitions_to_rewrite` selects (`layout`: the table's
    `file_layout`, if the caller has it): OPTIMIZE bin-packs each crowded partition's files
    smaller than the target size (`use_target_file_size`) into files of about that size, then
    `REORG ... APPLY (PURGE)` rewrites every file still carrying a deletion vector without the
    rows it marks. Data-neutral commits (`dataChange=false`): the change data feed and its
    readers ignore them, and the files they replace stay for time travel until VACUUM removes
    them after the retention period."""
    layout = file_layout(spark, path) if layout is None else layout
    crowded = crowded_partitions(layout)
    with_vectors = partitions_with_deletion_vectors(layout)
    results = []
    with concurrent_writes(path):
        if crowded:
            builder = DeltaTable.forPath(spark, path).optimize()
            where = partition_predicate(crowded)
            if where:
                builder = builder.where(where)
            results.append(builder.executeCompaction().select("metrics.*").first())
        if with_vectors:
            results.append(_reorg_purge(spark, path, with_vectors))
    return _compaction(spark, path, layout, results, partitions_to_rewrite(layout))


def purge_deletion_vectors(
    spark: SparkSession, path: str, layout: Mapping[str, PartitionFiles] | None = None
) -> Compaction:
    """Only the second half of `compact`: rewrite the files still carrying a deletion vector
    (rows a DELETE or MERGE marked, still in the file) without the rows it marks, in the
    partitions holding one, leaving the others as they are. A table without deletion vectors
    (copy-on-write: its DELETE already rewrote the files) gets no commit."""
    layout = file_layout(spark, path) if layout is None else layout
    with_vectors = partitions_with_deletion_vectors(layout)
    results = []
    if with_vectors:
        with concurrent_writes(path):
            results.append(_reorg_purge(spark, path, with_vectors))
    return _compaction(spark, path, layout, results, with_vectors)


def _reorg_purge(spark: SparkSession, path: str, directories: Sequence[str]) -> Any:
    """`REORG ... APPLY (PURGE)` of the partition `directories`; its metrics row."""
    where = partition_predicate(directories)
    clause = f" WHERE {where}" if where else ""
    return spark.sql(f"REORG TABLE delta.`{qualify(spark, path)}`{clause} APPLY (PURGE)").select("metrics.*").first()


def _compaction(
    spark: SparkSession,
    path: str,
    layout: Mapping[str, PartitionFiles],
    results: Sequence[Any],
    rewritten: Sequence[str],
) -> Compaction:
    """What OPTIMIZE / REORG commits (their metrics `results`) did to a table laid out as `layout`."""
    after = file_layout(spark, path) if results else layout
    return Compaction(
        files_before=sum(part.files for part in layout.values()),
        files_after=sum(part.files for part in after.values()),
        files_removed=sum(int(row["numFilesRemoved"] or 0) for row in results),
        files_added=sum(int(row["numFilesAdded"] or 0) for row in results),
        partitions_optimized=len(rewritten) if results else 0,
        max_files_per_partition=max((part.files for part in after.values()), default=0),
        deletion_vectors_purged=sum(
            int(row["deletionVectorStats"]["numDeletionVectorsRemoved"] or 0)
            for row in results
            if row["deletionVectorStats"] is not None
        ),
    )


def no_compaction(layout: Mapping[str, PartitionFiles]) -> Compaction:
    """What `compact` reports for a table (its `file_layout`) left as it is."""
    files = sum(part.files for part in layout.values())
    return Compaction(files, files, 0, 0, 0, max((part.files for part in layout.values()), default=0))


# LITE finds what to delete in the log's commits since the last VACUUM; FULL lists every file
# under the table, and also deletes files no commit references (those of a failed write).
VACUUM_MODES = ("lite", "full")
VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"
# Delta's error when LITE cannot run: the log no longer reaches back to the last VACUUM.
CANNOT_VACUUM_LITE = "DELTA_CANNOT_VACUUM_LITE"


def vacuum(spark: SparkSession, path: str, retain_hours: float, mode: str = "lite") -> dict[str, Any]:
    """VACUUM: delete files no version younger than `retain_hours` needs (and change data
    older than that). The caller checks the retention first (`vacuum_refusal`).

    LITE falls back to FULL when the log no longer reaches back far enough. VACUUM records
    its start and end in the log (on every file system: Delta's default leaves it off on S3),
    so the files it deleted come from its own metrics, not from listing the table twice.
    """
    if mode not in VACUUM_MODES:
        raise ValueError(f"VACUUM mode must be one of {VACUUM_MODES}, not {mode!r}")
    used = mode
    with session_conf(spark, {VACUUM_LOGGING: "true"}):
        try:
            _vacuum(spark, path, retain_hours, mode)
        except Exception as exc:
            if mode != "lite" or CANNOT_VACUUM_LITE not in str(exc):
                raise
            used = "full"
            _vacuum(spark, path, retain_hours, used)
    # One writer per table: the latest commit is this VACUUM's end, even when it deleted nothing.
    end = DeltaTable.forPath(spark, path).history(1).select("operation", "operationMetrics").first()
    if end["operation"] != "VACUUM END":
        raise JobError(f"VACUUM of {path} left no VACUUM END commit (found {end['operation']}): another writer?")
    return {
        "retain_hours": retain_hours,
        "vacuum_mode": used,
        # Files and emptied directories.
        "objects_deleted": int((end["operationMetrics"] or {}).get("numDeletedFiles") or 0),
    }


def _vacuum(spark: SparkSession, path: str, retain_hours: float, mode: str) -> None:
    with concurrent_writes(path):
        spark.sql(f"VACUUM delta.`{qualify(spark, path)}` {mode.upper()} RETAIN {retain_hours:f} HOURS").collect()


def vacuum_refusal(
    spark: SparkSession,
    path: str,
    name: str,
    retain_hours: float,
    pending_reader: tuple[str, int] | None = None,
    now: datetime | None = None,
) -> str | None:
    """Why VACUUM with `retain_hours` must not run on the table at `path`, or None.

    It must keep the table's time travel window (its `delta.deletedFileRetentionDuration`),
    and the files a reader has not consumed yet: `pending_reader` is (reader name, oldest
    version it still has to read through the change data feed); that version's commit must be
    younger than the retention, else its change data would be deleted.
    """
    window = deleted_file_retention_hours(spark, path)
    if retain_hours < window:
        return (
            f"retention of {retain_hours:g} hours for {name} is shorter than its {DELETED_FILE_RETENTION} "
            f"({window:g} hours): it would delete files of versions inside the table's time travel window"
        )
    if pending_reader is not None:
        reader, needed = pending_reader
        committed = commit_timestamp(spark, path, needed)
        cutoff = (now or datetime.now(UTC)).timestamp() - retain_hours * 3600
        if committed is not None and committed.timestamp() < cutoff:
            return (
                f"retention of {retain_hours:g} hours for {name} would delete the change data of its version "
                f"{needed} (committed {committed.isoformat(timespec='seconds')}) that {reader} has not read yet: "
                "run the job that refreshes it first"
            )
    return None
