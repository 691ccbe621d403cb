"""erase_users without a job run: which quarantine lines hold an id and how, the Redshift SQL,
and bad arguments or roots as one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from common import erasure
from jobs import erase_users
from tests.cli import error_line, run_cli

LINES = [
    ('{"user_id":"u1","amount":1}', "json_value"),
    ('{"user_id": 42, "x": 1}', None),  # 42 is not an id asked for
    ('{"order":{"buyer":"u1"}}', "json_value"),  # nested field value
    ('[{"user_id":"u1"}]', "json_value"),  # parses: an array
    ('{"user_id":"u1"} trailing', "json_value"),  # parses: its first value
    ('{"note":"u1 wrote"}', None),  # parses: u1 only inside a value, not the value
    ('{"u1":"x"}', None),  # a key, not a value
    ('{"user_id":"u10"}', None),
    ('{"transaction_id":"t13","user_id":"u1"', "token"),  # does not parse
    ("oops u1, again", "token"),
    ("oops u10 and xu1", None),
    ("", None),
]


def test_a_quarantine_line_holds_an_id_as_a_json_value_or_a_whole_token(spark: SparkSession) -> None:
    df = spark.createDataFrame([(raw,) for raw, _ in LINES], "raw_record string")
    found = {row["raw_record"]: row["mention"] for row in df.transform(erase_users.with_mention, ["u1"]).collect()}
    assert found == dict(LINES)


def test_ids_with_regex_and_json_characters_match_literally(spark: SparkSession) -> None:
    lines = ['{"user_id":"a.b"}', '{"user_id":"axb"}', '{"user_id":"q\\"1"}', "a.b (truncated"]
    df = spark.createDataFrame([(raw,) for raw in lines], "raw_record string")
    found = {r["raw_record"]: r["mention"] for r in df.transform(erase_users.with_mention, ["a.b", 'q"1']).collect()}
    assert found == {lines[0]: "json_value", lines[1]: None, lines[2]: "json_value", lines[3]: "token"}


def test_later_loads_drop_the_lines_of_erased_users_and_count_them(spark: SparkSession) -> None:
    df = spark.createDataFrame([(raw,) for raw, _ in LINES], "raw_record string")
    kept, counts = erasure.drop_erased(df, [erasure.user_hash("u1")])
    assert counts == {"erased_users": 1, "rows_dropped": sum(1 for _, how in LINES if how)}
    assert sorted(r[0] for r in kept.collect()) == sorted(raw for raw, how in LINES if not how)
    assert erasure.drop_erased(df, []) == (df, {"erased_users": 0, "rows_dropped": 0})


def test_an_id_is_kept_hashed_as_spark_hashes_it(spark: SparkSession) -> None:
    [row] = spark.createDataFrame([("ü1",)], "u string").select(F.sha2("u", 256)).collect()
    assert erasure.user_hash("ü1") == row[0]


def test_redshift_sql_quotes_the_ids() -> None:
    assert erase_users.erase_sql(["o'neil"]) == (
        "BEGIN;\n"
        "DELETE FROM user_profiles WHERE user_id IN ('o''neil');\n"
        "DELETE FROM daily_user_totals WHERE user_id IN ('o''neil');\n"
        "COMMIT;\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--root", "r"], "give at least one --user-id or a --user-ids-file"),
        (["--root", "r", "--user-id", "  "], "a user id cannot be blank"),
        (["--user-id", "u1"], "the following arguments are required: --root"),
        (["--root", "r", "--user-id", "u1", "--retain-hours", "0"], "--retain-hours is for --purge"),
    ],
)
def test_bad_arguments_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, err = run_cli(erase_users.main, capsys, *argv)
    assert code == 2
    assert message in error_line(err)


def test_retain_hours_defaults_to_the_tables_window_with_purge() -> None:
    base = ["--root", "r", "--user-id", "u1", "--purge"]
    assert erase_users.parse_args(base).retain_hours == 168
    assert erase_users.parse_args([*base, "--retain-hours", "0"]).retain_hours == 0
    assert erase_users.parse_args(base[:-1]).retain_hours == 168  # unused, as the report records it


def test_a_root_that_is_no_warehouse_is_one_line(
    spark: SparkSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = run_cli(erase_users.main, capsys, "--root", str(tmp_path), "--user-id", "u1")
    assert code == 1
    assert error_line(err).startswith(f"erase_users: error: {tmp_path} is neither a transaction warehouse")


def test_an_empty_or_missing_ids_file_is_one_line(
    spark: SparkSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "ids.txt").write_text("\n  \n")
    code, err = run_cli(erase_users.main, capsys, "--root", str(tmp_path), "--user-ids-file", str(tmp_path / "ids.txt"))
    assert (code, error_line(err)) == (1, f"erase_users: error: no user ids in {tmp_path / 'ids.txt'}")
    code, err = run_cli(erase_users.main, capsys, "--root", str(tmp_path), "--user-ids-file", str(tmp_path / "no.txt"))
    assert (code, error_line(err)) == (1, f"erase_users: error: no user ids file at {tmp_path / 'no.txt'}")
