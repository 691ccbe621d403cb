"""Each validity rule of the log contract, and the reason a broken line is quarantined with."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common.classify import REASON, classify_lines
from common.field_map import absent_fields, canonical, parse_field_map, read_json_fields
from common.lines import read_json_lines
from common.rules.logs import LOG_CONTRACT
from jobs.log_analytics import LOG_FIELDS
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


# ── --field-map: the same rules and reasons, on lines that hold the fields under other names ──

MAP = {
    "timestamp": "@timestamp",
    "user_id": "user.id",
    "event_type": "event.action",
    "status_code": "http.response.status_code",
}
MAPPED_OK = (
    '"@timestamp":"2026-11-01T10:00:00Z","user":{"id":"u1","name":"Ann"},"event":{"action":"page_view"},'
    '"http":{"response":{"status_code":200}}'
)

MAPPED_CASES: dict[str, str | None] = {
    "{" + MAPPED_OK + "}": None,
    "{" + MAPPED_OK + ',"timestamp":"not read"}': None,
    "{" + MAPPED_OK.replace('{"id":"u1",', '{"id":7,') + "}": None,
    "": "blank_line",
    "{" + MAPPED_OK: "malformed_json",
    "{" + MAPPED_OK.replace('"@timestamp"', '"timestamp"') + "}": "missing_timestamp",
    "{" + MAPPED_OK.replace("2026-11-01T10:00:00Z", "yesterday") + "}": "invalid_timestamp",
    # an intermediate key that is not an object: the field is absent, not the line unreadable
    "{" + MAPPED_OK.replace('{"id":"u1","name":"Ann"}', '"u1"') + "}": "missing_user_id",
    "{" + MAPPED_OK.replace('{"id":"u1",', '{"ID":"u1",') + "}": "missing_user_id",
    "{" + MAPPED_OK.replace('"id":"u1"', '"id":{"v":"u1"}') + "}": "invalid_user_id",
    "{" + MAPPED_OK.replace('{"action":"page_view"}', "null") + "}": "missing_event_type",
    "{" + MAPPED_OK.replace('"page_view"', '["page_view"]') + "}": "invalid_event_type",
    "{" + MAPPED_OK.replace('"response":{"status_code":200}', '"response":{}') + "}": "missing_status_code",
    "{" + MAPPED_OK.replace('"status_code":200', '"status_code":"2xx"') + "}": "invalid_status_code",
}


@pytest.fixture(scope="module")
def mapped_verdicts(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    path = tmp_path_factory.mktemp("mapped") / "cases.jsonl"
    path.write_text("\n".join(MAPPED_CASES) + "\n")
    rows = read_json_fields(spark, [str(path)], MAP).transform(classify_lines, LOG_CONTRACT).collect()
    assert len(rows) == len(MAPPED_CASES)
    return {
        line: (row[REASON], row["user_id"], row["event_type"], row["status_code"])
        for line, row in zip(MAPPED_CASES, rows, strict=True)
    }


@pytest.mark.parametrize(("line", "reason"), MAPPED_CASES.items(), ids=[r or "valid" for r in MAPPED_CASES.values()])
def test_mapped_line_gets_the_contracts_reason(mapped_verdicts, line: str, reason: str | None) -> None:
    assert mapped_verdicts[line][0] == reason


def test_mapped_cases_exercise_every_reason() -> None:
    assert set(LOG_CONTRACT.reasons()) == {r for r in MAPPED_CASES.values() if r}


def test_mapped_fields_are_read_from_their_paths(mapped_verdicts) -> None:
    assert mapped_verdicts["{" + MAPPED_OK + "}"][1:] == ("u1", "page_view", 200)
    assert mapped_verdicts["{" + MAPPED_OK.replace('{"id":"u1",', '{"id":7,') + "}"][1] == "7"


def test_identity_map_reads_as_the_contract(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_text("\n".join(CASES) + "\n")
    identity = {name: name for name in LOG_FIELDS}
    mapped = read_json_fields(spark, [str(path)], identity).transform(classify_lines, LOG_CONTRACT)
    plain = read_json_lines(spark, str(path), RAW_LOG).transform(classify_lines, LOG_CONTRACT)
    assert sorted(mapped.collect(), key=str) == sorted(plain.collect(), key=str)


def test_a_map_whose_field_no_first_line_holds_is_named(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    path.write_text("\n".join(["", "not json", "{" + MAPPED_OK + "}"]) + "\n")
    wrong = {**MAP, "user_id": "user.uid", "event_type": "action"}
    assert absent_fields(read_json_fields(spark, [str(path)], MAP), MAP, 10) == []
    lines = read_json_fields(spark, [str(path)], wrong)
    assert absent_fields(lines, wrong, 10) == ["user_id=user.uid", "event_type=action"]
    # lines that are not JSON objects prove nothing
    assert absent_fields(lines, wrong, 2) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("timestamp", "is not field=path"),
        ("timestamp=", "is not field=path"),
        ("ts=@timestamp", "is not a field of the log contract"),
        ("user_id=a,user_id=b", "is mapped twice"),
        ("user_id=user..id", "is not a dotted path of keys"),
        ("user_id=user.i'd", "is not a dotted path of keys"),
        ("user_id=_corrupt_record", "the reader's own column"),
    ],
)
def test_a_bad_field_map_is_one_line(text: str, problem: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=problem):
        parse_field_map(text, LOG_FIELDS)


def test_a_field_map_names_every_field_in_the_contracts_order() -> None:
    mapping = parse_field_map(" user_id = user.id , timestamp=@timestamp", LOG_FIELDS)
    assert list(mapping.items()) == [
        ("timestamp", "@timestamp"),
        ("user_id", "user.id"),
        ("event_type", "event_type"),
        ("status_code", "status_code"),
    ]
    assert canonical(mapping) == "timestamp=@timestamp,user_id=user.id,event_type=event_type,status_code=status_code"
