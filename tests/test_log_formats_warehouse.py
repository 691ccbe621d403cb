"""Access log formats end to end: `.gz` files as delivered, into a root an earlier release wrote
(its `events` table gains the request columns through the one table evolution), a root
holding files of several formats, every line accounted for in the run report."""

from __future__ import annotations

import gzip
from datetime import date, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from common import delta, ledger
from common.tables import read_table
from jobs import log_analytics
from schemas.logs import EVENTS, LOADED_FILES, REQUEST_FIELDS
from tests.golden import LOOSE_GATES

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "log_formats"
OPTIONS = [*LOOSE_GATES, "--min-window-events", "1", "--min-baseline-windows", "1"]
EARLIER_EVENTS = StructType([f for f in EVENTS.fields if f.name not in REQUEST_FIELDS.fieldNames()])


def gzipped(fixture: str, folder: Path) -> Path:
    """The fixture file (or each file of the fixture folder) gzipped into `folder`, as delivered."""
    folder.mkdir(parents=True, exist_ok=True)
    source = FIXTURES / fixture
    for path in sorted(source.glob("*.log")) if source.is_dir() else [source]:
        (folder / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    return folder


def load(spark: SparkSession, folder: Path, out: Path, fmt: str) -> dict:
    args = ["--input", str(folder), "--output", str(out), "--input-format", fmt, *OPTIONS]
    return log_analytics.run(spark, log_analytics.parse_args(args))


@pytest.fixture(scope="module")
def root(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """A root as an earlier release left it (events without the request columns, one JSON
    event), then a run of each access log format into it."""
    base = tmp_path_factory.mktemp("formats")
    out = base / "warehouse"
    events, files = str(out / "events"), str(out / "loaded_files")
    delta.ensure_table(spark, events, EARLIER_EVENTS, ["event_date"])
    old = [(datetime(2026, 10, 31, 9), "u0", "page_view", 200, date(2026, 10, 31), "file:/old/app.jsonl")]
    spark.createDataFrame(old, EARLIER_EVENTS).write.format("delta").mode("append").save(events)
    spark.sql(f"ALTER TABLE delta.`{events}` UNSET TBLPROPERTIES ('{delta.CONTRACT}', '{delta.CONTRACT_RELEASE}')")
    ledger.ensure(spark, files, LOADED_FILES, {"window_minutes": "60"}, {})
    combined = load(spark, gzipped("combined.log", base / "web"), out, "combined")
    alb = load(spark, gzipped("alb.log", base / "alb"), out, "alb")
    cloudfront = load(spark, gzipped("cloudfront", base / "cdn"), out, "cloudfront")
    return out, {"combined": combined, "alb": alb, "cloudfront": cloudfront}


def test_events_gain_the_request_columns_and_keep_earlier_rows(spark: SparkSession, root) -> None:
    out, _ = root
    events = read_table(spark, str(out / "events"), "delta")
    assert events.columns == EVENTS.fieldNames()
    by_format = {r["input_format"]: r["count"] for r in events.groupBy("input_format").count().collect()}
    assert by_format == {None: 1, "combined": 7, "alb": 3, "cloudfront": 5}


@pytest.mark.parametrize(
    ("fmt", "counts", "reasons"),
    [
        (
            "combined",
            (16, 7, 9),
            {
                "blank_line": 1,
                "unparseable_line": 2,
                "invalid_timestamp": 1,
                "invalid_status_code": 2,
                "invalid_request": 2,
                "invalid_bytes": 1,
            },
        ),
        (
            "alb",
            (10, 3, 7),
            {
                "blank_line": 1,
                "unparseable_line": 1,
                "invalid_timestamp": 1,
                "missing_status_code": 1,
                "invalid_status_code": 1,
                "invalid_request": 1,
                "invalid_bytes": 1,
            },
        ),
        (
            "cloudfront",
            (18, 5, 7, 6),
            {
                "blank_line": 1,
                "unsupported_layout": 1,
                "unparseable_line": 1,
                "invalid_timestamp": 1,
                "invalid_status_code": 1,
                "invalid_request": 1,
                "invalid_bytes": 1,
            },
        ),
    ],
)
def test_every_line_is_accounted_for(root, fmt: str, counts: tuple[int, ...], reasons: dict[str, int]) -> None:
    _, reports = root
    report = reports[fmt]
    assert report["status"] == "succeeded"
    assert (report["rows_read"], report["rows_valid"], report["rows_quarantined"]) == counts[:3]
    assert report.get("rows_skipped", 0) == (counts[3] if len(counts) > 3 else 0)
    assert report["quarantined_by_reason"] == dict(sorted(reasons.items()))
    assert all(report["metrics"]["reconciliation"].values())


def test_each_formats_settings_are_recorded(spark: SparkSession, root) -> None:
    out, _ = root
    recorded = ledger.recorded_settings(spark, str(out / "loaded_files"))
    assert (recorded["user_id_from"], recorded["path_segments"]) == ("auth-user-or-ip", "1")


def test_the_ledger_counts_a_files_lines_without_its_header(spark: SparkSession, root) -> None:
    out, _ = root
    rows = read_table(spark, str(out / "loaded_files"), "delta").filter("file LIKE '%short-layout.log.gz'").collect()
    assert [(r.rows_read, r.rows_valid, r.rows_quarantined) for r in rows] == [(1, 1, 0)]
