"""maintain_tables over both kinds of root (issues 34 point 8 and 37, retention): a log warehouse
compacted and vacuumed without its aggregates looking behind; `--retain-days` deleting old rows
of silver, events and the quarantine in tagged commits while the aggregates of those days stay,
through the next ETL and log_analytics runs.

Small hand-made inputs, real Delta, the shared session. Dates are counted back from today:
retention counts back from the day maintenance runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from common import delta
from common.tables import read_table
from jobs import log_analytics, maintain_tables, transaction_etl
from schemas.quarantine import INGESTION_DATE
from tests.golden import LOOSE_GATES

pytestmark = pytest.mark.slow

TODAY = datetime.now(UTC).date()
OLD, RECENT = TODAY - timedelta(days=800), TODAY - timedelta(days=2)
LOG_OPTIONS = (*LOOSE_GATES, "--min-baseline-windows", "2", "--min-window-events", "2")


def log_line(day: date, hour: int, user: str, status: int = 200) -> str:
    ts = f"{day.isoformat()}T{hour:02d}:00:00Z"
    return json.dumps({"timestamp": ts, "user_id": user, "event_type": "page_view", "status_code": status})


def day_lines(day: date) -> list[str]:
    return [log_line(day, 8 + i % 6, f"u{i % 4}", 500 if i % 5 == 0 else 200) for i in range(24)] + ["not json"]


def write(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def load_logs(spark: SparkSession, root: Path, *files: Path, day: date | None = None) -> dict:
    argv = [a for f in files for a in ("--input", str(f))] + ["--output", str(root), *LOG_OPTIONS]
    if day is not None:
        argv += ["--date", day.isoformat()]
    return log_analytics.run(spark, log_analytics.parse_args(argv))


def maintain(root: Path, output: Path, *extra: str) -> tuple[int, list[str], dict]:
    """Exit code, error lines (log lines, JSON, go to stderr too) and the report written."""
    err = io.StringIO()
    # Retention counts back from the day maintenance runs: the test's TODAY, even when the
    # module's runs straddle midnight UTC.
    with contextlib.redirect_stderr(err), pytest.MonkeyPatch.context() as patch:
        patch.setattr(maintain_tables, "today", lambda: TODAY)
        code = maintain_tables.main(["--warehouse", str(root), "--output", str(output), *extra])
    lines = [line for line in err.getvalue().splitlines() if not line.startswith("{")]
    report = output / "run_report.json"
    return code, lines, json.loads(report.read_text()) if report.exists() else {}


def rows(spark: SparkSession, path: Path) -> list[tuple]:
    return sorted(map(tuple, read_table(spark, str(path), "delta").collect()))


def snapshot(spark: SparkSession, root: Path, names: tuple[str, ...]) -> dict[str, list[tuple]]:
    return {name: rows(spark, root / name) for name in names}


LOG_STATE = (log_analytics.EVENTS_TABLE, log_analytics.QUARANTINE_TABLE)


# ── the log warehouse ────────────────────────────────────────────────────────────────────


def test_retain_days_takes_one_value_per_family_and_refuses_the_rest() -> None:
    args = maintain_tables.parse_args(
        ["--warehouse", "w", "--output", "o", "--retain-days", "events=400", "--retain-days", "quarantine=90"]
    )
    assert dict(args.retain_days) == {"events": 400, "quarantine": 90}
    for bad in ("gold=3", "events", "events=0", "events=x"):
        with pytest.raises(argparse.ArgumentTypeError):
            maintain_tables.retain_days(bad)
    with pytest.raises(SystemExit):
        maintain_tables.parse_args(["--warehouse", "w", "--output", "o", "--retain-days", "events=1"] * 2)


def test_maintenance_of_a_log_root_compacts_events_and_leaves_the_aggregates_current(
    spark: SparkSession, tmp_path: Path
) -> None:
    data, root = tmp_path / "in", tmp_path / "logs"
    day = write(data / "a", "day.jsonl", day_lines(RECENT))
    late = write(data / "b", "late.jsonl", [log_line(RECENT, 20, "u9"), log_line(RECENT, 21, "u1", 503)])
    load_logs(spark, root, day)
    load_logs(spark, root, late)  # a second file on the same date
    events = str(root / "events")
    assert delta.max_files_per_partition(spark, events) > 1
    tables = (*LOG_STATE, *log_analytics.AGGREGATES)
    before = snapshot(spark, root, tables)
    ledger_before = rows(spark, root / "loaded_files")
    version = delta.version(spark, events)

    code, err, report = maintain(root, tmp_path / "maint")

    assert (code, err) == (0, [])
    assert report["metrics"]["root"] == "log_warehouse"
    assert report["job"] == "maintain_tables" and report["rows_read"] == len(before["events"])
    assert report["metrics"]["events"]["max_files_per_partition"] == 1
    assert report["metrics"]["events"]["compacted_totals"]["rows"] == len(before["events"])
    assert delta.max_files_per_partition(spark, events) == 1
    assert delta.version(spark, events) > version  # OPTIMIZE and VACUUM committed to events
    assert not delta.data_changed_since(spark, events, version)
    assert snapshot(spark, root, tables) == before

    # The next run with nothing new: the aggregates are not rebuilt, nothing changes.
    again = load_logs(spark, root, day, late)
    assert again["metrics"]["aggregates"]["refreshed"] is False
    assert snapshot(spark, root, tables) == before
    assert rows(spark, root / "loaded_files") == ledger_before


def test_a_correction_of_events_is_still_a_change() -> None:
    assert delta.is_maintenance_metadata(delta.MAINTENANCE_METADATA)
    assert not delta.is_maintenance_metadata(json.dumps({delta.SOURCE_VERSION_KEY: 3}))
    assert not delta.is_maintenance_metadata("not json")
    assert not delta.is_maintenance_metadata(None)


def test_retention_of_a_log_root_deletes_old_events_and_quarantine_and_keeps_their_aggregates(
    spark: SparkSession, tmp_path: Path
) -> None:
    data, root = tmp_path / "in", tmp_path / "logs"
    old = write(data / "old", "old.jsonl", day_lines(OLD))
    recent = write(data / "recent", "recent.jsonl", day_lines(RECENT))
    load_logs(spark, root, old, day=OLD)
    load_logs(spark, root, recent, day=RECENT)
    quarantine = root / "quarantine"
    # A quarantine row of an earlier release: no ingestion date. Kept by retention.
    undated = read_table(spark, str(quarantine), "delta").limit(1).withColumn("raw_record", F.lit("undated"))
    undated = undated.withColumn(INGESTION_DATE, F.lit(None).cast("date"))
    undated.write.format("delta").mode("append").save(str(quarantine))
    aggregates = snapshot(spark, root, log_analytics.AGGREGATES)
    events_before = read_table(spark, str(root / "events"), "delta")
    recent_events = sorted(map(tuple, events_before.filter(F.col("event_date") == RECENT).collect()))
    assert events_before.filter(F.col("event_date") == OLD).count() == 24

    code, err, report = maintain(
        root, tmp_path / "maint", "--retain-days", "events=400", "--retain-days", "quarantine=90"
    )

    assert (code, err) == (0, [])
    retention = report["metrics"]["retention"]
    assert retention["events"]["rows_deleted"] == 24
    assert retention["events"]["kept_from"] == (TODAY - timedelta(days=400)).isoformat()
    assert retention["quarantine"]["rows_deleted"] == 1  # the old day's "not json"
    events = read_table(spark, str(root / "events"), "delta")
    assert events.filter(F.col("event_date") < RECENT).count() == 0
    assert sorted(map(tuple, events.collect())) == recent_events
    kept = {(r["raw_record"], r[INGESTION_DATE]) for r in read_table(spark, str(quarantine), "delta").collect()}
    assert kept == {("not json", RECENT), ("undated", None)}
    # The DELETEs are tagged: no change for the aggregates, which keep the old day.
    last = delta.DeltaTable.forPath(spark, str(root / "events")).history().filter("operation = 'DELETE'").first()
    assert delta.is_maintenance_metadata(last["userMetadata"])
    assert snapshot(spark, root, log_analytics.AGGREGATES) == aggregates
    assert any(r["event_date"] == OLD for r in read_table(spark, str(root / "daily_engagement"), "delta").collect())

    again = load_logs(spark, root, old, recent)
    assert again["metrics"]["aggregates"]["refreshed"] is False
    assert snapshot(spark, root, log_analytics.AGGREGATES) == aggregates
    # A family the root does not have is refused, before anything changes.
    code, err, _ = maintain(root, tmp_path / "maint2", "--retain-days", "silver=30")
    assert code == 1 and err == [
        "maintain_tables: error: --retain-days silver: a log_warehouse has no such table family "
        "(its families: events, quarantine)"
    ]


def test_a_run_loading_a_new_day_keeps_the_aggregates_of_days_retention_removed(
    spark: SparkSession, tmp_path: Path
) -> None:
    data, root = tmp_path / "in", tmp_path / "logs"
    load_logs(spark, root, write(data / "old", "old.jsonl", day_lines(OLD)), day=OLD)
    load_logs(spark, root, write(data / "recent", "recent.jsonl", day_lines(RECENT)), day=RECENT)
    assert maintain(root, tmp_path / "maint", "--retain-days", "events=400")[0] == 0
    old_days = read_table(spark, str(root / "daily_engagement"), "delta").filter(F.col("event_date") == OLD)
    before = sorted(map(tuple, old_days.collect()))
    load_logs(spark, root, write(data / "today", "today.jsonl", day_lines(TODAY)), day=TODAY)
    after = read_table(spark, str(root / "daily_engagement"), "delta").filter(F.col("event_date") == OLD)
    assert sorted(map(tuple, after.collect())) == before


# ── the transaction warehouse ────────────────────────────────────────────────────────────


def transactions(folder: Path, day: date, prefix: str, n: int = 6) -> Path:
    ts = f"{day}T12:00:00Z"
    lines = [
        json.dumps({"transaction_id": f"{prefix}{i}", "user_id": f"u{i % 3}", "timestamp": ts, "amount": "2.50"})
        for i in range(n)
    ]
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_text("\n".join([*lines, "not json"]) + "\n")
    return folder


def etl(spark: SparkSession, batch: Path, warehouse: Path, day: date) -> dict:
    argv = ["--transactions", str(batch), "--warehouse", str(warehouse), "--batch-id", batch.name]
    argv += ["--date", day.isoformat(), *LOOSE_GATES]
    return transaction_etl.run(spark, transaction_etl.parse_args(argv))


def gold_of(spark: SparkSession, warehouse: Path, day: date) -> list[tuple]:
    gold = read_table(spark, str(warehouse / "daily_user_totals"), "delta")
    return sorted(map(tuple, gold.filter(F.col("transaction_date") == day).collect()))


def test_retention_of_a_transaction_warehouse_keeps_gold_through_the_next_batches(
    spark: SparkSession, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse"
    etl(spark, transactions(tmp_path / "old", OLD, "o"), warehouse, OLD)
    etl(spark, transactions(tmp_path / "recent", RECENT, "r"), warehouse, RECENT)
    old_gold = gold_of(spark, warehouse, OLD)
    assert len(old_gold) == 3
    silver = str(warehouse / "transactions")

    code, err, report = maintain(
        warehouse, tmp_path / "maint", "--retain-days", "silver=730", "--retain-days", "quarantine=90"
    )

    assert (code, err) == (0, [])
    assert report["metrics"]["retention"]["silver"]["rows_deleted"] == 6
    assert report["metrics"]["retention"]["quarantine"]["rows_deleted"] == 1
    assert read_table(spark, silver, "delta").filter(F.col("transaction_date") < RECENT).count() == 0
    assert read_table(spark, silver, "delta").count() == 6
    # compaction purged the deletion vectors the DELETE wrote
    assert delta.partitions_with_deletion_vectors(delta.file_layout(spark, silver)) == []
    quarantine = read_table(spark, str(warehouse / "quarantine"), "delta").collect()
    assert [r[INGESTION_DATE] for r in quarantine] == [RECENT]
    assert gold_of(spark, warehouse, OLD) == old_gold
    # Maintenance does not take its own commits for change data gold has not read yet.
    assert maintain_tables.pending_reader(spark, transaction_etl.warehouse_paths(str(warehouse))) is None

    # The next batch refreshes gold for its dates only: the old day is left as it was.
    report = etl(spark, transactions(tmp_path / "next", TODAY, "n"), warehouse, TODAY)
    assert report["metrics"]["reconciliation"]
    assert gold_of(spark, warehouse, OLD) == old_gold
    assert len(gold_of(spark, warehouse, TODAY)) == 3
    code, err, _ = maintain(warehouse, tmp_path / "maint", "--retain-hours", "168")
    assert (code, err) == (0, [])
    assert gold_of(spark, warehouse, OLD) == old_gold


def test_a_rebuild_of_gold_from_silver_keeps_the_days_past_silvers_retention(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silver's change feed unreadable (its log expired, or its change data vacuumed): gold is
    rebuilt from silver, except the days retention deleted from silver, whose totals stay."""
    warehouse = tmp_path / "warehouse"
    etl(spark, transactions(tmp_path / "old", OLD, "o"), warehouse, OLD)
    etl(spark, transactions(tmp_path / "recent", RECENT, "r"), warehouse, RECENT)
    old_gold, recent_gold = gold_of(spark, warehouse, OLD), gold_of(spark, warehouse, RECENT)
    assert maintain(warehouse, tmp_path / "maint", "--retain-days", "silver=730")[0] == 0
    assert delta.retained_from(spark, str(warehouse / "transactions")) == TODAY - timedelta(days=730)

    def unreadable(*args: object) -> list:
        raise AnalysisException(message="[DELTA_CHANGE_DATA_FILE_NOT_FOUND] change data vacuumed")

    monkeypatch.setattr(delta, "changed_values", unreadable)
    report = etl(spark, transactions(tmp_path / "next", TODAY, "n"), warehouse, TODAY)

    refreshed = report["metrics"]["daily_user_totals"]
    assert refreshed["rebuilt_because"].startswith("change feed of silver after version")
    assert refreshed["rebuilt_because"].endswith(
        f"the days before {TODAY - timedelta(days=730)} (past silver's retention) kept"
    )
    assert refreshed["dates_refreshed"] == [str(RECENT), str(TODAY)]
    assert all(report["metrics"]["reconciliation"].values())
    assert gold_of(spark, warehouse, OLD) == old_gold
    assert gold_of(spark, warehouse, RECENT) == recent_gold
    assert len(gold_of(spark, warehouse, TODAY)) == 3
