"""Field-level parsing and rule builders shared by every dataset (JSON lines, CSV), and the
`text` / `parsed` field declarations contracts are written with.

A parser returns the typed value or null; the matching rules say why a value is unusable.
Jobs keep the very values the rules judged, so rule and value agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

from common.classify import Field, RowRule
from common.lines import CORRUPT_RECORD, RAW_RECORD
from common.patterns import INTEGER_PATTERN, ISO_DATE_PATTERN, ISO_TIMESTAMP_PATTERN, NUMBER_PATTERN, WHITESPACE

# The patterns themselves live in a standard-library module the plain-Python scorer shares.
__all__ = ["INTEGER_PATTERN", "ISO_DATE_PATTERN", "ISO_TIMESTAMP_PATTERN", "NUMBER_PATTERN", "WHITESPACE"]


def strip(value: Column) -> Column:
    """Without surrounding white space (Spark's `trim` only removes spaces)."""
    return F.btrim(value, F.lit(WHITESPACE))


def matches(value: Column, pattern: str) -> Column:
    """`value` matches an anchored `pattern` once surrounding white space is set aside.

    The parsers below check the untrimmed text and cast it as it is: Spark's casts to numbers,
    dates and timestamps ignore surrounding white space themselves, and trimming first costs
    a copy of every value (Spark's trim of a character set indexes the whole string).
    """
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"pattern must be anchored with ^...$: {pattern}")
    space = "[" + WHITESPACE.encode("unicode_escape").decode() + "]*"
    return value.rlike(f"^{space}(?:{pattern[1:-1]}){space}$")


def is_blank(value: Column) -> Column:
    """Null, empty or only white space."""
    return value.isNull() | (strip(value) == "")


def parse_iso_timestamp(value: Column) -> Column:
    """The instant as a UTC timestamp (the session runs in UTC; no offset means UTC), or null.

    Spark's cast returns null for impossible dates such as 2026-02-30, which the pattern lets by.
    """
    # 'Z' is UTC, the session's zone: cast without it. Spark resolves an explicit zone with two
    # regular expressions per value, which makes the cast about twice as slow.
    utc = F.when(value.endswith("Z"), value.substr(F.lit(1), F.length(value) - 1)).otherwise(value)
    return F.when(matches(value, ISO_TIMESTAMP_PATTERN), utc.cast("timestamp"))


def parse_integer(value: Column) -> Column:
    """An int from a JSON number or numeric string written as a plain integer, or null."""
    return F.when(matches(value, INTEGER_PATTERN), value.cast("int"))


def decimal_pattern(precision: int, scale: int) -> str:
    """Plain decimal notation that fits decimal(precision, scale) exactly: optional sign, at
    most `precision - scale` integer digits, at most `scale` decimals. No exponent, no
    thousands separators, no bare '.5'."""
    if not 0 < scale < precision:
        raise ValueError(f"need 0 < scale < precision, got decimal({precision},{scale})")
    return rf"^[+-]?[0-9]{{1,{precision - scale}}}(\.[0-9]{{1,{scale}}})?$"


def parse_decimal(value: Column, precision: int = 18, scale: int = 2) -> Column:
    """An exact decimal(precision, scale) from a JSON number or numeric string, or null.

    The text is checked before the cast because Spark's cast rounds: '10.005' would become
    10.01 and '1e2' would become 100.00. Money must never change silently, so a value with
    more decimals than `scale` (or that needs rounding of any kind) is rejected instead.
    Read JSON numbers with `read_json_lines(..., exact_numbers=...)`: Spark's JSON reader
    otherwise passes numbers through a double first.
    """
    return F.when(matches(value, decimal_pattern(precision, scale)), value.cast(f"decimal({precision},{scale})"))


def parse_iso_date(value: Column) -> Column:
    """A date written yyyy-MM-dd, or null (impossible dates such as 2026-02-30 included)."""
    return F.when(matches(value, ISO_DATE_PATTERN), value.cast("date"))


def parse_number(value: Column) -> Column:
    """A double from a plain number (see NUMBER_PATTERN), or null: for measures, not money."""
    return F.when(matches(value, NUMBER_PATTERN), value.cast("double"))


def clean_text(value: Column) -> Column:
    """Identifiers and labels without surrounding white space."""
    return strip(value)


def blank_line() -> RowRule:
    # A line that starts like a JSON object is not blank: most lines skip the trim.
    line = F.col(RAW_RECORD)
    return RowRule("blank_line", "the line is empty", lambda: ~line.startswith("{") & is_blank(line))


def malformed_json() -> RowRule:
    """Not a single JSON object: unparseable, an array or scalar, or trailing text after '}'."""
    return RowRule(
        "malformed_json",
        "the line is not one JSON object",
        # A line that ends in '}' needs no trim first (trimming a whole line is costly in Spark).
        lambda: (
            F.col(CORRUPT_RECORD).isNotNull()
            | ~(F.col(RAW_RECORD).endswith("}") | strip(F.col(RAW_RECORD)).endswith("}"))
        ),
    )


def malformed_csv() -> RowRule:
    """Not one CSV record of the contract's width: too few or too many fields, or a stray quote."""
    return RowRule(
        "malformed_csv",
        "the line does not split into the contract's columns",
        lambda: F.col(CORRUPT_RECORD).isNotNull(),
    )


RuleBuilder = Callable[[str, str], Sequence[RowRule]]


def nested_value(value: Column) -> Column:
    """A JSON object or array where a string belongs (Spark hands it over as its JSON text)."""
    return value.startswith("{") | value.startswith("[")


def required_text(raw: str, typed: str) -> list[RowRule]:
    """A non-empty string; a nested object or array in its place is invalid."""
    return [
        RowRule(f"missing_{raw}", f"{raw} is absent, null or blank", lambda: is_blank(F.col(typed))),
        RowRule(f"invalid_{raw}", f"{raw} is an object or array, not a string", lambda: nested_value(F.col(typed))),
    ]


def present(raw: str, typed: str) -> list[RowRule]:
    """A non-empty value (a CSV field cannot hold the nested values `required_text` looks for)."""
    return [RowRule(f"missing_{raw}", f"{raw} is absent, null or blank", lambda: is_blank(F.col(typed)))]


def optional_text(raw: str, typed: str) -> list[RowRule]:
    """Absent or null is fine; a nested object or array in the field's place is not."""
    return [
        RowRule(
            f"invalid_{raw}",
            f"{raw} is an object or array, not a string",
            lambda: F.coalesce(nested_value(F.col(typed)), F.lit(False)),
        )
    ]


def required_parsed(expected: str) -> RuleBuilder:
    """The raw field is present and its parsed value is not null."""

    def rules(raw: str, typed: str) -> list[RowRule]:
        return [
            RowRule(f"missing_{raw}", f"{raw} is absent, null or blank", lambda: is_blank(F.col(raw))),
            RowRule(f"invalid_{raw}", f"{raw} is not {expected}", lambda: F.col(typed).isNull()),
        ]

    return rules


def optional_parsed(expected: str) -> RuleBuilder:
    """Absent, null or blank is fine; a value that is there must parse."""

    def rules(raw: str, typed: str) -> list[RowRule]:
        return [
            RowRule(
                f"invalid_{raw}",
                f"{raw} is present but not {expected}",
                lambda: ~is_blank(F.col(raw)) & F.col(typed).isNull(),
            )
        ]

    return rules


def text(
    raw: str,
    name: str | None = None,
    *,
    parse: Callable[[Column], Column] = clean_text,
    rules: RuleBuilder = required_text,
) -> Field:
    """A text field, kept as `parse` cleans it (default: trimmed) and judged on that value."""
    return Field(raw, name or raw, parse, rules)


def parsed(raw: str, name: str, parse: Callable[[Column], Column], expected: str, *, required: bool = True) -> Field:
    """A field typed by `parse`: when required it must be present and parse; when optional it
    may be absent but must parse when present. `expected` says what a valid value is."""
    return Field(raw, name, parse, required_parsed(expected) if required else optional_parsed(expected))
