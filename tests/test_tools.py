"""The developer tools: the sample-data generator, the EMR artifact builder and the S3 demo."""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import zipfile
from pathlib import Path

import pytest
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from tests.golden import TRANSACTION_ETL_TABLES, assert_table_equals, file_name_only, read_expected
from tools import bench_floor, generate, local_s3, package
from tools.emr import registry


def test_generator_is_deterministic_and_sized(tmp_path: Path) -> None:
    first = generate.generate("logs", tmp_path / "a", size=300_000, seed=3, files=2)
    second = generate.generate("logs", tmp_path / "b", size=300_000, seed=3, files=2)
    other_seed = generate.generate("logs", tmp_path / "c", size=300_000, seed=4, files=2)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert first[0].read_bytes() != other_seed[0].read_bytes()
    total = sum(p.stat().st_size for p in first)
    assert 300_000 <= total < 300_000 + 2 * generate.CHUNK_LINES * 200
    assert (tmp_path / "a" / generate.COMPLETE_MARKER).exists()


def test_generated_logs_are_mostly_valid_with_some_of_every_defect(tmp_path: Path) -> None:
    [path] = generate.generate("logs", tmp_path, size=2_000_000, seed=1, files=1)
    lines = path.read_text().splitlines()
    parsed = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            parsed.append(json.loads(line))
    objects = [p for p in parsed if isinstance(p, dict)]
    assert 0.99 < len(objects) / len(lines) < 1.0
    assert any(line == "" for line in lines)
    assert any(o.get("status_code") == "abc" for o in objects)
    assert any(isinstance(o.get("status_code"), str) and o["status_code"].isdigit() for o in objects)
    errors = sum(1 for o in objects if isinstance(o.get("status_code"), int) and o["status_code"] >= 500)
    assert 0.005 < errors / len(objects) < 0.2


@pytest.mark.parametrize("text,size", [("20MB", 20 * 1024**2), ("1GB", 1024**3), ("512kb", 512 * 1024), ("42", 42)])
def test_parse_size(text: str, size: int) -> None:
    assert generate.parse_size(text) == size


def test_artifact_is_reproducible_and_holds_only_our_code(tmp_path: Path) -> None:
    package.main(["--dist", str(tmp_path / "one")])
    package.main(["--dist", str(tmp_path / "two")])
    name = f"spark_jobs-{package.version()}.zip"
    assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    with zipfile.ZipFile(tmp_path / "one" / name) as archive:
        names = archive.namelist()
    assert "jobs/log_analytics.py" in names and "common/job.py" in names and "schemas/logs.py" in names
    assert all(n.split("/")[0] in ("jobs", "common", "schemas") and n.endswith(".py") for n in names)
    assert (tmp_path / "one" / "entrypoints" / "log_analytics.py").exists()
    requirements = (tmp_path / "one" / "requirements.txt").read_text().splitlines()
    pinned = [line for line in requirements if line and not line.startswith("#")]
    assert pinned and all("==" in line for line in pinned)
    assert not any(line.lower().startswith(("pyspark", "delta-spark")) for line in pinned)


def test_the_demos_run_every_job_on_the_samples_make_run_generates() -> None:
    """`make run` (and `make run S3=1`) runs each registered job, training before the scoring
    that reads its model, on inputs that are exactly the folders the Makefile's SAMPLES generate."""
    jobs = [job.name for job in registry.in_run_order(registry.present())]
    assert sorted(jobs) == sorted(job.name for job in registry.present())
    assert jobs.index("customer_segmentation") < jobs.index("segment_customers")
    assert jobs.index("transaction_etl") < jobs.index("customer_segmentation")  # it reads the warehouse
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    samples = re.search(r"^SAMPLES := \$\(foreach d,([\w ]+),", makefile, re.MULTILINE)
    assert samples is not None
    datasets = {
        path[len(local_s3.INPUT_PREFIX) :]
        for job in registry.present()
        for _, path in job.inputs
        if path.startswith(local_s3.INPUT_PREFIX)
    }
    assert datasets == set(samples.group(1).split())
    arguments = registry.find("segment_customers").invocation(root="data")
    assert (
        arguments[arguments.index("--model") + 1]
        == registry.find("customer_segmentation").output[1].format(root="data") + "/model"
    )


def test_every_job_make_run_runs_takes_the_arguments_it_is_given() -> None:
    """`make run` (tools/demo.py) and `make run S3=1` pass each job its registry arguments and
    `--dashboard`: a job that refused one would stop `make run` halfway."""
    for job in registry.in_run_order(registry.present()):
        module = importlib.import_module(job.module)
        args = module.parse_args([*job.invocation(root="data"), "--dashboard"])
        assert args.dashboard is True, job.name


def test_the_floor_plan_writes_the_etl_s_silver_and_gold_rows(
    spark: SparkSession, fixtures: Path, tmp_path: Path
) -> None:
    """`make bench-floor` times the ETL's data plane: its plan must do the job's work, the same
    rows in silver and gold as the golden first batch (batch ids aside). Its Parquet step (its
    Delta step differs only in the format)."""
    fmt = "parquet"
    bench_floor.run_plan(fmt, str(fixtures / "transaction_etl" / "batch1"), str(tmp_path))
    expected_dir = fixtures / "transaction_etl" / "expected" / "after_batch1"
    for table, folder in (("transactions", "silver"), ("daily_user_totals", "gold")):
        schema = TRANSACTION_ETL_TABLES[table][1]
        columns = [f.name for f in schema.fields if f.name != "batch_id"]
        written = spark.read.format(fmt).load(str(tmp_path / folder)).select(*columns)
        expected = read_expected(spark, expected_dir / f"{table}.jsonl", schema).select(*columns)
        if "source_file" in columns:
            written, expected = file_name_only(written), file_name_only(expected)
        assert_table_equals(written, expected)


def test_the_warehouse_bench_compares_a_late_maintenance_cycle_with_the_first_full_one() -> None:
    from tools import bench_warehouse

    assert bench_warehouse.cycles(60, 7, 30) == (range(29, 36), range(54, 61))
    assert bench_warehouse.cycles(41, 7, 30) is None  # the last cycle would overlap the reference
    batch = {"rows_updated": 10, "rows_copied": 0, "files_read": 30, "etl_seconds": 40.0, "maintained": False}
    batches = [{**batch, "batch": n, "max_files_per_date": 1} for n in range(1, 61)]
    batches[-1] |= {"rows_copied": 11, "files_read": 60, "gold_equals_silver": True}
    verdict = bench_warehouse.verdicts(batches, None)
    assert verdict["rows_copied_at_most_rows_updated"] == {"batches_over": [60], "ok": False}
    assert verdict["files_read_last_cycle_over_reference"]["ratio"] == round((6 * 30 + 60) / 7 / 30, 2)
    assert verdict["etl_seconds_last_cycle_over_reference"]["ok"] is True


def test_the_hand_written_peer_does_the_first_load_s_work(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make bench` times the job against a plain hand-written ETL (tools/seed): it must do the
    same kind of work, or the comparison says nothing. Run in the test session (its
    `getOrCreate` returns it)."""
    import runpy

    lines = [
        '{"transaction_id": "t1", "user_id": "u1", "timestamp": "2026-11-01T10:00:00Z", "amount": "10.00"}',
        '{"transaction_id": "t1", "user_id": "u1", "timestamp": "2026-11-01T11:00:00Z", "amount": "12.00"}',
        '{"transaction_id": "t2", "user_id": "u1", "timestamp": "2026-11-02T09:00:00Z", "amount": -3}',
        '{"transaction_id": "t3", "user_id": "u2", "timestamp": "2026-11-02T09:00:00Z", "amount": "n/a"}',
        '{"transaction_id": "t4", "timestamp": "2026-11-02T09:00:00Z", "amount": "1.00"}',
        '{"transaction_id": "t5", "user_id": "u2", "timestamp": "yesterday", "amount": "1.00"}',
        "not json",
    ]
    source = tmp_path / "in" / "part-0.jsonl"
    source.parent.mkdir()
    source.write_text("\n".join(lines) + "\n")
    script = Path(__file__).parents[1] / "tools" / "seed" / "transaction_etl_peer.py"
    monkeypatch.setattr("sys.argv", [str(script), str(source.parent), str(tmp_path / "out")])
    runpy.run_path(str(script), run_name="__main__")

    def rows(table: str, *columns: str) -> list[tuple]:
        df = spark.read.format("delta").load(str(tmp_path / "out" / table)).select(*columns)
        return sorted(map(tuple, df.collect()), key=repr)

    silver = rows("transactions", "transaction_id", "transaction_date", "amount")
    assert [(t, str(d), str(a)) for t, d, a in silver] == [("t1", "2026-11-01", "12.00"), ("t2", "2026-11-02", "-3.00")]
    assert [r[0] for r in rows("quarantine", "reason")] == sorted(
        ["invalid_amount", "missing_user_id", "invalid_timestamp", "malformed_json"]
    )
    totals = rows("daily_user_totals", "user_id", "transaction_date", "total_amount", "transaction_count")
    assert [(u, str(d), str(t), n) for u, d, t, n in totals] == [
        ("u1", "2026-11-01", "12.00", 1),
        ("u1", "2026-11-02", "-3.00", 1),
    ]


def test_the_hand_written_log_peer_does_the_first_load_s_work(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make bench` times log analytics against a plain hand-written peer (tools/seed): it must
    load the events, quarantine by the contract's reasons and compute the aggregates, or the
    comparison says nothing. Its input as the job's: a folder read recursively, `.gz` too."""
    import gzip
    import runpy

    lines = [
        '{"timestamp": "2026-11-01T10:00:00Z", "user_id": "u1", "event_type": "page_view", "status_code": 200}',
        '{"timestamp": "2026-11-01T11:00:00Z", "user_id": " u1 ", "event_type": "search", "status_code": 404}',
        '{"timestamp": "2026-11-02T09:00:00+00:00", "user_id": "u1", "event_type": "login", "status_code": "500"}',
        '{"timestamp": "2026-11-02 09:30:00", "user_id": "u2", "event_type": "login", "status_code": 200}',
        "",
        "not json",
        '{"user_id": "u3", "event_type": "login", "status_code": 200}',
        '{"timestamp": "yesterday", "user_id": "u3", "event_type": "login", "status_code": 200}',
        '{"timestamp": "2026-11-02", "user_id": "u3", "event_type": "login", "status_code": 200}',
        '{"timestamp": "2026-11-02T09:00:00Z", "user_id": "", "event_type": "login", "status_code": 200}',
        '{"timestamp": "2026-11-02T09:00:00Z", "user_id": {"id": 3}, "event_type": "login", "status_code": 200}',
        '{"timestamp": "2026-11-02T09:00:00Z", "user_id": "u3", "event_type": null, "status_code": 200}',
        '{"timestamp": "2026-11-02T09:00:00Z", "user_id": "u3", "event_type": "login"}',
        '{"timestamp": "2026-11-02T09:00:00Z", "user_id": "u3", "event_type": "login", "status_code": "abc"}',
        '{"timestamp": "2026-11-02T09:00:00Z", "user_id": "u3", "event_type": "login", "status_code": 700}',
        '{"timestamp": "2026-11-02T09:00:00Z", "user_id": "u3", "event_type": "login", "status_code": 404.0}',
    ]
    source = tmp_path / "in"
    (source / "late").mkdir(parents=True)
    (source / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    # 30 hourly windows of 20 events, one error each but 15 in the window at 12:00: an anomaly.
    windows = [
        f'{{"timestamp": "2026-11-{10 + hour // 24}T{hour % 24:02d}:{minute:02d}:00Z", "user_id": "w{minute}", '
        f'"event_type": "api_call", "status_code": {503 if minute < (15 if hour == 12 else 1) else 200}}}'
        for hour in range(30)
        for minute in range(20)
    ]
    with gzip.open(source / "late" / "part-1.jsonl.gz", "wt") as out:
        out.write("\n".join(windows) + "\n")
    script = Path(__file__).parents[1] / "tools" / "seed" / "log_analytics_peer.py"
    monkeypatch.setattr("sys.argv", [str(script), str(source), str(tmp_path / "out")])
    runpy.run_path(str(script), run_name="__main__")

    def rows(table: str, *columns: str | Column) -> list[tuple]:
        df = spark.read.format("delta").load(str(tmp_path / "out" / table)).select(*columns)
        return sorted(map(tuple, df.collect()), key=repr)

    def minute(column: str) -> Column:
        return F.date_format(column, "yyyy-MM-dd HH:mm").alias(column)

    assert len(rows("events", "user_id")) == 4 + 30 * 20
    assert [r[0] for r in rows("quarantine", "reason")] == sorted(
        ["malformed_json", "missing_timestamp", "invalid_timestamp", "invalid_timestamp", "missing_user_id"]
        + ["invalid_user_id", "missing_event_type", "missing_status_code"]
        + ["invalid_status_code"] * 3
    )
    assert rows("user_activity", "user_id", "event_count", minute("first_seen"), minute("last_seen"))[:2] == [
        ("u1", 3, "2026-11-01 10:00", "2026-11-02 09:00"),
        ("u2", 1, "2026-11-02 09:30", "2026-11-02 09:30"),
    ]
    assert rows("error_patterns", F.col("event_date").cast("string"), "status_code", "error_count") == [
        ("2026-11-01", 404, 1),
        ("2026-11-02", 500, 1),
        ("2026-11-10", 503, 23 + 15),
        ("2026-11-11", 503, 6),
    ]
    day = rows("daily_engagement", F.col("event_date").cast("string"), "active_users", "new_users", "returning_users")
    assert day[:2] == [("2026-11-01", 1, 1, 0), ("2026-11-02", 2, 1, 1)]
    assert len(rows("activity_windows", "window_start", "event_type")) == 3 + 30
    anomalies = rows("anomalies", minute("window_start"), "error_count", "baseline_windows")
    assert anomalies == [("2026-11-10 12:00", 15, 30)]


def test_the_bench_times_each_log_format_with_the_jobs_own_command_line() -> None:
    """`make bench` times log analytics on each access log format next to JSON: the job's
    registry command line with --input-format, its cost per GB against JSON's 1.5x bar."""
    from tools import bench

    assert bench.parse_log_formats("") == [] and bench.parse_log_formats("alb, cloudfront") == ["alb", "cloudfront"]
    with pytest.raises(Exception, match="unknown format json"):
        bench.parse_log_formats("json")
    command = bench.log_format_workload("cloudfront").job(Path("in"), Path("out"), None)
    assert command.packaged and command.args[command.args.index("--input-format") + 1] == "cloudfront"
    gb = bench.GB

    def measured(seconds: float, size: int) -> bench.Measured:
        return bench.Measured(size, [], [seconds], 100)

    row = bench.format_summary("alb", measured(20.0, gb // 8), measured(50.0, gb + gb // 8), 24.0)
    assert (row["job_cost_per_gb_s"], row["over_json"], row["within_bar"]) == (30.0, 1.25, True)
    assert bench.format_summary("alb", measured(20.0, 0), measured(60.0, gb), 24.0)["within_bar"] is False


def test_the_bench_times_log_analytics_against_its_peer_with_the_issue_s_targets() -> None:
    """`make bench` runs seed, hand-written peer and job on the same logs, each first in turn,
    and judges the job against the peer: cost per GB at most 1.0x, 8 MB time at most + 5 s."""
    from tools import bench

    workload = bench.WORKLOADS["log_analytics"]
    assert workload.sides == ("seed", "peer", "job")
    assert workload.peer is not None
    peer = workload.peer(Path("in"), Path("out"), None)
    assert (peer.script.name, peer.args, peer.packaged) == ("log_analytics_peer.py", ["in", "out"], False)
    assert peer.script.exists()
    gb = bench.GB

    def measured(seed: float, peer: float, job: float, size: int) -> bench.Measured:
        return bench.Measured(size, [seed], [job], 100, peer=[peer])

    tiny, large = measured(10.0, 20.0, 24.0, gb // 8), measured(20.0, 60.0, 60.0, gb + gb // 8)
    row = bench.summarise("log_analytics", tiny, large)
    assert (row["peer_cost_per_gb_s"], row["job_cost_per_gb_s"], row["job_over_peer_cost_per_gb"]) == (40, 36, 0.9)
    assert row["targets"] == {
        "job_over_peer_cost_per_gb": {"value": 0.9, "at_most": 1.0, "ok": True},
        "fixed_cost_gap_over_peer_s": {"value": 4.0, "at_most": 5.0, "ok": True},
    }
    slower = bench.summarise("log_analytics", measured(10.0, 20.0, 26.0, gb // 8), measured(20.0, 60.0, 70.0, gb))
    assert [v["ok"] for v in slower["targets"].values()] == [False, False]
    # The transaction ETL's peer is printed beside it, with no target.
    assert "targets" not in bench.summarise("transaction_etl", tiny, large)


def test_the_daily_bench_loads_one_day_into_a_root_of_thirty(tmp_path: Path) -> None:
    """`log_analytics_daily`: 30 daily files of the tiny size loaded once into a root, then the
    next day's file timed into a fresh copy of it against the seed on that file (+ 15 s)."""
    from tools import bench

    batch = bench.daily_logs(tmp_path / "days", 40_000, seed=3)
    assert batch == tmp_path / "days" / "batch"
    history = sorted((tmp_path / "days" / "history").glob("day=*/part-*.jsonl"))
    files = [*history, *batch.glob("part-*.jsonl")]
    assert len(history) == bench.HISTORY_DAYS and len(files) == bench.HISTORY_DAYS + 1
    assert all(35_000 < f.stat().st_size < 45_000 for f in files)
    events = [json.loads(line) for line in files[-1].read_text().splitlines()]
    days = {e["timestamp"][:10] for e in events}
    assert max(days) == "2026-01-31" and min(days) >= "2026-01-28"  # day 31, and a few late lines
    earlier = {json.loads(line)["user_id"] for f in history for line in f.read_text().splitlines()}
    users = {e["user_id"] for e in events}
    assert 0.5 < len(users & earlier) / len(users) < 0.9  # most of a day's users seen before
    written = files[0].stat().st_mtime_ns
    assert bench.daily_logs(tmp_path / "days", 40_000, seed=3) == batch
    assert files[0].stat().st_mtime_ns == written  # generated once

    workload = bench.WORKLOADS[bench.DAILY_WORKLOAD]
    assert workload.sides == ("seed", "job")
    job = workload.job(batch, Path("out"), None)
    assert job.packaged and job.args[job.args.index("--input") + 1] == str(batch)
    assert workload.prepare is not None and workload.setup is not None
    runs: list[bench.Command] = []

    def timed(command: bench.Command, output: Path) -> float:
        runs.append(command)
        return 1.0

    root = workload.prepare(batch, tmp_path / "out", timed)
    assert [r.args[r.args.index("--input") + 1] for r in runs] == [str(tmp_path / "days" / "history")]
    assert root == tmp_path / "out" / "history_root"
    (root / "events").mkdir(parents=True)
    (root / "run_report.json").write_text("{}")
    (tmp_path / "timed" / "stale").mkdir(parents=True)
    workload.setup(tmp_path / "timed", root)
    assert sorted(p.name for p in (tmp_path / "timed").iterdir()) == ["events", "run_report.json"]

    row = bench.daily_summary(bench.DAILY_WORKLOAD, bench.Measured(8 * 1024**2, [10.0, 12.0], [20.0, 30.0], 900), 0)
    assert (row["seed_s"], row["job_s"], row["gap_over_seed_s"]) == (11.0, 25.0, 14.0)
    assert row["targets"] == {"gap_over_seed_s": {"value": 14.0, "at_most": 15.0, "ok": True}}
    late = bench.daily_summary(bench.DAILY_WORKLOAD, bench.Measured(1, [10.0], [25.5], 900), 0)
    assert late["targets"]["gap_over_seed_s"]["ok"] is False
