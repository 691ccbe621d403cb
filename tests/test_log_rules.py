"""Each validity rule of the log contract, and the reason a broken line is quarantined with."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common.classify import REASON, classify_lines
from common.lines import read_json_lines
from common.rules.logs import LOG_CONTRACT
from schemas.logs import RAW_LOG

OK = '"timestamp":"2026-11-01T10:00:00Z","user_id":"u1","event_type":"page_view","status_code":200'

# line -> expected reason (None: valid)
CASES: dict[str, str | None] = {
    "{" + OK + "}": None,
    "{" + OK.replace(":200", ':"404"') + "}": None,
    "{" + OK.replace(":200", ": 599 ") + "}": None,
    "{" + OK.replace("Z", "") + "}": None,
    "{" + OK.replace("T10", " 10") + "}": None,
    "{" + OK.replace("Z", ".123456+05:30") + "}": None,
    "{" + OK.replace("Z", "-0800") + "}": None,
    "{" + OK + ',"extra":{"nested":[1,2]}}': None,
    "  {" + OK + "} \t": None,
    "{" + OK.replace('"u1"', '" u1\\t"').replace('"2026-11-01T10:00:00Z"', '" 2026-11-01T10:00:00Z\\n"') + "}": None,
    "": "blank_line",
    "  \t ": "blank_line",
    "not json": "malformed_json",
    "{" + OK: "malformed_json",
    "[{" + OK + "}]": "malformed_json",
    "42": "malformed_json",
    "null": "malformed_json",
    "{" + OK + "} extra": "malformed_json",
    "{" + OK + "} x \t": "malformed_json",
    "  \t[{" + OK + "}]": "malformed_json",
    '{"user_id":"u1","event_type":"page_view","status_code":200}': "missing_timestamp",
    "{" + OK.replace('"2026-11-01T10:00:00Z"', "null") + "}": "missing_timestamp",
    "{" + OK.replace("2026-11-01T10:00:00Z", "") + "}": "missing_timestamp",
    "{" + OK.replace("2026-11-01T10:00:00Z", "2026-11-01") + "}": "invalid_timestamp",
    "{" + OK.replace("2026-11-01T10:00:00Z", "2026-02-30T10:00:00Z") + "}": "invalid_timestamp",
    "{" + OK.replace("2026-11-01T10:00:00Z", "2026-11-01T24:00:00Z") + "}": "invalid_timestamp",
    "{" + OK.replace("2026-11-01T10:00:00Z", "01/11/2026 10:00") + "}": "invalid_timestamp",
    "{" + OK.replace('"2026-11-01T10:00:00Z"', "1793527200") + "}": "invalid_timestamp",
    "{" + OK.replace('"user_id":"u1"', '"user_id":""') + "}": "missing_user_id",
    "{" + OK.replace('"user_id":"u1",', "") + "}": "missing_user_id",
    "{" + OK.replace('"user_id":"u1"', '"user_id":{"id":"u1"}') + "}": "invalid_user_id",
    "{" + OK.replace('"event_type":"page_view"', '"event_type":" "') + "}": "missing_event_type",
    "{" + OK.replace('"event_type":"page_view"', '"event_type":["a"]') + "}": "invalid_event_type",
    "{" + OK.replace(',"status_code":200', "") + "}": "missing_status_code",
    "{" + OK.replace(":200", ":null") + "}": "missing_status_code",
    "{" + OK.replace(":200", ":99") + "}": "invalid_status_code",
    "{" + OK.replace(":200", ":600") + "}": "invalid_status_code",
    "{" + OK.replace(":200", ":404.0") + "}": "invalid_status_code",
    "{" + OK.replace(":200", ':"4o4"') + "}": "invalid_status_code",
    "{" + OK.replace(":200", ":-200") + "}": "invalid_status_code",
    "{" + OK.replace(":200", ":true") + "}": "invalid_status_code",
}


@pytest.fixture(scope="module")
def verdicts(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str | None, ...]]:
    """Classify every case in one Spark job; each test below reads its own line's verdict."""
    path = tmp_path_factory.mktemp("rules") / "cases.jsonl"
    path.write_text("\n".join(CASES) + "\n")
    rows = read_json_lines(spark, str(path), RAW_LOG).transform(classify_lines, LOG_CONTRACT).collect()
    assert len(rows) == len(CASES)
    return {line: (row[REASON], row["user_id"], row["status_code"]) for line, row in zip(CASES, rows, strict=True)}


@pytest.mark.parametrize(("line", "reason"), CASES.items(), ids=[r or "valid" for r in CASES.values()])
def test_line_gets_its_reason(verdicts, line: str, reason: str | None) -> None:
    assert verdicts[line][0] == reason


def test_every_reason_is_exercised() -> None:

    assert set(LOG_CONTRACT.reasons()) == {r for r in CASES.values() if r}


def test_valid_lines_are_typed(verdicts) -> None:
    assert verdicts["{" + OK.replace(":200", ':"404"') + "}"][1:] == ("u1", 404)
    assert verdicts["{" + OK.replace(":200", ": 599 ") + "}"][2] == 599


def test_timestamps_are_normalised_to_utc(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "zones.jsonl"
    stamps = ["2026-11-01T10:00:00+02:00", "2026-11-01 08:00:00", "2026-11-01T03:00:00-0500", "2026-11-01T08:00:00Z"]
    path.write_text("\n".join("{" + OK.replace("2026-11-01T10:00:00Z", s) + "}" for s in stamps) + "\n")
    rows = (
        read_json_lines(spark, str(path), RAW_LOG).transform(classify_lines, LOG_CONTRACT).select("event_ts").collect()
    )
    assert {str(r.event_ts) for r in rows} == {"2026-11-01 08:00:00"}


def test_raw_record_is_kept_only_for_quarantined_rows(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text("{" + OK + "}\nbroken\n")
    rows = read_json_lines(spark, str(path), RAW_LOG).transform(classify_lines, LOG_CONTRACT).collect()
    assert [(r[REASON], r.raw_record, r.source_file is not None) for r in rows] == [
        (None, None, False),
        ("malformed_json", "broken", True),
    ]
