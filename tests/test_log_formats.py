"""Access log formats (--input-format combined, alb): fixtures written from Apache's and AWS's
documentation, awkward lines included, classified and turned into events; compared with golden
files (chispa), every quarantine reason of each format exercised."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common import ledger
from common.classify import REASON, classify_lines, count_by_reason, quarantined_rows
from common.fs import input_file_statuses
from common.lines import read_lines
from common.log_formats import CLIENT_IP, cloudfront_layout, path_class
from common.report import row_accounting
from jobs import log_analytics
from jobs.log_analytics import ACCESS_LOGS, to_events
from schemas.logs import EVENTS
from schemas.quarantine import QUARANTINE
from tests.cli import error_line, run_cli
from tests.golden import assert_table_equals, file_name_only, read_expected
from tools import generate
from tools.generate import FilePlan, _access_log_chunks

FIXTURES = Path(__file__).parent / "fixtures" / "log_formats"
FORMATS = sorted(ACCESS_LOGS)


def classified(spark: SparkSession, fmt: str, user_id_from: str = "auth-user-or-ip", segments: int = 1) -> DataFrame:
    parse, contract = ACCESS_LOGS[fmt]
    lines = read_lines(spark, [str(FIXTURES / f"{fmt}.log")])
    return lines.transform(parse(user_id_from, segments)).transform(classify_lines, contract)


@pytest.mark.parametrize("fmt", FORMATS)
def test_events_match_golden_file(spark: SparkSession, fmt: str) -> None:
    actual = file_name_only(classified(spark, fmt).transform(to_events))
    expected = read_expected(spark, FIXTURES / "expected" / f"{fmt}_events.jsonl", EVENTS)
    assert_table_equals(actual, expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_quarantine_matches_golden_file(spark: SparkSession, fmt: str) -> None:
    actual = file_name_only(classified(spark, fmt).transform(quarantined_rows))
    expected = read_expected(spark, FIXTURES / "expected" / f"{fmt}_quarantine.jsonl", QUARANTINE)
    assert_table_equals(actual, expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_reason_of_the_format_is_exercised_and_no_line_lost(spark: SparkSession, fmt: str) -> None:
    rows = classified(spark, fmt).groupBy(REASON).count().collect()
    lines = (FIXTURES / f"{fmt}.log").read_text().splitlines()
    assert sum(r["count"] for r in rows) == len(lines)
    assert {r[REASON] for r in rows if r[REASON]} == set(ACCESS_LOGS[fmt][1].reasons())


def test_reasons_are_in_the_documented_order() -> None:
    assert ACCESS_LOGS["combined"][1].reasons() == [
        "blank_line",
        "unparseable_line",
        "invalid_timestamp",
        "invalid_status_code",
        "invalid_request",
        "invalid_bytes",
    ]
    assert ACCESS_LOGS["alb"][1].reasons() == [
        "blank_line",
        "unparseable_line",
        "invalid_timestamp",
        "missing_status_code",
        "invalid_status_code",
        "invalid_request",
        "invalid_bytes",
    ]


def test_client_ip_as_the_user_when_asked(spark: SparkSession) -> None:
    users = {r.user_id for r in classified(spark, "combined", CLIENT_IP).filter(F.col(REASON).isNull()).collect()}
    assert "frank" not in users and "alice" not in users
    assert "127.0.0.1" in users


@pytest.mark.parametrize(
    ("path", "segments", "event_type"),
    [
        ("/", 1, "GET /"),
        ("/orders/12345/items", 1, "GET /orders"),
        ("/orders/12345/items", 2, "GET /orders/{id}"),
        ("/orders/12345/items", 3, "GET /orders/{id}/items"),
        ("//static///app.css", 2, "GET /static/app.css"),
        ("/b/3f2504e0-4f89-11d3-9a0c-0305e82c3301/x", 2, "GET /b/{id}"),
        ("/blob/9f86d081884c7d659a2feaa0c55ad015/raw", 2, "GET /blob/{id}"),
        ("/v2/cafe", 2, "GET /v2/cafe"),
    ],
)
def test_path_class_keeps_the_first_segments_with_ids_as_placeholders(
    spark: SparkSession, path: str, segments: int, event_type: str
) -> None:
    df = spark.createDataFrame([("GET", path)], "method string, path string")
    assert df.select(path_class(F.col("method"), F.col("path"), segments)).first()[0] == event_type


def test_a_field_map_with_an_access_log_format_is_one_line(capsys) -> None:
    argv = ["--input", "x", "--output", "y", "--input-format", "alb", "--field-map", "user_id=u"]
    code, err = run_cli(log_analytics.main, capsys, *argv)
    assert code == 2
    assert error_line(err).endswith("--field-map applies to --input-format json, not alb (see --help)")


@pytest.mark.parametrize("fmt", FORMATS)
def test_generated_lines_parse_with_a_few_bad_ones(spark: SparkSession, tmp_path: Path, fmt: str) -> None:
    plan = FilePlan(tmp_path / f"{fmt}.log", 0, 1, 1, 7)
    lines = next(_access_log_chunks(plan, fmt))
    plan.path.write_text("\n".join(lines) + "\n")
    parse, contract = ACCESS_LOGS[fmt]
    parsed = read_lines(spark, [str(plan.path)]).transform(parse("auth-user-or-ip", 1))
    reasons = {
        r[REASON]: r["count"] for r in parsed.transform(classify_lines, contract).groupBy(REASON).count().collect()
    }
    assert sum(reasons.values()) == len(lines)
    assert 0 < sum(n for r, n in reasons.items() if r) < len(lines) * 0.01
    assert {r for r in reasons if r} <= set(contract.reasons())


# ── CloudFront: each file read by its own #Fields: header ──


def cloudfront_classified(spark: SparkSession, segments: int = 1) -> DataFrame:
    folder = FIXTURES / "cloudfront"
    args = log_analytics.parse_args(
        ["--input", str(folder), "--output", "x", "--input-format", "cloudfront", "--path-segments", str(segments)]
    )
    files = [ledger.InputFile(status) for status in input_file_statuses(spark, str(folder))]
    lines, contract = log_analytics.read_input(spark, args, files)
    return lines.transform(classify_lines, contract)


def test_cloudfront_events_match_golden_file(spark: SparkSession) -> None:
    actual = file_name_only(cloudfront_classified(spark).transform(to_events))
    expected = read_expected(spark, FIXTURES / "expected" / "cloudfront_events.jsonl", EVENTS)
    assert_table_equals(actual, expected)


def test_cloudfront_quarantine_matches_golden_file(spark: SparkSession) -> None:
    actual = file_name_only(cloudfront_classified(spark).transform(quarantined_rows))
    expected = read_expected(spark, FIXTURES / "expected" / "cloudfront_quarantine.jsonl", QUARANTINE)
    assert_table_equals(actual, expected)


def test_cloudfront_header_lines_are_skipped_and_every_line_accounted_for(spark: SparkSession) -> None:
    rows_read, by_reason = count_by_reason(cloudfront_classified(spark))
    lines = sum(len(p.read_text().splitlines()) for p in (FIXTURES / "cloudfront").glob("*.log"))
    accounting = row_accounting(rows_read, by_reason)
    assert rows_read == lines
    assert accounting["rows_skipped"] == 6  # #Version and #Fields of three files
    assert (
        accounting["rows_read"]
        == accounting["rows_valid"] + accounting["rows_quarantined"] + accounting["rows_skipped"]
    )
    assert set(accounting["quarantined_by_reason"]) == set(log_analytics.CLOUDFRONT_CONTRACT.reasons())
    assert log_analytics.CLOUDFRONT_CONTRACT.reasons() == [
        "blank_line",
        "unsupported_layout",
        "unparseable_line",
        "invalid_timestamp",
        "invalid_status_code",
        "invalid_request",
        "invalid_bytes",
    ]


@pytest.mark.parametrize(
    ("header", "layout"),
    [
        (["#Version: 1.0"], None),
        (["#Fields: date time c-ip"], None),
        (
            [
                "#Version: 1.0",
                "#Fields: c-ip date time cs-method cs-uri-stem sc-status sc-bytes time-taken cs(User-Agent)",
            ],
            ([1, 2, 0, 3, 4, 5, 6, 8, 7], 9),
        ),
    ],
)
def test_cloudfront_layout_comes_from_the_fields_header(header: list[str], layout) -> None:
    assert cloudfront_layout(header) == layout


def test_generated_cloudfront_files_parse_with_a_few_bad_ones(spark: SparkSession, tmp_path: Path) -> None:
    [path] = generate.generate("cloudfront_logs", tmp_path / "cdn", size=1, seed=7, files=1)
    args = log_analytics.parse_args(["--input", str(path), "--output", "x", "--input-format", "cloudfront"])
    lines, contract = log_analytics.read_input(
        spark, args, [ledger.InputFile(s) for s in input_file_statuses(spark, str(path))]
    )
    rows_read, by_reason = count_by_reason(lines.transform(classify_lines, contract))
    accounting = row_accounting(rows_read, by_reason)
    assert accounting["rows_skipped"] == 2
    assert 0 < accounting["rows_quarantined"] < rows_read * 0.01
    assert set(accounting["quarantined_by_reason"]) <= set(contract.reasons())
