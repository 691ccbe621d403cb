"""Bad input and wrong arguments: one line naming the problem, a non-zero exit, and no
output that looks complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.version import __version__
from jobs import log_analytics
from tests.cli import error_line
from tests.golden import LOOSE_GATES

pytestmark = pytest.mark.slow


def run_main(*args: str) -> int:
    return log_analytics.main(list(args))


def test_missing_input_path(spark, tmp_path: Path, capsys) -> None:
    code = run_main("--input", str(tmp_path / "nope"), "--output", str(tmp_path / "out"))
    assert code == 1
    assert error_line(capsys.readouterr().err) == f"log_analytics: error: input path not found: {tmp_path / 'nope'}"
    assert not (tmp_path / "out").exists()


def test_glob_matching_nothing(spark, tmp_path: Path, capsys) -> None:
    code = run_main("--input", str(tmp_path / "*.jsonl"), "--output", str(tmp_path / "out"))
    assert code == 1
    assert error_line(capsys.readouterr().err).endswith(f"input path not found: {tmp_path / '*.jsonl'}")


def test_empty_directory(spark, tmp_path: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "_SUCCESS").touch()
    code = run_main("--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"))
    assert code == 1
    assert error_line(capsys.readouterr().err) == f"log_analytics: error: no input files under {tmp_path / 'in'}"


def test_empty_file(spark, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.jsonl").touch()
    code = run_main("--input", str(tmp_path / "empty.jsonl"), "--output", str(tmp_path / "out"))
    assert code == 1
    assert error_line(capsys.readouterr().err) == f"log_analytics: error: no log lines in {tmp_path / 'empty.jsonl'}"
    assert not (tmp_path / "out").exists()


def test_file_of_garbage(spark, tmp_path: Path, capsys) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b'\x00\x01binary\xff\nnot json at all\n{"half": \n')
    code = run_main("--input", str(garbage), "--output", str(tmp_path / "out"))
    assert code == 1
    assert error_line(capsys.readouterr().err) == (
        f"log_analytics: error: no valid log lines in {garbage}: all 3 quarantined (malformed_json=3)"
    )
    assert not (tmp_path / "out").exists()


def test_failed_rerun_keeps_the_previous_complete_output(spark, fixtures: Path, tmp_path: Path, capsys) -> None:
    """A rerun that fails on its input touches nothing: the earlier report and tables stand."""
    output = tmp_path / "out"
    golden = ("--input", str(fixtures / "log_analytics" / "input"), "--output", str(output), *LOOSE_GATES)
    assert run_main(*golden) == 0
    before = (output / "run_report.json").read_text()
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("nope\n")
    assert run_main("--input", str(garbage), "--output", str(output)) == 1
    assert (output / "run_report.json").read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "o"], "the following arguments are required: --input"),
        (["--input", "i", "--output", "o", "--window-minutes", "abc"], "'abc' is not a whole number"),
        (["--input", "i", "--output", "o", "--window-minutes", "0"], "'0' must be at least 1"),
        (["--input", "i", "--output", "o", "--format", "csv"], "invalid choice: 'csv'"),
        (["--input", "i", "--output", "o", "--z-threshold", "nan"], "'nan' must be a finite number above 0"),
        (["--input", "i", "--output", "o", "--z-threshold", "-1"], "'-1' must be a finite number above 0"),
        (["--input", "i", "--output", "o", "--z-threshold", "high"], "'high' is not a number"),
        (["--input", "i", "--output", "o", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_wrong_arguments(args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main(*args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("log_analytics: error: ") and message in err and err.rstrip().endswith("(see --help)")


def test_help_shows_defaults_but_not_none(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main("--help")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "(default: 60)" in out  # --window-minutes
    assert "(default: None)" not in out


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main("--version")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"log_analytics {__version__}"
