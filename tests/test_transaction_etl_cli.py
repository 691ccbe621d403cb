"""Bad input and wrong arguments end with one line on stderr and a non-zero exit, and leave
no run report behind that could make a failed run look complete."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common.logs import get_logger
from jobs import transaction_etl


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str]:
    """Run the CLI in-process; returns the exit code and everything written to stderr,
    including the job's JSON log records (its handler is pointed at the same buffer)."""
    err = io.StringIO()
    for handler in get_logger(transaction_etl.JOB).handlers:
        if isinstance(handler, logging.StreamHandler):
            monkeypatch.setattr(handler, "stream", err)
    with contextlib.redirect_stderr(err):
        try:
            code = transaction_etl.main(list(argv))
        except SystemExit as exc:  # argparse exits by itself
            code = int(exc.code)
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--warehouse", "w"], "the following arguments are required: --transactions"),
        (["--transactions", "t"], "the following arguments are required: --warehouse"),
        (["--transactions", "t", "--warehouse", "w", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_wrong_arguments_give_one_line_and_exit_2(monkeypatch, argv: list[str], message: str) -> None:
    code, err = run_main(monkeypatch, *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err and err.startswith("transaction_etl: error:")


def test_help_text(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        transaction_etl.parse_args(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert all(option in out for option in ("--transactions", "--profiles", "--warehouse", "--batch-id"))


def failure_line(err: str) -> str:
    """The job's own stderr line (its JSON log record goes to the same stream)."""
    lines = [line for line in err.splitlines() if line.startswith("transaction_etl: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_input_path(spark: SparkSession, monkeypatch, tmp_path: Path) -> None:
    code, err = run_main(monkeypatch, "--transactions", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "w"))
    assert code == 1
    assert failure_line(err) == f"transaction_etl: error: input path not found: {tmp_path / 'nope'}"
    assert not (tmp_path / "w" / "run_report.json").exists()


def test_garbage_file_quarantines_everything_and_stops(spark: SparkSession, monkeypatch, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\x01binary junk\n{not json}\n\n")
    code, err = run_main(monkeypatch, "--transactions", str(garbage), "--warehouse", str(tmp_path / "w"))
    assert code == 1
    assert failure_line(err) == (
        f"transaction_etl: error: no valid transaction lines in {garbage}: "
        "all 3 quarantined (blank_line=1, malformed_json=2)"
    )
    assert not (tmp_path / "w").exists()


def test_unusable_profiles_stop_the_run_before_any_write(
    spark: SparkSession, monkeypatch, fixtures: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "profiles.jsonl"
    empty.write_text("")
    batch = fixtures / "transaction_etl" / "batch1"
    code, err = run_main(
        monkeypatch, "--transactions", str(batch), "--profiles", str(empty), "--warehouse", str(tmp_path / "w")
    )
    assert code == 1
    assert failure_line(err) == f"transaction_etl: error: no profile lines in {empty}"
    assert not (tmp_path / "w").exists()
