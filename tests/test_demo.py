"""`make run`'s terminal (tools/demo.py): a summary; Spark's start-up warnings and the jobs'
JSON log lines go to the run's log file, and a failed job's one-line error still reaches the
terminal with a non-zero exit. Real jobs, real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import demo
from tools.emr import registry
from tools.show_report import summarise

pytestmark = pytest.mark.slow


def test_a_failing_job_prints_its_one_line_error_and_logs_spark_s_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """log_analytics on a root with no input: Spark starts, the job fails, the demo stops."""
    code = demo.run_demo(str(tmp_path), registry.in_run_order(registry.present()))
    out, err = capsys.readouterr()
    assert code == 1
    log = next((tmp_path / "logs" / "make-run").glob("*.log"))
    assert f"go to {log}" in out
    failure, where = err.splitlines()
    assert failure.startswith("log_analytics failed (exit 1) after ")
    assert ": log_analytics: error: " in failure
    assert where == f"  its whole output: {log}"
    # Neither Spark's warnings nor a JSON line (the log's, CloudWatch's metrics) on the terminal.
    assert "WARN" not in out + err and not any(line.startswith("{") for line in (out + err).splitlines())
    logged = log.read_text().splitlines()
    assert any(" WARN " in line for line in logged)  # Spark's start-up warnings
    events = [json.loads(line) for line in logged if line.startswith('{"ts"')]
    assert [event["event"] for event in events][-1] == "run failed"
    assert failure.endswith(events[-1]["error"])
    assert "[2/" not in out  # no job after the failed one


def test_a_refused_argument_is_the_job_s_own_line(tmp_path: Path) -> None:
    log = demo.new_log(tmp_path)
    run = demo.run_logged(registry.find("log_analytics"), ["--no-such-option"], log)
    assert run.code == 2
    assert run.error == "log_analytics: error: the following arguments are required: --input, --output (see --help)"
    assert log.read_text().splitlines()[-1].endswith(f"exited 2 after {run.seconds:.1f} s")


def test_a_run_that_read_nothing_is_summarised_too() -> None:
    """maintain_tables when maintenance is not due (a second `make run`): no row accounting,
    no table; its report as the job writes it."""
    report = {
        "job": "maintain_tables",
        "version": "0.1.0",
        "status": "succeeded",
        "tables": {},
        "validation": {},
        "metrics": {"schedule": {"every_batches": 7, "batches_since_last_maintenance": 1, "due": False}},
        "timings_seconds": {"total": 26.877},
    }
    assert summarise(report).splitlines() == [
        "maintain_tables 0.1.0 succeeded in 26.877s",
        "  rows read: none (this run read no input)",
        "  tables: none written",
        "  expectation suites passed: 0/0",
    ]
