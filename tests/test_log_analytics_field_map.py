"""--field-map end to end: JSON logs under other names load into the warehouse, the map is
recorded with the root's settings, and a map that cannot be right is refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common import ledger
from common.tables import read_table
from jobs import log_analytics
from tests.cli import error_line, run_cli
from tests.golden import LOOSE_GATES

ECS_MAP = "timestamp=@timestamp,user_id=user.id,event_type=event.action,status_code=http.response.status_code"
OPTIONS = [*LOOSE_GATES, "--min-window-events", "1", "--min-baseline-windows", "1"]


def ecs_line(at: str, user: str, action: str, status: int) -> str:
    return json.dumps(
        {
            "@timestamp": at,
            "user": {"id": user},
            "event": {"action": action},
            "http": {"response": {"status_code": status}},
        }
    )


@pytest.fixture(scope="module")
def mapped_root(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    base = tmp_path_factory.mktemp("field_map")
    logs = base / "in" / "ecs.jsonl"
    logs.parent.mkdir()
    lines = [
        ecs_line("2026-11-01T10:00:00Z", "alice", "page_view", 200),
        ecs_line("2026-11-01T10:05:00+01:00", "bob", "checkout", 503),
        json.dumps({"@timestamp": "2026-11-01T10:06:00Z", "user": "carol", "event": {"action": "x"}}),
        "",
    ]
    logs.write_text("\n".join(lines) + "\n")
    root = base / "warehouse"
    args = ["--input", str(logs.parent), "--output", str(root), "--field-map", ECS_MAP, *OPTIONS]
    report = log_analytics.run(spark, log_analytics.parse_args(args))
    return logs.parent, root, report


def test_mapped_logs_load_as_events(spark: SparkSession, mapped_root) -> None:
    _, root, report = mapped_root
    events = read_table(spark, str(root / "events"), "delta")
    got = sorted((str(r.event_ts), r.user_id, r.event_type, r.status_code) for r in events.collect())
    assert got == [
        ("2026-11-01 09:05:00", "bob", "checkout", 503),
        ("2026-11-01 10:00:00", "alice", "page_view", 200),
    ]
    assert (report["rows_read"], report["rows_valid"], report["rows_quarantined"]) == (4, 2, 2)
    assert report["quarantined_by_reason"] == {"blank_line": 1, "missing_user_id": 1}


def test_the_map_is_recorded_with_the_roots_settings(spark: SparkSession, mapped_root) -> None:
    _, root, _ = mapped_root
    recorded = ledger.recorded_settings(spark, str(root / "loaded_files"))
    assert recorded["field_map"] == ECS_MAP


def test_a_later_run_with_another_map_is_refused(mapped_root, capsys) -> None:
    data, root, _ = mapped_root
    other = ECS_MAP.replace("user.id", "user.name")
    code, err = run_cli(
        log_analytics.main, capsys, "--input", str(data), "--output", str(root), "--field-map", other, *OPTIONS
    )
    assert code == 1
    assert error_line(err).startswith(
        f"log_analytics: error: {root} was built with --field-map {ECS_MAP} (this run: {other}): "
    )


def test_a_map_no_first_line_matches_is_refused_before_anything_is_written(mapped_root, tmp_path: Path, capsys) -> None:
    data, _, _ = mapped_root
    root = tmp_path / "new"
    wrong = ECS_MAP.replace("event.action", "event.kind")
    code, err = run_cli(log_analytics.main, capsys, "--input", str(data), "--output", str(root), "--field-map", wrong)
    assert code == 1
    assert error_line(err) == (
        "log_analytics: error: --field-map event_type=event.kind: none of the first 1000 JSON lines read holds it "
        "(absent or null); check the path (dotted for nested fields)"
    )
    assert not root.exists() or not any(root.iterdir())


def test_a_bad_map_is_one_line(capsys) -> None:
    code, err = run_cli(log_analytics.main, capsys, "--input", "x", "--output", "y", "--field-map", "ts=@timestamp")
    assert code == 2
    assert "'ts' is not a field of the log contract" in error_line(err)
