"""Bad input and wrong arguments end with one line on stderr and a non-zero exit, and leave
no run report behind that could make a failed run look complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs import transaction_etl
from tests.cli import error_line, run_cli


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    return run_cli(transaction_etl.main, capsys, *argv)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--warehouse", "w"], "the following arguments are required: --transactions"),
        (["--transactions", "t"], "the following arguments are required: --warehouse"),
        (["--transactions", "t", "--warehouse", "w", "--bogus"], "unrecognized arguments: --bogus"),
        (["--transactions", "t", "--warehouse", "w", "--correction-window-days", "-1"], "'-1' must be at least 0"),
        (["--transactions", "t", "--warehouse", "w", "--target-file-mb", "0"], "'0' must be at least 1"),
        (["--transactions", "t", "--warehouse", "w", "--date", "2026-02-30"], "'2026-02-30' is not a date"),
    ],
)
def test_wrong_arguments_give_one_line_and_exit_2(capsys, argv: list[str], message: str) -> None:
    code, err = run_main(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err and err.startswith("transaction_etl: error:")


def test_a_dated_run_is_its_days_batch_and_an_undated_one_its_paths() -> None:
    day = transaction_etl.parse_args(
        ["--transactions", "in/dt=2026-12-06/", "--warehouse", "w", "--date", "2026-12-06"]
    )
    other = transaction_etl.parse_args(
        ["--transactions", "in/dt=2026-12-07/", "--warehouse", "w", "--date", "2026-12-07"]
    )
    assert transaction_etl.default_batch_id(day) == "2026-12-06" != transaction_etl.default_batch_id(other)
    undated = transaction_etl.parse_args(["--transactions", "in", "--warehouse", "w"])
    assert len(transaction_etl.default_batch_id(undated)) == 16  # a digest of the paths, as before


def test_help_text(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        transaction_etl.parse_args(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert all(option in out for option in ("--transactions", "--profiles", "--warehouse", "--batch-id"))


def test_missing_input_path(spark: SparkSession, capsys, tmp_path: Path) -> None:
    code, err = run_main(capsys, "--transactions", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "w"))
    assert code == 1
    assert error_line(err) == f"transaction_etl: error: input path not found: {tmp_path / 'nope'}"
    assert not (tmp_path / "w" / "run_report.json").exists()


def test_garbage_file_quarantines_everything_and_stops(spark: SparkSession, capsys, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\x01binary junk\n{not json}\n\n")
    code, err = run_main(capsys, "--transactions", str(garbage), "--warehouse", str(tmp_path / "w"))
    assert code == 1
    assert error_line(err) == (
        f"transaction_etl: error: no valid transaction lines in {garbage}: "
        "all 3 quarantined (blank_line=1, malformed_json=2)"
    )
    assert not (tmp_path / "w").exists()


def test_unusable_profiles_stop_the_run_before_any_write(
    spark: SparkSession, capsys, fixtures: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "profiles.jsonl"
    empty.write_text("")
    batch = fixtures / "transaction_etl" / "batch1"
    code, err = run_main(
        capsys, "--transactions", str(batch), "--profiles", str(empty), "--warehouse", str(tmp_path / "w")
    )
    assert code == 1
    assert error_line(err) == f"transaction_etl: error: no profile lines in {empty}"
    assert not (tmp_path / "w").exists()
