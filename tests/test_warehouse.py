"""The warehouse over many batches: bounded file layout, corrections that move dates, table
maintenance (compaction, VACUUM and its refusals, older versions) and a second writer.

Small hand-made batches (JSON lines written here), real Delta, the shared session.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from common import delta
from common.tables import read_table
from jobs import maintain_tables, transaction_etl
from schemas.transactions import TRANSACTIONS

pytestmark = pytest.mark.slow

START = date(2026, 1, 1)


def write_batch(folder: Path, rows: Iterable[tuple[str, str, date, str]]) -> Path:
    """rows: (transaction_id, user_id, day, amount) -> one JSON-lines file."""
    folder.mkdir(parents=True)
    lines = [
        json.dumps({"transaction_id": t, "user_id": u, "timestamp": f"{d.isoformat()}T12:00:00Z", "amount": a})
        for t, u, d, a in rows
    ]
    (folder / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def etl(spark: SparkSession, batch: Path, warehouse: Path, *extra: str) -> dict:
    argv = ["--transactions", str(batch), "--warehouse", str(warehouse), "--batch-id", batch.name, *extra]
    return transaction_etl.run(spark, transaction_etl.parse_args(argv))


def silver(spark: SparkSession, warehouse: Path):
    return read_table(spark, str(warehouse / "transactions"), "delta")


def silver_rows(spark: SparkSession, *rows: tuple[str, str, date, str]):
    """Rows as another writer would put them into silver directly."""
    data = [
        (t, u, datetime(d.year, d.month, d.day, 8), d, Decimal(a), "manual", "other", datetime(2026, 1, 1))
        for t, u, d, a in rows
    ]
    return spark.createDataFrame(data, TRANSACTIONS)


def gold_equals_silver_aggregate(spark: SparkSession, warehouse: Path) -> None:
    expected = transaction_etl.daily_user_totals(silver(spark, warehouse))
    gold = read_table(spark, str(warehouse / "daily_user_totals"), "delta")
    assert sorted(map(tuple, gold.collect())) == sorted(map(tuple, expected.collect()))


def day_total(spark: SparkSession, warehouse: Path, day: date) -> Decimal | None:
    gold = read_table(spark, str(warehouse / "daily_user_totals"), "delta")
    return gold.filter(F.col("transaction_date") == day).agg(F.sum("total_amount")).first()[0]


def test_a_backfill_over_many_dates_writes_one_file_per_date_whatever_the_shuffle_partitions(
    spark: SparkSession, tmp_path: Path
) -> None:
    days = [START + timedelta(days=i) for i in range(90)]
    rows = [(f"t{i}", f"u{i % 7}", days[i % len(days)], f"{i % 50}.25") for i in range(3000)]
    batch = write_batch(tmp_path / "backfill", rows)
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "16")  # 16 files per date without the layout
    try:
        report = etl(spark, batch, tmp_path / "warehouse")
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)

    warehouse = tmp_path / "warehouse"
    for table in ("transactions", "daily_user_totals"):
        assert delta.max_files_per_partition(spark, str(warehouse / table)) == 1, table
        assert delta.file_count(spark, str(warehouse / table)) == len(days), table
    assert report["metrics"]["redshift_export"]["daily_user_totals"]["files"] == 1
    assert silver(spark, warehouse).count() == 3000
    gold_equals_silver_aggregate(spark, warehouse)


def test_corrections_that_move_dates_over_several_batches_keep_one_row_per_id(
    spark: SparkSession, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse"
    d = [START + timedelta(days=i) for i in range(60)]
    etl(spark, write_batch(tmp_path / "b1", [("a", "u1", d[0], "10.00"), ("b", "u1", d[0], "5.00")]), warehouse)
    etl(spark, write_batch(tmp_path / "b2", [("c", "u2", d[40], "7.00")]), warehouse)

    # Batch 3 (day 50) moves `a` from day 0, outside the 30-day correction window, to day 50.
    third = etl(
        spark, write_batch(tmp_path / "b3", [("a", "u1", d[50], "11.00"), ("d", "u2", d[50], "1.00")]), warehouse
    )
    cost = third["metrics"]["merge_transactions_cost"]
    assert cost["dates_outside_window"] == [d[0].isoformat()]
    assert cost["dates_merged"] == 2  # day 50 and day 0 only: day 40 is neither read nor rewritten
    assert (third["metrics"]["merge_transactions"]["inserted"], third["metrics"]["merge_transactions"]["updated"]) == (
        1,
        1,
    )

    # Batch 4 (a later version wins) moves `a` again, to day 55, and `c` to day 41, inside the window.
    etl(spark, write_batch(tmp_path / "b4", [("a", "u1", d[55], "12.00"), ("c", "u2", d[41], "8.00")]), warehouse)

    stored = {r["transaction_id"]: (r["transaction_date"], r["amount"]) for r in silver(spark, warehouse).collect()}
    assert stored == {
        "a": (d[55], Decimal("12.00")),
        "b": (d[0], Decimal("5.00")),
        "c": (d[41], Decimal("8.00")),
        "d": (d[50], Decimal("1.00")),
    }
    gold_equals_silver_aggregate(spark, warehouse)
    assert day_total(spark, warehouse, d[0]) == Decimal("5.00")  # `a` left day 0
    assert day_total(spark, warehouse, d[50]) == Decimal("1.00")  # and day 50 again
    assert day_total(spark, warehouse, d[55]) == Decimal("12.00")
    assert day_total(spark, warehouse, d[40]) is None  # `c` left day 40: its gold rows are gone


@pytest.fixture(scope="module")
def loaded_once(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three daily batches with late rows and a correction: several files on the old dates.
    Loaded once for the module; each test changes a copy (`loaded`)."""
    root = tmp_path_factory.mktemp("loaded")
    warehouse = root / "warehouse"
    d = [START + timedelta(days=i) for i in range(5)]
    etl(spark, write_batch(root / "m1", [(f"x{i}", f"u{i % 3}", d[i % 2], "1.50") for i in range(40)]), warehouse)
    etl(spark, write_batch(root / "m2", [(f"y{i}", "u9", d[i % 3], "2.00") for i in range(30)]), warehouse)
    etl(spark, write_batch(root / "m3", [(f"z{i}", "u8", d[i % 4], "0.25") for i in range(20)]), warehouse)
    return warehouse


@pytest.fixture()
def loaded(loaded_once: Path, tmp_path: Path) -> Path:
    """A copy of the loaded warehouse. Files keep their modification times (Delta's commit
    timestamps, which VACUUM and its refusals compare with the retention)."""
    warehouse = tmp_path / "warehouse"
    shutil.copytree(loaded_once, warehouse)
    return warehouse


def read_version(spark: SparkSession, path: str, version: int) -> list[tuple]:
    """Every row of an older version, read from its files (a count alone Delta answers from
    the log's statistics, without opening a file)."""
    return sorted(map(tuple, spark.read.format("delta").option("versionAsOf", version).load(path).collect()))


def maintain(warehouse: Path, *extra: str) -> tuple[int, list[str]]:
    """Exit code and the error lines (log lines, JSON, go to stderr too)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        argv = ["--warehouse", str(warehouse), "--output", str(warehouse.parent / "maint"), *extra]
        code = maintain_tables.main(argv)
    return code, [line for line in err.getvalue().splitlines() if not line.startswith("{")]


def test_maintenance_compacts_every_date_and_keeps_every_row_total_and_older_version(
    spark: SparkSession, loaded: Path
) -> None:
    path = str(loaded / "transactions")
    assert delta.max_files_per_partition(spark, path) > 1
    before = sorted(map(tuple, silver(spark, loaded).collect()))
    old_version = delta.version(spark, path) - 1
    old_rows = read_version(spark, path, old_version)

    assert maintain(loaded) == (0, [])

    assert delta.max_files_per_partition(spark, path) == 1
    assert delta.max_files_per_partition(spark, str(loaded / "daily_user_totals")) == 1
    assert sorted(map(tuple, silver(spark, loaded).collect())) == before
    gold_equals_silver_aggregate(spark, loaded)
    report = json.loads((loaded.parent / "maint" / "run_report.json").read_text())
    assert report["metrics"]["transactions"]["rows"] == 90
    # Only the dates holding several files were read, and their rows and sums checked: the
    # fourth date got one file (5 rows of the third batch).
    assert report["metrics"]["transactions"]["compacted_totals"] == {"partitions": 3, "rows": 85, "amount": "123.75"}
    assert report["metrics"]["transactions"]["vacuum_mode"] == "lite"
    assert report["metrics"]["quarantine"]["compacted_totals"] == {}  # no partition with two files: not read
    assert report["metrics"]["transactions"]["files_removed"] > report["metrics"]["transactions"]["files_added"]
    # Within the retention (7 days by default), VACUUM keeps what older versions read.
    assert read_version(spark, path, old_version) == old_rows
    # The ETL's own completion marker is untouched.
    assert (loaded / "run_report.json").exists()

    # Not due again until --every-batches batches changed silver.
    version = delta.version(spark, path)
    assert maintain(loaded, "--every-batches", "2") == (0, [])
    assert delta.version(spark, path) == version
    assert json.loads((loaded.parent / "maint" / "run_report.json").read_text())["metrics"]["schedule"]["due"] is False


def test_partition_predicate_selects_exactly_the_directories_it_names() -> None:
    assert delta.partition_predicate(["d=2026-01-01", "d=2026-01-03"]) == "(`d` = '2026-01-01') OR (`d` = '2026-01-03')"
    # Hive's escapes and its null partition; a quote in a value stays inside the literal.
    assert delta.partition_predicate(["a=x%3Ay/b=__HIVE_DEFAULT_PARTITION__", "a=o'k/b=1"]) == (
        "(`a` = 'x:y' AND `b` IS NULL) OR (`a` = 'o''k' AND `b` = '1')"
    )
    # Not partitioned (files at the root), or a directory that names no value: the whole table.
    assert delta.partition_predicate([""]) is None
    assert delta.partition_predicate(["d=1", "misc"]) is None


def test_vacuum_lite_reads_the_log_full_lists_the_table_and_lite_falls_back_when_the_log_was_cleaned(
    spark: SparkSession, loaded: Path
) -> None:
    table = loaded / "transactions"
    path = str(table)
    # A file no commit names, as a failed write leaves behind, older than the retention.
    orphan = table / f"transaction_date={START.isoformat()}" / "part-orphan.snappy.parquet"
    orphan.write_bytes(b"left by a failed write")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(orphan, (ten_days_ago, ten_days_ago))

    assert delta.vacuum(spark, path, 168) == {"retain_hours": 168, "vacuum_mode": "lite", "objects_deleted": 0}
    assert orphan.exists()  # LITE only deletes files the log says a commit removed
    assert delta.vacuum(spark, path, 168, "full") == {"retain_hours": 168, "vacuum_mode": "full", "objects_deleted": 1}
    assert not orphan.exists()
    # Nothing left to delete: this run's count, not the previous VACUUM's.
    assert delta.vacuum(spark, path, 168)["objects_deleted"] == 0

    # The log no longer starts at version 0 (cleaned up behind a checkpoint): LITE cannot tell
    # what earlier commits removed, so the run lists the table instead, and says so.
    for setting in (f"'{delta.DELETED_FILE_RETENTION}' = 'interval 0 hours'", "'delta.checkpointInterval' = '1'"):
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({setting})")
    (table / "_delta_log" / f"{0:020d}.json").unlink()
    assert delta.vacuum(spark, path, 0)["vacuum_mode"] == "full"
    assert silver(spark, loaded).count() == 90


def test_vacuum_refuses_a_retention_that_breaks_time_travel_or_the_gold_refresh(
    spark: SparkSession, loaded: Path, tmp_path: Path
) -> None:
    path = str(loaded / "transactions")
    version = delta.version(spark, path)

    code, err = maintain(loaded, "--retain-hours", "24")
    assert code == 1 and len(err) == 1
    assert err[0].startswith("maintain_tables: error: VACUUM refused: retention of 24 hours for transactions is")
    assert delta.version(spark, path) == version  # nothing compacted either

    # Time travel window of 0 hours on every table; then silver changes without a gold refresh.
    for table in ("transactions", "daily_user_totals", "quarantine"):
        setting = f"'{delta.DELETED_FILE_RETENTION}' = 'interval 0 hours'"
        spark.sql(f"ALTER TABLE delta.`{loaded / table}` SET TBLPROPERTIES ({setting})")
    late = silver_rows(spark, ("w1", "u1", START, "3.00"))
    delta.upsert(spark, path, late, ["transaction_id"], transaction_etl.newer_transaction_condition())

    code, err = maintain(loaded, "--retain-hours", "0")
    assert code == 1 and len(err) == 1
    assert "that daily_user_totals has not read yet" in err[0]

    # The next ETL run catches gold up; then VACUUM may go down to the window, and versions
    # older than it are gone, as documented.
    old = delta.version(spark, path) - 2
    etl(spark, write_batch(tmp_path / "m4", [("v1", "u1", START, "1.00")]), loaded, "--correction-window-days", "0")
    gold_equals_silver_aggregate(spark, loaded)
    assert maintain(loaded, "--retain-hours", "0") == (0, [])
    gold_equals_silver_aggregate(spark, loaded)
    with pytest.raises(Exception, match=r"(?i)not exist|FileNotFound|not found"):
        read_version(spark, path, old)


def test_a_second_writer_racing_a_batch_stops_it_with_one_line_and_a_rerun_converges(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    warehouse = tmp_path / "warehouse"
    etl(spark, write_batch(tmp_path / "r1", [("a", "u1", START, "1.00"), ("b", "u2", START, "2.00")]), warehouse)
    path = str(warehouse / "transactions")
    racing = write_batch(tmp_path / "r2", [("a", "u1", START + timedelta(days=1), "1.50"), ("c", "u3", START, "4.00")])
    real_scope = transaction_etl.merge_scope

    def scope_then_another_writer(*args, **kwargs):
        scope = real_scope(*args, **kwargs)
        # Another writer commits to silver after this run looked up where its ids are stored.
        other = silver_rows(spark, ("e", "u5", START, "9.00"))
        delta.upsert(spark, path, other, ["transaction_id"], transaction_etl.newer_transaction_condition())
        return scope

    monkeypatch.setattr(transaction_etl, "merge_scope", scope_then_another_writer)
    argv = ["--transactions", str(racing), "--warehouse", str(warehouse), "--batch-id", "r2"]
    assert transaction_etl.main(argv) == 1
    [err] = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]
    assert err.startswith(f"transaction_etl: error: another writer committed to {path}")
    assert not (warehouse / "run_report.json").exists()
    ids = sorted(r[0] for r in silver(spark, warehouse).select("transaction_id").collect())
    assert ids == ["a", "b", "e"]  # the other writer's commit, none of the racing batch

    monkeypatch.setattr(transaction_etl, "merge_scope", real_scope)
    assert transaction_etl.main(argv) == 0
    assert (warehouse / "run_report.json").exists()
    stored = {r["transaction_id"]: r["transaction_date"] for r in silver(spark, warehouse).collect()}
    assert stored == {"a": START + timedelta(days=1), "b": START, "c": START, "e": START}
    gold_equals_silver_aggregate(spark, warehouse)


def test_a_correction_marks_the_rows_it_replaces_and_maintenance_purges_the_marks(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Silver has deletion vectors: a MERGE writes the corrected rows and marks the versions they
    replace, copying no unchanged row of their dates; maintenance then rewrites those dates."""
    warehouse = tmp_path / "warehouse"
    d = [START + timedelta(days=i) for i in range(3)]
    etl(spark, write_batch(tmp_path / "b1", [(f"t{i}", f"u{i % 4}", d[i % 3], "3.00") for i in range(60)]), warehouse)
    # t0 corrected on its day, t1 moved from day 1 to day 2, t100 new.
    corrections = [("t0", "u0", d[0], "4.00"), ("t1", "u1", d[2], "5.00"), ("t100", "u9", d[2], "6.00")]
    report = etl(spark, write_batch(tmp_path / "b2", corrections), warehouse)

    merged, cost = report["metrics"]["merge_transactions"], report["metrics"]["merge_transactions_cost"]
    assert (merged["inserted"], merged["updated"]) == (1, 2)
    assert cost["rows_copied"] == 0 <= merged["updated"]
    assert cost["deletion_vectors_added"] == 2  # the files of day 0 and day 1
    assert cost["files_removed"] == 0
    path = str(warehouse / "transactions")
    assert delta.partitions_with_deletion_vectors(delta.file_layout(spark, path)) == [
        f"transaction_date={d[0]}",
        f"transaction_date={d[1]}",
    ]
    gold_equals_silver_aggregate(spark, warehouse)
    before = sorted(map(tuple, silver(spark, warehouse).collect()))
    assert len(before) == 61

    assert maintain(warehouse) == (0, [])

    layout = delta.file_layout(spark, path)
    assert all(part == delta.PartitionFiles(files=1) for part in layout.values()), layout
    assert sorted(map(tuple, silver(spark, warehouse).collect())) == before
    metrics = json.loads((warehouse.parent / "maint" / "run_report.json").read_text())["metrics"]["transactions"]
    assert metrics["deletion_vectors_purged"] == 2
    assert metrics["compacted_totals"] == {"partitions": 3, "rows": 61, "amount": "189.00"}


def test_a_silver_table_of_the_previous_release_moves_to_deletion_vectors_on_the_next_run(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silver as the previous release wrote it (symlink manifest, copy-on-write, no contract
    recorded): the next ETL run retires the manifest, enables deletion vectors and merges
    without copying."""
    warehouse = tmp_path / "warehouse"
    d = [START + timedelta(days=i) for i in range(2)]
    previous = {delta.CHANGE_DATA_FEED: "true", **delta.layout_properties(manifest=True)}
    with monkeypatch.context() as patched:
        patched.setattr(transaction_etl, "SILVER_PROPERTIES", previous)
        patched.setattr(transaction_etl, "SILVER_RETIRED", ())
        etl(spark, write_batch(tmp_path / "b1", [(f"t{i}", "u1", d[i % 2], "1.00") for i in range(10)]), warehouse)
    path = str(warehouse / "transactions")
    spark.sql(f"ALTER TABLE delta.`{path}` UNSET TBLPROPERTIES ('{delta.CONTRACT}', '{delta.CONTRACT_RELEASE}')")
    assert (warehouse / "transactions" / delta.MANIFEST_DIR).is_dir()

    report = etl(spark, write_batch(tmp_path / "b2", [("t0", "u1", d[0], "2.00")]), warehouse)

    properties = delta.table_properties(spark, path)
    assert properties[delta.DELETION_VECTORS] == "true" and delta.SYMLINK_MANIFEST not in properties
    assert properties[delta.CONTRACT] == delta.contract_digest(TRANSACTIONS, ["transaction_date"])
    assert not (warehouse / "transactions" / delta.MANIFEST_DIR).exists()
    assert (warehouse / "daily_user_totals" / delta.MANIFEST_DIR).is_dir()  # gold keeps its manifest
    assert report["metrics"]["merge_transactions"]["updated"] == 1
    assert report["metrics"]["merge_transactions_cost"]["rows_copied"] == 0
    gold_equals_silver_aggregate(spark, warehouse)


def test_an_export_never_acknowledged_as_loaded_is_carried_into_the_next_one(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A skipped or failed Redshift load loses no day: the next export holds its dates too,
    until the pipeline acknowledges a load (it copies export.json to loaded.json)."""
    warehouse = tmp_path / "warehouse"
    export = warehouse / "redshift"
    d = [START + timedelta(days=i) for i in range(3)]

    def exported_dates() -> list[date]:
        rows = spark.read.parquet(str(export / "daily_user_totals")).select("transaction_date").distinct()
        return sorted(r[0] for r in rows.collect())

    etl(spark, write_batch(tmp_path / "b1", [("a", "u1", d[0], "1.00")]), warehouse)
    assert exported_dates() == [d[0]]
    # The load of b1 never ran: b2's export still holds day 0.
    second = etl(spark, write_batch(tmp_path / "b2", [("b", "u1", d[1], "2.00")]), warehouse)
    assert exported_dates() == [d[0], d[1]]
    # The first load rebuilt gold whole, so its export held every date: carried whole.
    assert second["metrics"]["redshift_export"]["daily_user_totals"]["carried_over"] == "all"
    assert "DELETE FROM daily_user_totals WHERE TRUE" in (export / "load_daily_user_totals.sql").read_text()

    shutil.copyfile(export / "export.json", export / "loaded.json")  # what the pipeline does after a load
    etl(spark, write_batch(tmp_path / "b3", [("c", "u1", d[2], "3.00")]), warehouse)
    assert exported_dates() == [d[2]]
    # That load never ran either: the next export holds day 2 and its own day 1 correction.
    fourth = etl(spark, write_batch(tmp_path / "b4", [("b", "u1", d[1], "4.00")]), warehouse)
    assert exported_dates() == [d[1], d[2]]
    assert fourth["metrics"]["redshift_export"]["daily_user_totals"]["carried_over"] == [str(d[2])]
    assert f"'{d[1]}', '{d[2]}'" in (export / "load_daily_user_totals.sql").read_text()

    shutil.copyfile(export / "export.json", export / "loaded.json")
    fifth = etl(spark, write_batch(tmp_path / "b5", [("e", "u1", d[0], "5.00")]), warehouse)
    assert exported_dates() == [d[0]]
    assert fifth["metrics"]["redshift_export"]["daily_user_totals"]["carried_over"] == []
    record = json.loads((export / "export.json").read_text())
    assert record["daily_user_totals"] == [str(d[0])] and record["export_id"] == fifth["run_id"]
