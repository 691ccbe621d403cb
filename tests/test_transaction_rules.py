"""Each validity rule of the transaction and profile contracts, and the reason a broken line
is quarantined with. Amounts are exact: nothing is rounded on the way in."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession

from common.classify import REASON, classify_lines
from common.lines import read_json_lines
from common.rules.transactions import EXACT_NUMBER_FIELDS, PROFILE_CONTRACT, TRANSACTION_CONTRACT
from schemas.transactions import RAW_PROFILE, RAW_TRANSACTION

OK = '"transaction_id":"t1","user_id":"u1","timestamp":"2026-11-01T10:00:00Z","amount":12.5'


def tx(amount: str) -> str:
    return "{" + OK.replace('"amount":12.5', f'"amount":{amount}') + "}"


# line -> (reason, amount when valid)
CASES: dict[str, tuple[str | None, Decimal | None]] = {
    "{" + OK + "}": (None, Decimal("12.50")),
    tx('"12.5"'): (None, Decimal("12.50")),
    tx("-20.00"): (None, Decimal("-20.00")),
    tx('" -0.01 "'): (None, Decimal("-0.01")),
    tx("0"): (None, Decimal("0.00")),
    tx("1234567890123456.78"): (None, Decimal("1234567890123456.78")),
    tx("9999999999999999.99"): (None, Decimal("9999999999999999.99")),
    tx("  7 "): (None, Decimal("7.00")),
    "{" + OK + ',"extra":{"amount":1.234}}': (None, Decimal("12.50")),
    "": ("blank_line", None),
    "not json": ("malformed_json", None),
    "{" + OK: ("malformed_json", None),
    "[{" + OK + "}]": ("malformed_json", None),
    "{" + OK + "} tail": ("malformed_json", None),
    tx("01"): ("malformed_json", None),
    "{" + OK.replace('"transaction_id":"t1"', '"transaction_id":" "') + "}": ("missing_transaction_id", None),
    "{" + OK.replace('"transaction_id":"t1",', "") + "}": ("missing_transaction_id", None),
    "{" + OK.replace('"transaction_id":"t1"', '"transaction_id":["t1"]') + "}": ("invalid_transaction_id", None),
    "{" + OK.replace('"user_id":"u1"', '"user_id":null') + "}": ("missing_user_id", None),
    "{" + OK.replace('"user_id":"u1"', '"user_id":{"id":1}') + "}": ("invalid_user_id", None),
    "{" + OK.replace('"timestamp":"2026-11-01T10:00:00Z",', "") + "}": ("missing_timestamp", None),
    "{" + OK.replace("2026-11-01T10:00:00Z", "2026-11-01") + "}": ("invalid_timestamp", None),
    "{" + OK.replace("2026-11-01T10:00:00Z", "2026-02-30T10:00:00Z") + "}": ("invalid_timestamp", None),
    "{" + OK.replace(',"amount":12.5', "") + "}": ("missing_amount", None),
    tx("null"): ("missing_amount", None),
    tx('""'): ("missing_amount", None),
    tx("10.005"): ("invalid_amount", None),
    tx("12.3400000000000001"): ("invalid_amount", None),
    tx('"10.005"'): ("invalid_amount", None),
    tx("1e2"): ("invalid_amount", None),
    tx('"12,50"'): ("invalid_amount", None),
    tx('"abc"'): ("invalid_amount", None),
    tx('".5"'): ("invalid_amount", None),
    tx("true"): ("invalid_amount", None),
    tx('{"value":1}'): ("invalid_amount", None),
    tx("12345678901234567.00"): ("invalid_amount", None),
}


@pytest.fixture(scope="module")
def verdicts(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Classify every case in one Spark job; each test reads its own line's verdict."""
    path = tmp_path_factory.mktemp("tx_rules") / "cases.jsonl"
    path.write_text("\n".join(CASES) + "\n")
    lines = read_json_lines(spark, str(path), RAW_TRANSACTION, exact_numbers=EXACT_NUMBER_FIELDS)
    rows = lines.transform(classify_lines, TRANSACTION_CONTRACT).collect()
    assert len(rows) == len(CASES)
    return {line: (row[REASON], row["amount"], row["transaction_ts"]) for line, row in zip(CASES, rows, strict=True)}


@pytest.mark.parametrize(("line", "case"), CASES.items(), ids=[r or "valid" for r, _ in CASES.values()])
def test_transaction_line_gets_its_reason_and_exact_amount(verdicts, line: str, case: tuple) -> None:
    reason, amount = case
    assert verdicts[line][0] == reason
    if reason is None:
        assert verdicts[line][1] == amount
        assert verdicts[line][1].as_tuple().exponent == -2


def test_every_transaction_reason_is_exercised() -> None:
    assert set(TRANSACTION_CONTRACT.reasons()) == {r for r, _ in CASES.values() if r}


def test_timestamps_are_normalised_to_utc(verdicts) -> None:
    line = "{" + OK + "}"
    assert verdicts[line][2] == datetime(2026, 11, 1, 10, 0, 0)


PROFILE_CASES: dict[str, str | None] = {
    '{"user_id":"u1","country":"DE","segment":"retail","signup_date":"2025-03-14","updated_at":"2026-10-01"}': (
        "invalid_updated_at"
    ),
    '{"user_id":"u1","country":"DE","signup_date":"2025-03-14","updated_at":"2026-10-01T00:00:00Z"}': None,
    '{"user_id":"u1"}': None,
    '{"user_id":"u1","country":"","segment":null,"signup_date":" "}': None,
    "": "blank_line",
    "{oops}": "malformed_json",
    '{"country":"DE"}': "missing_user_id",
    '{"user_id":["u1"]}': "invalid_user_id",
    '{"user_id":"u1","country":["DE"]}': "invalid_country",
    '{"user_id":"u1","segment":{"a":1}}': "invalid_segment",
    '{"user_id":"u1","signup_date":"14/03/2025"}': "invalid_signup_date",
    '{"user_id":"u1","signup_date":"2025-02-29"}': "invalid_signup_date",
    '{"user_id":"u1","updated_at":"soon"}': "invalid_updated_at",
}


def test_profile_lines_get_their_reasons(spark: SparkSession, tmp_path) -> None:
    path = tmp_path / "profiles.jsonl"
    path.write_text("\n".join(PROFILE_CASES) + "\n")
    rows = read_json_lines(spark, str(path), RAW_PROFILE).transform(classify_lines, PROFILE_CONTRACT).collect()
    assert [r[REASON] for r in rows] == list(PROFILE_CASES.values())
    assert set(PROFILE_CONTRACT.reasons()) == {r for r in PROFILE_CASES.values() if r}
    blank_attributes = rows[2]
    assert (blank_attributes.country, blank_attributes.segment, blank_attributes.signup_date) == (None, None, None)


QUOTED = {
    '{"amount":12.3400000000000001}': '{"amount":"12.3400000000000001"}',
    '{"id":"a", "amount" :\t-5 , "n":1}': '{"id":"a", "amount" :\t"-5" , "n":1}',
    '{"amount":1e2}': '{"amount":"1e2"}',
    '{"amount":"7.25"}': '{"amount":"7.25"}',
    '{"amount":012}': '{"amount":012}',
    '{"amount":12.5x}': '{"amount":12.5x}',
    '{"amounts":12}': '{"amounts":12}',
    '{"n":12}': '{"n":12}',
}


def test_json_numbers_of_exact_fields_are_quoted_digit_for_digit(spark: SparkSession) -> None:
    from pyspark.sql import functions as F

    from common.lines import quote_json_numbers

    df = spark.createDataFrame([(i, line) for i, line in enumerate(QUOTED)], "i int, line string")
    got = [r[0] for r in df.orderBy("i").select(quote_json_numbers(F.col("line"), EXACT_NUMBER_FIELDS)).collect()]
    assert got == list(QUOTED.values())
