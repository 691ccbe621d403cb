"""A job's command line as its user meets it: the exit code, and the one line it prints on
failure (its JSON log records share stderr, so the line is picked out by its prefix)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pytest

ERROR_LINE = re.compile(r"^[a-z_]+: error: ")


def error_line(err: str) -> str:
    """The one error line in `err`; fails the test on a stack trace or a second error line."""
    assert "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if ERROR_LINE.match(line)]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


def run_cli(main: Callable[[Sequence[str]], int], capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run `main` in-process; returns its exit code (argparse's too) and all it wrote to stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits by itself
        code = int(exc.code)
    return code, capsys.readouterr().err
