"""Quality gates: a day with 60 % bad lines, a day missing half its files, and a normal day
after both, through the real ETL on the session's Spark; and the verdict's rules on their own."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from common import gates
from common.tables import read_table
from jobs import transaction_etl
from tests.cli import error_line, run_cli

SETTINGS = gates.GateSettings(max_quarantine_rate=0.05, min_volume_ratio=0.5, max_volume_ratio=3.0, volume_history=3)


def history(*rows_read: int, start: date = date(2026, 12, 1)) -> list[dict[str, Any]]:
    return [
        {"date": (start + timedelta(days=i)).isoformat(), "rows_read": n, "finished_at": f"2026-12-{i + 2:02d}T03:00"}
        for i, n in enumerate(rows_read)
    ]


def counts(rows: int, quarantined: int = 0) -> dict[str, int]:
    return {"rows_read": rows, "rows_quarantined": quarantined, "rows_valid": rows - quarantined}


# ── the verdict ──────────────────────────────────────────────────────────────────────────


def test_sixty_percent_bad_lines_trip_the_quarantine_gate_naming_the_figures() -> None:
    outcomes = gates.evaluate(counts(1000, 600), history(1000, 1000, 1000), SETTINGS)
    assert outcomes["quarantine_rate"]["status"] == "tripped" and outcomes["quarantine_rate"]["value"] == 0.6
    assert outcomes["volume"]["status"] == "passed"
    assert gates.tripped(outcomes) == ["quarantine_rate"]
    line = gates.failure_line(outcomes)
    assert line.startswith("quality gate quarantine_rate tripped: 600 of 1000 rows quarantined (60.0%)")
    assert "the maximum is 5.0%" in line and "--accept-gate quarantine_rate" in line


def test_a_missing_half_day_trips_the_volume_gate_and_a_normal_day_passes() -> None:
    past = history(1000, 1100, 900)
    half = gates.evaluate(counts(480), past, SETTINGS)
    assert half["volume"]["status"] == "tripped" and half["volume"]["median"] == 1000
    assert "480 rows read, 0.48 times the median 1000 of the last 3 days" in gates.failure_line(half)
    assert gates.evaluate(counts(3100), past, SETTINGS)["volume"]["status"] == "tripped"  # a doubled delivery
    normal = gates.evaluate(counts(1020, 10), past, SETTINGS)
    assert gates.tripped(normal) == [] and {o["status"] for o in normal.values()} == {"passed"}


def test_skipped_header_lines_count_neither_in_the_rate_nor_in_the_volume() -> None:
    # CloudFront: 1000 records plus 2 header lines in each of 300 files.
    day = {**counts(1600, 50), "rows_valid": 950, "rows_skipped": 600}
    past = [{**row, "rows_read": 1600, "rows_skipped": 600} for row in history(1000, 1000, 1000)]
    outcomes = gates.evaluate(day, past, SETTINGS)
    assert outcomes["quarantine_rate"]["value"] == 0.05 and outcomes["quarantine_rate"]["status"] == "passed"
    assert (outcomes["volume"]["value"], outcomes["volume"]["median"]) == (1000, 1000)
    report = {**day, "run_id": "r", "finished_at": "2026-12-05T03:00"}
    assert gates.history_row(report, "2026-12-04")["rows_skipped"] == 600
    assert "rows_skipped" not in gates.history_row({**counts(10), "run_id": "r", "finished_at": "x"}, "2026-12-04")


def test_the_volume_gate_is_skipped_until_the_history_holds_enough_days() -> None:
    outcome = gates.evaluate(counts(10), history(1000, 1000), SETTINGS)["volume"]
    assert outcome["status"] == "skipped"
    assert outcome["line"] == "2 successful days in the run history, the volume gate needs 3"


def test_the_median_takes_each_days_latest_run_over_the_last_days() -> None:
    rows = history(5, 1000, 1000, 1000)
    rerun = {"date": rows[1]["date"], "rows_read": 2000, "finished_at": "2026-12-09T00:00"}
    assert gates.history_volumes([*rows, rerun], 3) == [2000, 1000, 1000]
    assert len(gates.with_run(history(*[1] * gates.HISTORY_DAYS), {"date": "2099-01-01", "rows_read": 1})) == (
        gates.HISTORY_DAYS
    )


def test_an_accepted_gate_lets_the_day_through_and_says_so() -> None:
    accepting = gates.GateSettings(0.05, 0.5, 3.0, 3, frozenset({"volume"}))
    outcomes = gates.evaluate(counts(480), history(1000, 1000, 1000), accepting)
    assert outcomes["volume"]["status"] == "accepted" and gates.tripped(outcomes) == []


# ── through the ETL: IO, exit codes, nothing published ──────────────────────────────────

START = date(2026, 12, 1)


def day_folder(root: Path, day: date, good: int, bad: int = 0) -> Path:
    """The day's prefix under the documented layout, `good` valid transactions and `bad` lines
    a producer broke (a renamed field)."""
    folder = root / "input" / "transactions" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True)
    lines = [
        json.dumps(
            {
                "transaction_id": f"{day:%m%d}-{i}",
                "user_id": f"u{i % 7}",
                "timestamp": f"{day.isoformat()}T12:{i % 60:02d}:00Z",
                "amount": f"{10 + i}.50",
            }
        )
        for i in range(good)
    ]
    lines += [json.dumps({"txn_id": f"{day:%m%d}-bad-{i}", "user_id": "u1", "amount": "1.00"}) for i in range(bad)]
    (folder / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def etl(capsys, root: Path, day: date, *extra: str) -> tuple[int, str, str]:
    """The ETL's command line for a day as the pipelines run it; exit code, error line, stdout."""
    job_args = ["--transactions", str(root / "input" / "transactions" / f"dt={day.isoformat()}")]
    job_args += ["--warehouse", str(root / "warehouse"), "--date", day.isoformat(), "--volume-history", "2"]
    code = transaction_etl.main([*job_args, *extra])
    captured = capsys.readouterr()
    return code, (error_line(captured.err) if code else ""), captured.out


def metrics(out: str) -> dict[str, Any]:
    [line] = [json.loads(text) for text in out.splitlines() if text.startswith('{"_aws"')]
    return line


@pytest.mark.slow
def test_a_bad_day_stops_before_publishing_and_a_normal_day_after_it_gets_through(
    spark: SparkSession, tmp_path: Path, capsys
) -> None:
    warehouse = tmp_path / "warehouse"
    days = [START + timedelta(days=i) for i in range(5)]
    for day in days[:2]:
        day_folder(tmp_path, day, good=40)
        assert etl(capsys, tmp_path, day)[0] == 0
    first = json.loads((warehouse / "run_report.json").read_text())  # the second day's report
    assert first["metrics"]["gates"]["volume"]["status"] == "skipped"  # one day in the history then
    silver_before = read_table(spark, str(warehouse / "transactions"), "delta").count()
    assert silver_before == 80

    # 60 % bad lines: one line naming the gate and the figures, exit 3, nothing changed
    day_folder(tmp_path, days[2], good=16, bad=24)
    code, line, out = etl(capsys, tmp_path, days[2])
    assert code == gates.GATE_EXIT_CODE == 3
    assert line.startswith("transaction_etl: error: quality gate quarantine_rate tripped: 24 of 40 rows quarantined")
    assert "(60.0%), the maximum is 5.0%" in line
    gate = json.loads((warehouse / "gate.json").read_text())
    assert gate["status"] == "gate_tripped" and gate["gate"] == ["quarantine_rate"] and gate["date"] == "2026-12-03"
    assert gate["rows_read"] == 40 and gate["rows_quarantined"] == 24
    assert metrics(out)["status"] == "gate_tripped" and metrics(out)["GateTripped"] == 1
    assert metrics(out)["QuarantineRate"] == 0.6 and metrics(out)["gate"] == ["quarantine_rate"]
    assert json.loads((warehouse / "run_report.json").read_text()) == first  # the last good day's report stands
    silver = read_table(spark, str(warehouse / "transactions"), "delta")
    assert silver.count() == silver_before and silver.filter("batch_id = '2026-12-03'").count() == 0

    # half of a day's files missing: the volume gate against the last two days' median (40)
    day_folder(tmp_path, days[3], good=18)
    code, line, _ = etl(capsys, tmp_path, days[3])
    assert code == 3
    assert line.startswith(
        "transaction_etl: error: quality gate volume tripped: 18 rows read, 0.45 times the median 40"
    )
    assert read_table(spark, str(warehouse / "transactions"), "delta").count() == silver_before

    # the operator knows the day is small (a holiday): accepted, and the report says so
    code, _, out = etl(capsys, tmp_path, days[3], "--accept-gate", "volume")
    assert code == 0 and metrics(out)["status"] == "succeeded" and metrics(out)["GateTripped"] == 0
    accepted = json.loads((warehouse / "run_report.json").read_text())["metrics"]["gates"]["volume"]
    assert accepted["status"] == "accepted" and accepted["value"] == 18
    assert not (warehouse / "gate.json").exists()

    # a normal day after both
    day_folder(tmp_path, days[4], good=41)
    assert etl(capsys, tmp_path, days[4])[0] == 0
    report = json.loads((warehouse / "run_report.json").read_text())
    assert {name: g["status"] for name, g in report["metrics"]["gates"].items()} == {
        "quarantine_rate": "passed",
        "volume": "passed",
    }
    assert report["arguments"]["batch_id"] == "2026-12-05"
    runs = json.loads((warehouse / gates.HISTORY_FILE).read_text())["runs"]
    assert [(r["date"], r["rows_read"], r["accepted_gates"]) for r in runs] == [
        ("2026-12-01", 40, []),
        ("2026-12-02", 40, []),
        ("2026-12-04", 18, ["volume"]),
        ("2026-12-05", 41, []),
    ]
    batches = read_table(spark, str(warehouse / "transactions"), "delta").groupBy("batch_id").count().collect()
    assert {row["batch_id"]: row["count"] for row in batches} == {
        "2026-12-01": 40,
        "2026-12-02": 40,
        "2026-12-04": 18,
        "2026-12-05": 41,
    }


def test_gate_flags_refuse_what_cannot_be_a_threshold(capsys) -> None:
    for argv, message in (
        (["--max-quarantine-rate", "5"], "'5' must be between 0 and 1 (0.05 is 5 %)"),
        (["--accept-gate", "volumes"], "invalid choice: 'volumes'"),
        (["--volume-history", "0"], "'0' must be at least 1"),
    ):
        code, err = run_cli(transaction_etl.main, capsys, "--transactions", "t", "--warehouse", "w", *argv)
        assert code == 2 and err.count("\n") == 1 and message in err
