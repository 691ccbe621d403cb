"""The developer tools: the sample-data generator, the EMR artifact builder and the S3 demo."""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import zipfile
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

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
