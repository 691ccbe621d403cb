"""The log warehouse's contract (docs/jobs/log_analytics.md, "The warehouse"): after any sequence
of runs into one root (daily batches, a late file, a rerun, a re-delivered file, a killed run
and its rerun) every table equals what one run over the same files gives on an empty root.

The batches are three days of a small site plus a late file for the first day. The late file
moves a user's first day earlier (zoe: new on day 1, no longer on day 2) and adds error-heavy
windows to day 1 that fall into the baselines of day 2's first windows.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common import ledger
from common.fs import FileStatus, canonical_uri
from common.tables import read_table
from jobs import erase_users, log_analytics
from schemas.catalog import OUTPUT_TABLES
from tests.cli import error_line
from tests.golden import LOOSE_GATES, assert_table_equals, file_name_only

pytestmark = pytest.mark.slow

# Hourly windows of at least 2 events, each scored against the windows of the day before it
# once that holds 3; small enough for this data to yield anomalies that late data moves.
# Its days hold a bad line or two in twenty (late files: one in five), passed explicitly.
# One processing day for every run, as a daily pipeline passes it: the quarantine's ingestion
# date is the run's day, and the runs a test compares must not straddle midnight UTC.
OPTIONS = (
    *LOOSE_GATES,
    "--date",
    "2026-11-30",
    "--window-minutes",
    "60",
    "--min-window-events",
    "2",
    "--baseline-days",
    "1",
    "--min-baseline-windows",
    "3",
    "--z-threshold",
    "2",
)
LEDGER_COLUMNS = ("file", "size", "status", "event_dates", "rows_read", "rows_valid", "rows_quarantined")
USERS = ("ann", "ben", "cat", "dan")


def line(day: int, hh: int, mm: int, user: str, status: int = 200, event: str = "page_view") -> str:
    return json.dumps(
        {
            "timestamp": f"2026-11-{day:02d}T{hh:02d}:{mm:02d}:00Z",
            "user_id": user,
            "event_type": event,
            "status_code": status,
        }
    )


def day_lines(day: int, errors_at: int) -> list[str]:
    """Hours 8-13 of a day, three events an hour; the hour `errors_at` fails twice."""
    lines = []
    for hour in range(8, 14):
        for i in range(3):
            status = 500 if hour == errors_at and i < 2 else 200
            lines.append(
                line(day, hour, 10 * i, USERS[(hour + i + day) % 4], status, "search" if i == 2 else "page_view")
            )
    return lines


DAY1 = [*day_lines(1, 11), "not json", line(1, 9, 5, "ann", 404)]
DAY2 = [*day_lines(2, 9), line(2, 10, 30, "zoe"), '{"timestamp": "2026-11-02", "user_id": "x"}']
DAY3 = [*day_lines(3, 12), line(3, 8, 45, "zoe", 503)]
# Late for day 1: zoe's real first day, and two error-heavy evening windows.
LATE1 = [line(1, 20, 0, "zoe"), line(1, 20, 5, "ann", 500), line(1, 21, 0, "ben", 502), line(1, 21, 1, "cat", 500), ""]
# Day 2 delivered again with other content: one event gone, one error added.
DAY2_AGAIN = [*DAY2[1:], line(2, 13, 59, "dan", 500)]


def write(folder: Path, name: str, lines: list[str], mtime: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def run(spark: SparkSession, output: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> dict:
    args = [a for path in inputs for a in ("--input", str(path))]
    return log_analytics.run(spark, log_analytics.parse_args([*args, "--output", str(output), *OPTIONS, *extra]))


def table(spark: SparkSession, output: Path, name: str) -> DataFrame:
    df = read_table(spark, str(output / name), "delta")
    if name == "loaded_files":
        return df.select(*LEDGER_COLUMNS)
    return df


def assert_same_warehouse(spark: SparkSession, actual: Path, expected: Path) -> None:
    """Every table of `actual` equals that of `expected` (the ledger: what it says of each file)."""
    for name in sorted(OUTPUT_TABLES["log_analytics"]):
        assert_table_equals(table(spark, actual, name), table(spark, expected, name), approx=True)


def one_run(spark: SparkSession, root: Path, *files: Path) -> Path:
    """One run over `files` into an empty root: what every sequence of runs must equal."""
    run(spark, root, *files)
    return root


def test_daily_batches_late_file_rerun_and_redelivery_equal_one_run(spark: SparkSession, tmp_path: Path) -> None:
    data, root = tmp_path / "in", tmp_path / "warehouse"
    day1, day2 = write(data / "d1", "day1.jsonl", DAY1), write(data / "d2", "day2.jsonl", DAY2, mtime=1_700_000_000)
    day3, late1 = write(data / "d3", "day3.jsonl", DAY3), write(data / "late", "day1-late.jsonl", LATE1)

    run(spark, root, day1)
    run(spark, root, day2)
    before_late = {r.event_date: r.new_users for r in table(spark, root, "daily_engagement").collect()}
    before_scores = {r.window_start: r.robust_z_score for r in table(spark, root, "anomalies").collect()}
    third = run(spark, root, data / "d3", late1)  # a day's prefix plus a late file
    assert third["metrics"]["files"] | {"new": 2, "skipped": 0} == third["metrics"]["files"]
    engagement = {r.event_date: r.new_users for r in table(spark, root, "daily_engagement").collect()}
    # zoe, first seen on day 2, turned out to be new on day 1: both days corrected
    first, second = sorted(engagement)[:2]
    assert (engagement[first], engagement[second]) == (before_late[first] + 1, before_late[second] - 1)
    # the late day-1 windows entered the baselines of day 2's windows: their scores moved
    scores = {r.window_start: r.robust_z_score for r in table(spark, root, "anomalies").collect()}
    assert scores != before_scores

    rerun = run(spark, root, day3, late1)
    assert (rerun["rows_read"], rerun["metrics"]["files"]["skipped"]) == (0, 2)

    write(data / "d2", "day2.jsonl", DAY2_AGAIN, mtime=1_700_086_400)  # re-delivered
    again = run(spark, root, day2)
    assert again["metrics"]["files"]["changed"] == 1
    quarantined = table(spark, root, "quarantine").filter(F.col("source_file").endswith("day2.jsonl")).count()
    assert quarantined == 1  # replaced, not added to: the earlier delivery's bad line is gone

    assert_same_warehouse(spark, root, one_run(spark, tmp_path / "one", day1, day2, day3, late1))


def rows_where(spark: SparkSession, output: Path, name: str, keep) -> list:
    return sorted(r for r in table(spark, output, name).collect() if keep(r))


def last_commit(spark: SparkSession, output: Path, name: str) -> dict:
    row = DeltaTable.forPath(spark, str(output / name)).history(1).select("operation", "operationMetrics").first()
    return {"operation": row["operation"], **(row["operationMetrics"] or {})}


def test_a_late_file_for_an_old_day_rewrites_only_that_day_and_what_it_reaches(
    spark: SparkSession, tmp_path: Path
) -> None:
    data, root = tmp_path / "in", tmp_path / "warehouse"
    days = [write(data / f"d{n}", f"day{n}.jsonl", lines) for n, lines in ((1, DAY1), (2, DAY2), (3, DAY3))]
    late1 = write(data / "late", "day1-late.jsonl", LATE1)
    for day in days:
        run(spark, root, day)
    day1, day3 = date(2026, 11, 1), date(2026, 11, 3)

    def on_day(column: str, *wanted: date):
        return lambda r: (r[column].date() if isinstance(r[column], datetime) else r[column]) in wanted

    def elsewhere(column: str, *changed: date):
        return lambda r: not on_day(column, *changed)(r)

    kept = {
        "error_patterns": elsewhere("event_date", day1),
        "activity_windows": elsewhere("window_start", day1),
        # zoe's first day moves from day 2 to day 1: both days' new users change
        "daily_engagement": on_day("event_date", day3),
        # --baseline-days 1: day 1's windows reach the baselines of day 2's, not day 3's
        "anomalies": on_day("window_start", day3),
    }
    before = {name: rows_where(spark, root, name, keep) for name, keep in kept.items()}
    report = run(spark, root, late1)
    assert (
        report["metrics"]["aggregates"] | {"scope": "batch", "dates": ["2026-11-01"]} == report["metrics"]["aggregates"]
    )
    assert {name: rows_where(spark, root, name, keep) for name, keep in kept.items()} == before
    # each table's commit wrote the rows of what changed, not the table
    patterns = table(spark, root, "error_patterns")
    assert (
        int(last_commit(spark, root, "error_patterns")["numOutputRows"])
        == patterns.filter(F.col("event_date") == day1).count()
        < patterns.count()
    )
    windows = table(spark, root, "activity_windows")
    assert (
        int(last_commit(spark, root, "activity_windows")["numOutputRows"])
        == windows.filter(F.to_date("window_start") == day1).count()
        < windows.count()
    )
    merged = last_commit(spark, root, "user_activity")
    assert merged["operation"] == "MERGE" and int(merged["numSourceRows"]) == 4  # zoe, ann, ben, cat
    assert_same_warehouse(spark, root, one_run(spark, tmp_path / "one", *days, late1))


def test_after_an_erasure_a_new_day_refreshes_only_its_batch(spark: SparkSession, tmp_path: Path) -> None:
    """erase_users recomputes every aggregate and records the events version they reflect: the
    next loading run is no full rebuild, and the root still equals one run over every file
    without the erased user's lines."""
    data, clean, root = tmp_path / "in", tmp_path / "clean", tmp_path / "warehouse"
    days = {n: lines for n, lines in ((1, DAY1), (2, DAY2), (3, DAY3))}
    files = [write(data / f"d{n}", f"day{n}.jsonl", lines) for n, lines in days.items()]
    for day in files[:2]:
        run(spark, root, day)
    erase_users.run(spark, erase_users.parse_args(["--root", str(root), "--user-id", "ben"]))
    report = run(spark, root, files[2])
    assert report["metrics"]["aggregates"]["scope"] == "batch"
    assert report["metrics"]["aggregates"]["dates"] == ["2026-11-03"]
    assert report["metrics"]["erased"]["logs"]["rows_dropped"] > 0  # ben's day-3 lines
    without_ben = [
        write(clean / f"d{n}", f"day{n}.jsonl", [x for x in lines if '"ben"' not in x]) for n, lines in days.items()
    ]
    one = one_run(spark, tmp_path / "one", *without_ben)
    for name in (*log_analytics.AGGREGATES, "events"):
        assert_table_equals(
            file_name_only(table(spark, root, name)), file_name_only(table(spark, one, name)), approx=True
        )


def test_reload_replaces_unchanged_files_and_changes_no_content(spark: SparkSession, tmp_path: Path) -> None:
    data, root = tmp_path / "in", tmp_path / "warehouse"
    day1 = write(data, "day1.jsonl", DAY1)
    late1 = write(data, "day1-late.jsonl", LATE1)
    run(spark, root, data)
    events_before = table(spark, root, "events")
    expected = events_before.collect()
    reloaded = run(spark, root, day1, extra=("--reload",))
    assert reloaded["metrics"]["files"]["reloaded"] == 1 and reloaded["rows_read"] == len(DAY1)
    assert sorted(table(spark, root, "events").collect()) == sorted(expected)
    assert table(spark, root, "quarantine").count() == 2  # "not json" and the blank line, once each
    assert read_table(spark, str(late1.parent.parent / "warehouse" / "loaded_files"), "delta").count() == 2


def test_a_killed_run_is_finished_by_its_rerun(spark: SparkSession, tmp_path: Path, monkeypatch) -> None:
    data, root = tmp_path / "in", tmp_path / "warehouse"
    day1, day2 = write(data, "day1.jsonl", DAY1), write(data, "day2.jsonl", DAY2)
    day3, late1 = write(data, "day3.jsonl", DAY3), write(data, "day1-late.jsonl", LATE1)
    run(spark, root, day1)

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    # killed after events and every aggregate are written, before the ledger says loaded
    with monkeypatch.context() as patch:
        patch.setattr(log_analytics, "record_loaded", killed)
        with pytest.raises(RuntimeError):
            run(spark, root, day2, late1)
    statuses = {r.file.rsplit("/", 1)[1]: r.status for r in table(spark, root, "loaded_files").collect()}
    assert statuses == {"day1.jsonl": "loaded", "day2.jsonl": "loading", "day1-late.jsonl": "loading"}
    assert not (root / "run_report.json").exists()  # no completion marker: the run did not finish

    # another batch killed after its events are written, before any aggregate reflects them
    with monkeypatch.context() as patch:
        patch.setattr(log_analytics, "publish_aggregates", killed)
        with pytest.raises(RuntimeError):
            run(spark, root, day3)

    final = run(spark, root, day1, day2, late1, day3)
    assert final["metrics"]["files"] | {"unfinished": 3, "skipped": 1} == final["metrics"]["files"]
    assert_same_warehouse(spark, root, one_run(spark, tmp_path / "one", day1, day2, day3, late1))


def test_a_later_run_with_other_settings_is_refused(spark: SparkSession, tmp_path: Path, capsys) -> None:
    data, root = tmp_path / "in", tmp_path / "warehouse"
    write(data, "day1.jsonl", DAY1)
    run(spark, root, data)
    events_before = table(spark, root, "events").count()
    day2 = write(tmp_path / "in2", "day2.jsonl", DAY2)
    args = ["--input", str(day2), "--output", str(root), *OPTIONS, "--window-minutes", "30", "--baseline-days", "7"]
    assert log_analytics.main(args) == 1
    assert error_line(capsys.readouterr().err) == (
        f"log_analytics: error: {root} was built with --window-minutes 60 (this run: 30), --baseline-days 1 "
        "(this run: 7): a root's settings are fixed on its first run; run with them, or rebuild the root into an "
        "empty --output (see docs/jobs/log_analytics.md, Rebuilding a root)"
    )
    assert table(spark, root, "events").count() == events_before


def test_a_root_of_the_one_shot_job_is_refused(spark: SparkSession, fixtures: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "old"
    (root / "user_activity").mkdir(parents=True)
    (root / "run_report.json").write_text("{}\n")
    args = ["--input", str(fixtures / "log_analytics" / "input"), "--output", str(root)]
    assert log_analytics.main(args) == 1
    assert error_line(capsys.readouterr().err) == (
        f"log_analytics: error: {root} holds the tables of a log_analytics run without a ledger of loaded files "
        "(the one-shot job): rebuild it by loading all its input files into an empty --output "
        "(see docs/jobs/log_analytics.md, Rebuilding a root)"
    )
    assert sorted(p.name for p in root.iterdir()) == ["run_report.json", "user_activity"]


# ── the ledger's decisions, without Spark ────────────────────────────────────────────────


def status(uri: str, size: int = 10, modified_ms: int = 1000) -> FileStatus:
    return FileStatus(uri.replace("s3://", "s3a://"), uri, size, modified_ms)


def entry(file: str, size: int = 10, modified_ms: int = 1000, state: str = ledger.LOADED) -> ledger.Entry:
    return ledger.Entry(file, size, modified_ms, state, (), 1)


def test_one_object_is_one_file_whatever_its_scheme() -> None:
    assert canonical_uri("s3a://bucket/logs/a.jsonl") == canonical_uri("s3://bucket/logs/a.jsonl")
    assert canonical_uri("s3n://bucket/a") == "s3://bucket/a"
    assert canonical_uri("file:///tmp/a") == canonical_uri("file:/tmp/a") == "file:/tmp/a"
    listed = [status("s3a://b/a"), status("s3://b/a")]
    assert [f.file for f in ledger.plan(listed, {}).new] == ["s3://b/a"]


def test_plan_skips_loaded_files_and_loads_changed_unfinished_and_reloaded_ones() -> None:
    known = {
        "s3://b/same": entry("s3://b/same"),
        "s3://b/bigger": entry("s3://b/bigger"),
        "s3://b/touched": entry("s3://b/touched"),
        "s3://b/killed": entry("s3://b/killed", state=ledger.LOADING),
    }
    listed = [
        status("s3://b/same"),
        status("s3://b/bigger", size=11),
        status("s3://b/touched", modified_ms=2000),
        status("s3://b/killed"),
        status("s3://b/new"),
    ]
    plan = ledger.plan(listed, known)
    names = {
        group: [f.file.rsplit("/", 1)[1] for f in getattr(plan, group)]
        for group in ("new", "changed", "unfinished", "skipped")
    }
    assert names == {"new": ["new"], "changed": ["bigger", "touched"], "unfinished": ["killed"], "skipped": ["same"]}
    assert [f.file.rsplit("/", 1)[1] for f in ledger.plan(listed, known, reload=True).reloaded] == ["same"]


def test_settings_differing_from_the_recorded_ones_are_named() -> None:
    recorded = {"window_minutes": "60", "z_threshold": "3.5"}
    assert (
        ledger.settings_problems(recorded, {"window_minutes": "60", "z_threshold": "3.5", "baseline_days": "28"}) == []
    )
    assert ledger.settings_problems(recorded, {"window_minutes": "30", "z_threshold": "3.5"}) == [
        "--window-minutes 60 (this run: 30)"
    ]


def test_a_second_writer_racing_a_run_stops_it_with_one_line_and_a_rerun_converges(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    data, root = tmp_path / "in", tmp_path / "warehouse"
    day1, day2 = write(data, "day1.jsonl", DAY1), write(data, "day2.jsonl", DAY2)
    real_publish = log_analytics.publish_aggregates

    def publish_then_another_writer(*args, **kwargs):
        published = real_publish(*args, **kwargs)
        # A second run of the job loads another file into the same root meanwhile.
        with monkeypatch.context() as inner:
            inner.setattr(log_analytics, "publish_aggregates", real_publish)
            run(spark, root, day2)
        return published

    monkeypatch.setattr(log_analytics, "publish_aggregates", publish_then_another_writer)
    argv = ["--input", str(day1), "--output", str(root), *OPTIONS]
    assert log_analytics.main(argv) == 1
    assert error_line(capsys.readouterr().err).startswith(
        f"log_analytics: error: another writer committed to {root / 'loaded_files'} while this run wrote it"
    )
    statuses = {r.file.rsplit("/", 1)[1]: r.status for r in table(spark, root, "loaded_files").collect()}
    assert statuses == {"day1.jsonl": "loading", "day2.jsonl": "loaded"}

    monkeypatch.setattr(log_analytics, "publish_aggregates", real_publish)
    assert log_analytics.main(argv) == 0
    assert_same_warehouse(spark, root, one_run(spark, tmp_path / "one", day1, day2))
