"""Text patterns every contract writes its fields in, as plain regular expressions.

Standard library only: the Spark field parsers (`common.rules.fields`) match them with
`rlike`, the plain-Python scorer (`common.segment_scorer`, which ships without Spark) with
`re`, so a value is valid in both or in neither. Java's and Python's regular expressions
agree on this subset (anchors, classes, counted repeats, groups).
"""

from __future__ import annotations

# What surrounds a field and is set aside (Spark's `trim` only removes spaces).
WHITESPACE = " \t\r\n"
# ISO-8601 date-time: 'T' or a space between date and time, seconds required, optional
# fraction, optional 'Z' or +hh:mm / +hhmm offset. A bare date is not a timestamp.
ISO_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$"
# A plain integer (a JSON number or a numeric string); "404.0" is not one.
INTEGER_PATTERN = r"^[0-9]{1,9}$"
# A calendar date, ISO-8601 extended form.
ISO_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
# A plain number with an optional sign: "52000", "-3", "48.75". No exponent, thousands
# separator or currency sign: "5e4", "52,000" and "$52000" are not numbers in a contract.
NUMBER_PATTERN = r"^[+-]?[0-9]{1,15}(\.[0-9]{1,9})?$"
