"""The customer CSV contract: reading (headers, quoting, several files), each validity rule and
its quarantine reason, and the plain-Python scorer judging a record exactly as Spark does."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pyspark.sql import Row, SparkSession

from common import segment_scorer
from common.classify import REASON, classify_lines
from common.errors import InputError
from common.lines import read_csv_lines
from common.rules import fields
from common.rules.customers import CUSTOMER_CONTRACT
from common.segment_scorer import InvalidCustomerError, clean_customer
from schemas.customers import RAW_CUSTOMER

HEADER = "customer_id,age,gender,marital_status,annual_income,spending_score"
OK = "c1,34,Female,Married,52000,61"

# line -> expected reason (None: valid)
CASES: dict[str, str | None] = {
    OK: None,
    "c2, 34 , female ,  married ,52000.75,1": None,
    '"c3",0,"Male","Single","48,000.5",100': "invalid_annual_income",
    '"c4",120,"Male","Single","+48000.5",100': None,
    "c5,34,Female,Married,0,61": None,
    "c6,34,Female,Married,-0,61": None,
    "": "blank_line",
    " \t": "blank_line",
    "c7,34,Female,Married,52000": "malformed_csv",
    "c8,34,Female,Married,52000,61,extra": "malformed_csv",
    ",34,Female,Married,52000,61": "missing_customer_id",
    " ,34,Female,Married,52000,61": "missing_customer_id",
    "c9,,Female,Married,52000,61": "missing_age",
    "c10,-1,Female,Married,52000,61": "invalid_age",
    "c11,121,Female,Married,52000,61": "invalid_age",
    "c12,34.0,Female,Married,52000,61": "invalid_age",
    "c13,thirty,Female,Married,52000,61": "invalid_age",
    "c14,34,,Married,52000,61": "missing_gender",
    "c15,34,Female,   ,52000,61": "missing_marital_status",
    "c16,34,Female,Married,,61": "missing_annual_income",
    "c17,34,Female,Married,$52000,61": "invalid_annual_income",
    "c18,34,Female,Married,5.2e4,61": "invalid_annual_income",
    "c19,34,Female,Married,-52000,61": "negative_annual_income",
    "c20,34,Female,Married,-0.01,61": "negative_annual_income",
    "c21,34,Female,Married,52000,": "missing_spending_score",
    "c22,34,Female,Married,52000,0": "invalid_spending_score",
    "c23,34,Female,Married,52000,101": "invalid_spending_score",
    "c24,34,Female,Married,52000,6.5": "invalid_spending_score",
    "dup,34,Female,Married,52000,61": "duplicate_customer_id",
    "dup,35,Male,Single,1000,2": "duplicate_customer_id",
    "c25,,,,,": "missing_age",  # several problems: the first in column order wins
}


@pytest.fixture(scope="module")
def verdicts(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Row]:
    """Classify every case in one Spark job; each test below reads its own line's verdict."""
    path = tmp_path_factory.mktemp("customer_rules") / "cases.csv"
    path.write_text(HEADER + "\n" + "\n".join(CASES) + "\n")
    rows = read_csv_lines(spark, str(path), RAW_CUSTOMER).transform(classify_lines, CUSTOMER_CONTRACT).collect()
    assert len(rows) == len(CASES)
    valid_by_id = {next(csv.reader([line]))[0]: line for line, reason in CASES.items() if reason is None}
    return {row.raw_record if row[REASON] else valid_by_id[row.customer_id]: row for row in rows}


@pytest.mark.parametrize(("line", "reason"), CASES.items(), ids=[r or "valid" for r in CASES.values()])
def test_line_gets_its_reason(verdicts, line: str, reason: str | None) -> None:
    assert verdicts[line][REASON] == reason


def test_every_reason_is_exercised() -> None:
    assert set(CUSTOMER_CONTRACT.reasons()) == {r for r in CASES.values() if r}


def test_valid_lines_are_typed_and_cleaned(verdicts) -> None:
    row = verdicts["c2, 34 , female ,  married ,52000.75,1"]
    assert (row.customer_id, row.age, row.gender, row.marital_status, row.annual_income, row.spending_score) == (
        "c2",
        34,
        "female",
        "married",
        52000.75,
        1,
    )
    assert verdicts['"c4",120,"Male","Single","+48000.5",100'].annual_income == 48000.5
    assert verdicts[OK].raw_record is None and verdicts[OK].source_file is None


@pytest.mark.parametrize(("line", "reason"), CASES.items(), ids=[r or "valid" for r in CASES.values()])
def test_python_scorer_judges_a_record_as_spark_does(line: str, reason: str | None) -> None:
    """Field rules only: blank, malformed and duplicate lines are about files, not records."""
    if reason in {"blank_line", "malformed_csv", "missing_customer_id", "duplicate_customer_id"}:
        return
    record = dict(zip(HEADER.split(","), next(csv.reader([line])), strict=True))
    if reason is None:
        assert clean_customer(record)["age"] == int(record["age"])
    else:
        with pytest.raises(InvalidCustomerError) as error:
            clean_customer(record)
        assert error.value.reason == reason


def test_python_scorer_uses_the_spark_rules_patterns() -> None:
    assert segment_scorer.INTEGER_PATTERN == fields.INTEGER_PATTERN
    assert segment_scorer.NUMBER_PATTERN == fields.NUMBER_PATTERN
    assert segment_scorer.WHITESPACE == fields.WHITESPACE


def test_every_file_has_its_header_and_headers_are_not_rows(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.csv").write_text(HEADER + "\n" + OK + "\n")
    (folder / "nested" / "b.csv").write_bytes(("\ufeff" + HEADER + "\r\nc2,40,Male,Single,1000,5\r\n").encode())
    (folder / "header-only.csv").write_text(HEADER + "\n")
    (folder / "empty.csv").write_text("")
    (folder / "_ignored.csv").write_text("not,a,header\n")
    rows = read_csv_lines(spark, str(folder), RAW_CUSTOMER).transform(classify_lines, CUSTOMER_CONTRACT).collect()
    assert sorted((r.customer_id, r[REASON]) for r in rows) == [("c1", None), ("c2", None)]


@pytest.mark.parametrize(
    "header",
    [
        "id,age,gender,marital_status,annual_income,spending_score",
        "customer_id,gender,age,marital_status,annual_income,spending_score",
        "customer_id,age,gender,marital_status,annual_income",
        OK,
    ],
    ids=["renamed", "reordered", "missing", "no-header"],
)
def test_a_file_without_the_contract_header_stops_the_read(spark: SparkSession, tmp_path: Path, header: str) -> None:
    (tmp_path / "good.csv").write_text(HEADER + "\n" + OK + "\n")
    (tmp_path / "bad.csv").write_text(header + "\n" + OK + "\n")
    with pytest.raises(InputError, match=r"bad\.csv: header '.*' does not match the contract 'customer_id,age,"):
        read_csv_lines(spark, str(tmp_path), RAW_CUSTOMER)
