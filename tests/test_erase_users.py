"""Erasure on a transaction warehouse and a log warehouse built by the real jobs on the golden
fixtures: the users are in no table, every aggregate equals that of a root loaded without their
lines, the report counts what went, and a user who is not there costs nothing but a report of 0.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from common import delta, erasure
from common.tables import read_table
from jobs import erase_users, log_analytics, transaction_etl
from tests.cli import error_line, run_cli
from tests.golden import (
    LOG_ANALYTICS_TABLES,
    LOOSE_GATES,
    TRANSACTION_ETL_TABLES,
    assert_table_equals,
    file_name_only,
    log_analytics_args,
)

pytestmark = pytest.mark.slow

# u1 has a quarantined line that does not parse (a whole token); u4 only JSON values.
WAREHOUSE_USERS = ("u1", "u4")
# x has a line that does not parse and two that do (an array, trailing text).
LOG_USERS = ("alice", "x")
MISSING = "ghost"
WAREHOUSE_TABLES = ("transactions", "daily_user_totals", "user_profiles", "quarantine")


def without_users(source: Path, target: Path, users: tuple[str, ...]) -> Path:
    """A copy of a fixture folder without the lines that mention `users` (as a quoted string: in
    these fixtures, exactly the lines the erasure finds)."""
    target.mkdir(parents=True)
    for path in sorted(source.iterdir()):
        lines = path.read_text().splitlines(keepends=True)
        (target / path.name).write_text("".join(x for x in lines if not any(f'"{u}"' in x for u in users)))
    return target


def load_warehouse(spark: SparkSession, inputs: Path, warehouse: Path) -> None:
    """The golden test's two batches (batch 1's export acknowledged as loaded)."""

    def etl(batch: str, *extra: str) -> None:
        argv = ["--transactions", str(inputs / batch), "--warehouse", str(warehouse), "--batch-id", "b" + batch[-1]]
        transaction_etl.run(spark, transaction_etl.parse_args([*argv, *LOOSE_GATES, *extra]))

    etl("batch1")
    export = warehouse / "redshift"
    shutil.copyfile(export / transaction_etl.EXPORT_RECORD, export / transaction_etl.EXPORT_LOADED)
    etl("batch2", "--profiles", str(inputs / "profiles"))


def erase(spark: SparkSession, root: Path, *users: str) -> dict:
    """Erase `users` (an item starting with `--` and what follows it are options)."""
    options = next((i for i, user in enumerate(users) if user.startswith("--")), len(users))
    argv = ["--root", str(root), *(text for user in users[:options] for text in ("--user-id", user))]
    argv += users[options:]
    return erase_users.run(spark, erase_users.parse_args(argv))


def etl_table(spark: SparkSession, warehouse: Path, name: str) -> DataFrame:
    columns = [f.name for f in TRANSACTION_ETL_TABLES[name][1].fields]
    return file_name_only(read_table(spark, str(warehouse / name), "delta").select(*columns))


def user_rows(spark: SparkSession, path: Path, users: tuple[str, ...], fmt: str = "delta") -> int:
    return read_table(spark, str(path), fmt).filter(F.col("user_id").isin(list(users))).count()


@pytest.fixture(scope="module")
def warehouse(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("erase_warehouse")
    inputs = fixtures / "transaction_etl"
    erased, fresh = base / "erased", base / "fresh"
    load_warehouse(spark, inputs, erased)
    loaded = shutil.copytree(erased, base / "loaded")  # for the purge: a warehouse not erased yet
    before = {
        "transactions": user_rows(spark, erased / "transactions", WAREHOUSE_USERS),
        "user_profiles": user_rows(spark, erased / "user_profiles", WAREHOUSE_USERS),
        "daily_user_totals": user_rows(spark, erased / "daily_user_totals", WAREHOUSE_USERS),
        "quarantine": read_table(spark, str(erased / "quarantine"), "delta").count(),
    }
    report = erase(spark, erased, *WAREHOUSE_USERS, MISSING)
    filtered = base / "filtered"
    for folder in ("batch1", "batch2", "profiles"):
        without_users(inputs / folder, filtered / folder, WAREHOUSE_USERS)
    load_warehouse(spark, filtered, fresh)
    return {"erased": erased, "fresh": fresh, "report": report, "before": before, "loaded": loaded}


@pytest.mark.parametrize("table", sorted(TRANSACTION_ETL_TABLES))
def test_warehouse_tables_equal_a_load_without_the_users(spark: SparkSession, warehouse: dict, table: str) -> None:
    assert_table_equals(etl_table(spark, warehouse["erased"], table), etl_table(spark, warehouse["fresh"], table))


def test_warehouse_holds_the_users_nowhere(spark: SparkSession, warehouse: dict) -> None:
    root = warehouse["erased"]
    for table in ("transactions", "user_profiles", "daily_user_totals"):
        assert user_rows(spark, root / table, WAREHOUSE_USERS) == 0, table
    for table in ("daily_user_totals", "user_profiles"):
        assert user_rows(spark, root / "redshift" / table, WAREHOUSE_USERS, "parquet") == 0, table
    quarantine = read_table(spark, str(root / "quarantine"), "delta")
    assert quarantine.filter(F.col("raw_record").rlike(r"\bu[14]\b")).count() == 0
    # silver deleted with deletion vectors, not by rewriting its dates' files
    layout = delta.file_layout(spark, str(root / "transactions"))
    assert delta.partitions_with_deletion_vectors(layout)


def test_warehouse_report_counts_the_rows_removed(warehouse: dict) -> None:
    report, before = warehouse["report"], warehouse["before"]
    tables = report["tables"]
    assert report["job"] == "erase_users" and report["status"] == "succeeded"
    assert report["metrics"]["root"] == erase_users.TRANSACTION_ROOT
    for name in ("transactions", "user_profiles", "daily_user_totals"):
        assert tables[name]["rows_removed"] == before[name] > 0, name
    quarantine = tables["quarantine"]
    assert quarantine["token"] == 1  # the truncated line of u1
    assert quarantine["json_value"] + quarantine["token"] == quarantine["rows_removed"] > 1
    assert tables["daily_user_totals"]["dates_refreshed"] != "all"
    assert tables["redshift"]["rows_removed"]["user_profiles"] == 2
    # the ids are never in the report: only how many
    assert report["arguments"]["user_ids"] == 3
    assert not any(user in str(report) for user in (*WAREHOUSE_USERS, MISSING))
    written = Path(warehouse["erased"], "erasures", report["run_id"], "run_report.json")
    assert written.is_file()


def test_redshift_sql_deletes_the_users_in_one_transaction(warehouse: dict) -> None:
    sql = (warehouse["erased"] / "redshift" / erase_users.REDSHIFT_SQL).read_text()
    assert sql == (
        "BEGIN;\n"
        "DELETE FROM user_profiles WHERE user_id IN ('ghost', 'u1', 'u4');\n"
        "DELETE FROM daily_user_totals WHERE user_id IN ('ghost', 'u1', 'u4');\n"
        "COMMIT;\n"
    )


def test_a_user_not_there_is_reported_as_0_and_changes_no_table(spark: SparkSession, warehouse: dict) -> None:
    root = warehouse["erased"]
    versions = {name: delta.version(spark, str(root / name)) for name in WAREHOUSE_TABLES}
    report = erase(spark, root, MISSING)
    for name in ("transactions", "user_profiles", "daily_user_totals", "quarantine"):
        assert report["tables"][name]["rows_removed"] == 0, name
    assert report["tables"]["daily_user_totals"]["dates_refreshed"] == []
    assert {name: delta.version(spark, str(root / name)) for name in WAREHOUSE_TABLES} == versions


def mentioning(folder: Path, users: tuple[str, ...]) -> int:
    """Lines of a fixture folder that mention `users` (the rule `without_users` drops by)."""
    lines = [x for path in folder.iterdir() for x in path.read_text().splitlines()]
    return sum(any(f'"{u}"' in x for u in users) for x in lines)


def test_a_reload_after_the_erasure_does_not_bring_the_users_back(
    spark: SparkSession, fixtures: Path, warehouse: dict
) -> None:
    root, inputs = warehouse["erased"], fixtures / "transaction_etl"
    assert user_hashes(spark, root) == {erasure.user_hash(u) for u in (*WAREHOUSE_USERS, MISSING)}
    argv = ["--transactions", str(inputs / "batch2"), "--warehouse", str(root), "--batch-id", "b2"]
    argv += ["--profiles", str(inputs / "profiles"), *LOOSE_GATES]
    report = transaction_etl.run(spark, transaction_etl.parse_args(argv))
    erased = report["metrics"]["erased"]
    assert erased["transactions"] == {"erased_users": 3, "rows_dropped": mentioning(inputs / "batch2", WAREHOUSE_USERS)}
    assert erased["profiles"] == {"erased_users": 3, "rows_dropped": mentioning(inputs / "profiles", WAREHOUSE_USERS)}
    for table in TRANSACTION_ETL_TABLES:
        assert_table_equals(etl_table(spark, root, table), etl_table(spark, warehouse["fresh"], table))


def user_hashes(spark: SparkSession, root: Path) -> set[str]:
    return {
        row[0] for row in read_table(spark, str(root / erasure.ERASED_TABLE), "delta").select("user_hash").collect()
    }


# ── the log warehouse ────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def log_root(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("erase_logs")
    erased, fresh = base / "erased", base / "fresh"
    log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(fixtures, erased)))
    loaded = shutil.copytree(erased, base / "loaded")
    events = user_rows(spark, erased / "events", LOG_USERS)
    report = erase(spark, erased, *LOG_USERS)
    filtered = without_users(
        fixtures / "log_analytics" / "input", base / "filtered" / "log_analytics" / "input", LOG_USERS
    )
    log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(filtered.parent.parent, fresh)))
    return {"erased": erased, "fresh": fresh, "report": report, "events": events, "loaded": loaded}


@pytest.mark.parametrize("table", sorted(LOG_ANALYTICS_TABLES))
def test_log_tables_equal_a_load_without_the_users(spark: SparkSession, log_root: dict, table: str) -> None:
    def stored(root: Path) -> DataFrame:
        return file_name_only(read_table(spark, str(root / table), "delta"))

    assert_table_equals(stored(log_root["erased"]), stored(log_root["fresh"]), approx=True)


def test_log_report_counts_the_rows_removed(log_root: dict) -> None:
    report = log_root["report"]
    tables = report["tables"]
    assert report["metrics"]["root"] == erase_users.LOG_ROOT
    assert tables["events"]["rows_removed"] == log_root["events"] > 0
    assert (tables["quarantine"]["json_value"], tables["quarantine"]["token"]) == (2, 1)
    assert tables["quarantine"]["rows_removed"] == 3
    for name in log_analytics.AGGREGATES:
        assert tables[name]["recomputed"], name
    assert tables["user_activity"]["rows_before"] - tables["user_activity"]["rows_after"] == 1  # alice; x never loaded
    # the root's own report stays the loading run's
    assert '"job": "log_analytics"' in (log_root["erased"] / "run_report.json").read_text()


def test_a_reload_of_the_log_files_does_not_bring_the_users_back(
    spark: SparkSession, fixtures: Path, log_root: dict
) -> None:
    root = log_root["erased"]
    assert user_hashes(spark, root) == {erasure.user_hash(u) for u in LOG_USERS}
    report = log_analytics.run(spark, log_analytics.parse_args(log_analytics_args(fixtures, root, "--reload")))
    dropped = mentioning(fixtures / "log_analytics" / "input", LOG_USERS)
    assert report["metrics"]["erased"]["logs"] == {"erased_users": 2, "rows_dropped": dropped}
    assert report["rows_read"] + dropped == sum(
        len(p.read_text().splitlines()) for p in (fixtures / "log_analytics" / "input").iterdir()
    )
    for table in LOG_ANALYTICS_TABLES:
        erased = file_name_only(read_table(spark, str(root / table), "delta"))
        fresh = file_name_only(read_table(spark, str(log_root["fresh"] / table), "delta"))
        assert_table_equals(erased, fresh, approx=True)


# ── --purge: the deleted rows physically gone ────────────────────────────────────────────


def copy_root(source: Path, target: Path) -> Path:
    """A copy of a root (a Delta log names its files relative to the table)."""
    return shutil.copytree(source, target)


def shorten_windows(spark: SparkSession, root: Path, tables: dict[str, str]) -> None:
    """Every table's time travel window set to 0 hours, so VACUUM may run at 0 hours (how the
    project's tests let VACUUM delete what a test just removed)."""
    for path in tables.values():
        setting = f"'{delta.DELETED_FILE_RETENTION}' = 'interval 0 hours'"
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({setting})")


def held_by(users: tuple[str, ...], columns: list[str]) -> Column:
    """A row of `users`: its user_id is one, or its raw_record holds one (the erasure's rule)."""
    condition = F.lit(False)
    if "user_id" in columns:
        condition = condition | F.col("user_id").isin(list(users))
    if "raw_record" in columns:
        condition = condition | erasure.erased_line([erasure.user_hash(u) for u in users])
    return condition


def files_holding(spark: SparkSession, root: Path, users: tuple[str, ...]) -> dict[str, list[str]]:
    """Per table folder, the Parquet files under it (data and `_change_data`, not the log) that
    hold a row of `users`, each read directly: what time travel or a raw listing still reaches."""
    found: dict[str, list[str]] = {}
    for table in sorted(p for p in root.iterdir() if (p / "_delta_log").is_dir()):
        for file in sorted(table.rglob("*.parquet")):
            if "_delta_log" in file.relative_to(table).parts:
                continue
            rows = spark.read.parquet(str(file))
            if rows.filter(held_by(users, rows.columns)).limit(1).count():
                found.setdefault(table.name, []).append(str(file.relative_to(table)))
    return found


def test_purge_leaves_no_file_holding_a_deleted_row(spark: SparkSession, warehouse: dict, tmp_path: Path) -> None:
    root = copy_root(warehouse["loaded"], tmp_path / "warehouse")
    before = files_holding(spark, root, WAREHOUSE_USERS)
    assert {"transactions", "daily_user_totals", "user_profiles", "quarantine"} <= set(before)
    shorten_windows(spark, root, erase_users.user_tables(spark, erase_users.TRANSACTION_ROOT, str(root)))
    report = erase(spark, root, *WAREHOUSE_USERS, "--purge", "--retain-hours", "0")
    assert files_holding(spark, root, WAREHOUSE_USERS) == {}
    # Erased without --purge: silver's files still hold the rows (marked deleted), and so does the
    # change data its DELETE wrote.
    erased = files_holding(spark, warehouse["erased"], WAREHOUSE_USERS)
    assert any(f.startswith("_change_data") for f in erased["transactions"])
    silver = report["tables"]["transactions"]["purge"]
    assert silver["files_rewritten"] > 0 and silver["deletion_vectors_purged"] > 0
    assert silver["objects_deleted"] > silver["files_rewritten"]
    assert not delta.partitions_with_deletion_vectors(delta.file_layout(spark, str(root / "transactions")))
    # user_profiles has no deletion vectors: its DELETE rewrote the file, VACUUM removed the old one.
    assert report["tables"]["user_profiles"]["purge"]["files_rewritten"] == 0
    assert report["tables"]["user_profiles"]["purge"]["objects_deleted"] > 0
    assert report["metrics"]["purge"]["retain_hours"] == 0
    for table in TRANSACTION_ETL_TABLES:
        assert_table_equals(etl_table(spark, root, table), etl_table(spark, warehouse["erased"], table))


def test_purge_of_a_log_root_leaves_no_file_holding_a_deleted_row(
    spark: SparkSession, log_root: dict, tmp_path: Path
) -> None:
    root = copy_root(log_root["loaded"], tmp_path / "logs")
    assert {"events", "quarantine", "user_activity"} <= set(files_holding(spark, root, LOG_USERS))
    shorten_windows(spark, root, erase_users.user_tables(spark, erase_users.LOG_ROOT, str(root)))
    report = erase(spark, root, *LOG_USERS, "--purge", "--retain-hours", "0")
    assert files_holding(spark, root, LOG_USERS) == {}
    assert report["tables"]["events"]["purge"]["objects_deleted"] > 0
    assert report["tables"]["user_activity"]["purge"]["objects_deleted"] > 0


def test_a_purge_with_a_retention_shorter_than_a_window_changes_nothing(
    spark: SparkSession, warehouse: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_root(warehouse["loaded"], tmp_path / "warehouse")
    versions = {name: delta.version(spark, str(root / name)) for name in WAREHOUSE_TABLES}
    argv = ["--root", str(root), "--user-id", "u1", "--purge", "--retain-hours", "24"]
    code, err = run_cli(erase_users.main, capsys, *argv)
    assert code == 1
    assert error_line(err).startswith("erase_users: error: VACUUM refused: retention of 24 hours for transactions")
    assert {name: delta.version(spark, str(root / name)) for name in WAREHOUSE_TABLES} == versions
    assert not (root / erasure.ERASED_TABLE).exists()


def log_texts(root: Path, tables: tuple[str, ...]) -> dict[str, str]:
    """Each table's Delta log commits (JSON), as text."""
    return {
        name: "".join(p.read_text() for p in sorted((root / name / "_delta_log").glob("*.json"))) for name in tables
    }


def test_the_delta_logs_name_no_erased_id(warehouse: dict, log_root: dict) -> None:
    """No statistics of user_id or raw_record, and the DELETEs' predicates hold hashes."""
    for name, text in log_texts(warehouse["erased"], WAREHOUSE_TABLES).items():
        assert "DELETE" in text or name == "daily_user_totals", name
        assert not re.findall(r"(?<![\w-])u[14](?![\w])", text), name
    for name, text in log_texts(log_root["erased"], ("events", "quarantine")).items():
        assert "DELETE" in text, name
        assert "alice" not in text, name
    # The aggregates keyed by users: written with no statistics of user_id from their first commit.
    assert "alice" not in log_texts(log_root["erased"], ("user_activity",))["user_activity"]
