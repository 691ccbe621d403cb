"""Structured logging: one JSON object per line, so CloudWatch Logs Insights can query fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record and its `extra=` fields as a single JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        return json.dumps(entry, default=str)


class CurrentStderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a record is emitted, not as it was when the logger
    was made: a logger created while stderr was swapped (pytest's capture, a notebook) would
    otherwise write to a closed stream, and `logging` would print a traceback about it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr


def get_logger(name: str) -> logging.Logger:
    """A logger writing JSON lines to stderr; idempotent, so tests can call it repeatedly."""
    logger = logging.getLogger(name)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = CurrentStderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
