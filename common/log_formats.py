"""Web server and load balancer access logs as the log contract's raw fields: one transform per
format, DataFrame -> DataFrame, from the lines as read (`raw_record`, `source_file`).

Each line is taken apart by one regular expression pass: `regexp_replace` rewrites a line the
format's pattern matches into its fields joined by a separator no log line holds, and `split`
cuts them apart (a pattern that does not match leaves the line as it is: `_corrupt_record`).
One `regexp_extract` per field would scan the line once per field.

Every costly intermediate (the rewritten line, its parts, the request's parts, the path) is a
column of its own, which the columns after it read: Spark does not share one expression
between the branches of a CASE WHEN, so a struct of nine `when(parts[i] != "", parts[i])`
over an inline `split(regexp_replace(...))` ran the regular expression once per field.

Every format yields the same columns, all text but `latency_ms`, for its contract
(common/rules/logs.py) to judge: `timestamp`, `status_code`, `user_id`, `event_type` (method
and path class; null when the request line is not an HTTP request), `bytes`, and the request's
`client_ip`, `method`, `path`, `user_agent`, `latency_ms` and `input_format`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from common.lines import CORRUPT_RECORD, RAW_RECORD, SOURCE_FILE

SEPARATOR = "\u0001"
# What a quoted field of a log line is: anything but a quote, or a backslash escape (Apache
# writes a quote inside a user agent as \", nginx as \x22). Written as runs of plain characters
# between escapes, possessively: Java's engine steps through `(?:[^"\\]|\\.)*` one group (and
# one stack frame) per character.
QUOTED = r'"([^"\\]*+(?:\\.[^"\\]*+)*+)"'

# Apache/nginx combined: %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"; the common
# format stops after %b. Fields a configuration appends after the user agent are ignored.
COMBINED_PATTERN = rf"^(\S+) (\S+) (\S+) \[([^\]]*)\] {QUOTED} (\S+) (\S+)(?: {QUOTED} {QUOTED}(?: .*)?)?[ \t\r]*$"
COMBINED_FIELDS = ("host", "ident", "auth_user", "time", "request", "status", "bytes", "referer", "user_agent")
COMBINED_TIME = "dd/MMM/yyyy:HH:mm:ss Z"

# ALB access logs, the fields up to the user agent (AWS adds fields at the end over time, so
# the rest of the line is not read): type time elb client:port target:port
# request_processing_time target_processing_time response_processing_time elb_status_code
# target_status_code received_bytes sent_bytes "request" "user_agent" ...
ALB_PATTERN = (
    rf"^(\S+) (\S+) (\S+) (\S+):([0-9]+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) {QUOTED} {QUOTED}(?: .*)?$"
)
ALB_FIELDS = (
    "type",
    "time",
    "elb",
    "client",
    "client_port",
    "target",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
)

# User choices of --user-id-from.
AUTH_USER_OR_IP, CLIENT_IP = "auth-user-or-ip", "client-ip"
USER_ID_SOURCES = (AUTH_USER_OR_IP, CLIENT_IP)

# A path segment that names one thing rather than a kind of thing: a number, a UUID, or a
# long hex string (hashes, object ids). Written `{id}` in an event type.
ID_SEGMENT = r"(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})"
# Such a segment inside a path without its leading and trailing slashes.
ID_IN_PATH = rf"(?<=^|/){ID_SEGMENT}(?=/|$)"
# The request line of an HTTP request: METHOD TARGET, then HTTP/x.y unless HTTP/0.9.
METHOD_PATTERN = r"^[A-Z]+$"


# Intermediate columns, dropped once the fields are taken.
_REWRITTEN, _PARTS, _REQUEST, _TARGET = "_rewritten", "_parts", "_request_parts", "_target"


def pattern_fields(pattern: str, names: tuple[str, ...], into: str) -> Callable[[DataFrame], DataFrame]:
    """Add `into`: the fields of the line (`raw_record`) `pattern` matches as a struct of text
    (empty groups null), or null when it does not match. The line is rewritten once and cut
    once, each into a column of its own (see the module docstring)."""
    template = SEPARATOR.join(f"${i}" for i in range(1, len(names) + 1))

    def add(lines: DataFrame) -> DataFrame:
        line = F.col(RAW_RECORD)
        rewritten = lines.withColumn(_REWRITTEN, F.regexp_replace(line, pattern, template))
        cut = rewritten.withColumn(_PARTS, F.when(F.col(_REWRITTEN) != line, F.split(F.col(_REWRITTEN), SEPARATOR)))
        parts = F.col(_PARTS)
        fields = F.struct(*(F.when(parts[i] != "", parts[i]).alias(n) for i, n in enumerate(names)))
        return cut.withColumn(into, F.when(F.size(parts) == len(names), fields)).drop(_REWRITTEN, _PARTS)

    return add


def dash_is_null(value: Column) -> Column:
    """The logs' `-` for no value, as null."""
    return F.when(value != "-", value)


def request_parts(parts: Column) -> tuple[Column, Column]:
    """The method and the target of an HTTP request line cut at its spaces (`GET /a?b HTTP/1.1`),
    or nulls when the line is not one (a TLS handshake sent to a plain port, a bare `-`)."""
    n = F.size(parts)
    is_http = (
        ((n == 3) & parts[2].startswith("HTTP/")) | (n == 2)  # HTTP/0.9 has no version
    ) & parts[0].rlike(METHOD_PATTERN)
    return F.when(is_http, parts[0]), F.when(is_http, parts[1])


def target_path(target: Column) -> Column:
    """The path of a request target: without scheme and authority (a proxy's or ALB's absolute
    URL), query or fragment; empty when nothing is left (see `root_if_empty`)."""
    return F.regexp_replace(target, r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*|[?#].*$", "")


def root_if_empty(path: Column) -> Column:
    return F.when(path == "", F.lit("/")).otherwise(path)


def path_class(method: Column, path: Column, segments: int) -> Column:
    """`METHOD /first/N/segments`, with segments that look like ids as `{id}`: requests of one
    kind group together whichever object they name (`GET /orders/{id}`). Empty segments (`//`)
    do not count. String functions only: a lambda over the segments would take the whole
    projection out of Spark's generated code."""
    trimmed = F.regexp_replace(F.regexp_replace(path, r"^/+|/+$", ""), r"/{2,}", "/")
    first = F.substring_index(trimmed, "/", segments)
    return F.concat(method, F.lit(" /"), F.regexp_replace(first, ID_IN_PATH, "{id}"))


def with_request(df: DataFrame, request: Column, segments: int) -> DataFrame:
    """Add `method`, `path` and `event_type` (null when the request is not HTTP)."""
    method, target = request_parts(F.col(_REQUEST))
    return (
        df.withColumn(_REQUEST, F.split(request, " "))
        .withColumns({"method": method, _TARGET: target_path(target)})
        .withColumn("path", root_if_empty(F.col(_TARGET)))
        .withColumn(
            "event_type", F.when(F.col("method").isNotNull(), path_class(F.col("method"), F.col("path"), segments))
        )
        .drop(_REQUEST, _TARGET)
    )


def combined_lines(user_id_from: str, segments: int) -> Callable[[DataFrame], DataFrame]:
    """Apache/nginx combined (or common) log lines as the contract's raw fields."""

    def parse(lines: DataFrame) -> DataFrame:
        fields = lines.transform(pattern_fields(COMBINED_PATTERN, COMBINED_FIELDS, "_f"))
        client = F.col("_f.host")
        auth = dash_is_null(F.col("_f.auth_user"))
        user = client if user_id_from == CLIENT_IP else F.coalesce(auth, client)
        return (
            fields.withColumns(
                {
                    "timestamp": F.col("_f.time"),
                    "status_code": F.col("_f.status"),
                    "user_id": user,
                    "bytes": dash_is_null(F.col("_f.bytes")),
                    "client_ip": client,
                    "user_agent": dash_is_null(F.col("_f.user_agent")),
                    "latency_ms": F.lit(None).cast("double"),
                    "input_format": F.lit("combined"),
                    CORRUPT_RECORD: F.when(F.col("_f").isNull(), F.col(RAW_RECORD)),
                }
            )
            .transform(with_request, F.col("_f.request"), segments)
            .drop("_f")
        )

    return parse


def seconds_to_ms(*seconds: Column) -> Column:
    """The sum of processing times in seconds as milliseconds; null when one is not a number
    or is -1 (ALB: the request never reached a target, or the client left before the answer)."""
    values = [F.when(s.rlike(r"^[0-9]+(?:\.[0-9]+)?$"), s.cast("double")) for s in seconds]
    total = values[0]
    for value in values[1:]:
        total = total + value
    return F.round(total * 1000, 3)


def alb_lines(user_id_from: str, segments: int) -> Callable[[DataFrame], DataFrame]:
    """ALB access log lines as the contract's raw fields. ALB knows no authenticated user: the
    user is the client IP whatever `user_id_from` says."""
    del user_id_from

    def parse(lines: DataFrame) -> DataFrame:
        fields = lines.transform(pattern_fields(ALB_PATTERN, ALB_FIELDS, "_f")).withColumn(
            "_client", F.regexp_replace(F.col("_f.client"), r"^\[|\]$", "")
        )
        client = F.col("_client")
        return (
            fields.withColumns(
                {
                    "timestamp": F.col("_f.time"),
                    "status_code": dash_is_null(F.col("_f.elb_status_code")),
                    "user_id": client,
                    "bytes": dash_is_null(F.col("_f.sent_bytes")),
                    "client_ip": client,
                    "user_agent": dash_is_null(F.col("_f.user_agent")),
                    "latency_ms": seconds_to_ms(
                        F.col("_f.request_processing_time"),
                        F.col("_f.target_processing_time"),
                        F.col("_f.response_processing_time"),
                    ),
                    "input_format": F.lit("alb"),
                    CORRUPT_RECORD: F.when(F.col("_f").isNull(), F.col(RAW_RECORD)),
                }
            )
            .transform(with_request, F.col("_f.request"), segments)
            .drop("_f", "_client")
        )

    return parse


# CloudFront standard (legacy) logs: tab-separated, the columns named by the file's `#Fields:`
# header line (a distribution may log another list), these the ones the mapping reads.
CLOUDFRONT_FIELDS = (
    "date",
    "time",
    "c-ip",
    "cs-method",
    "cs-uri-stem",
    "sc-status",
    "sc-bytes",
    "cs(User-Agent)",
    "time-taken",
)
FIELDS_HEADER = "#Fields:"
# The per-file layout the transform joins on: each CLOUDFRONT_FIELDS' position, and the width.
LAYOUT, WIDTH = "_layout", "_width"
# Whether the line's file has a usable layout, for the contract's `unsupported_layout`.
LAYOUT_KNOWN = "_layout_known"
# What the CloudFront transform adds to the lines, in order.
CLOUDFRONT_COLUMNS = (
    "timestamp",
    "status_code",
    "user_id",
    "bytes",
    "client_ip",
    "method",
    "path",
    "event_type",
    "user_agent",
    "latency_ms",
    "input_format",
    CORRUPT_RECORD,
    LAYOUT_KNOWN,
)


def cloudfront_layout(header: Sequence[str]) -> tuple[list[int], int] | None:
    """From a file's header lines: the position of each of CLOUDFRONT_FIELDS and the number of
    fields a line has, or None when the header has no `#Fields:` line or lacks one of them."""
    names = next((line[len(FIELDS_HEADER) :].split() for line in header if line.startswith(FIELDS_HEADER)), None)
    if names is None or not set(CLOUDFRONT_FIELDS) <= set(names):
        return None
    return [names.index(field) for field in CLOUDFRONT_FIELDS], len(names)


def url_decoded(value: Column) -> Column:
    """CloudFront's URL-encoded text (`Mozilla/5.0%20(Windows...`) decoded; a `+` stays a `+`,
    and text that is not valid URL encoding stays as logged (Spark's decoder would fail)."""
    valid = value.rlike(r"^(?:[^%]|%[0-9A-Fa-f]{2})*$")
    return F.when(valid, F.url_decode(F.regexp_replace(value, r"\+", "%2B"))).otherwise(value)


def cloudfront_lines(layouts: DataFrame, segments: int) -> Callable[[DataFrame], DataFrame]:
    """CloudFront log lines as the contract's raw fields, each file read by its own header's
    layout (`layouts`: source_file, _layout, _width; a file without a usable one has a null
    layout). Header lines stay, for the contract to skip. CloudFront knows no authenticated
    user: the user is the client IP."""

    def parse(lines: DataFrame) -> DataFrame:
        joined = lines.join(F.broadcast(layouts), SOURCE_FILE, "left").withColumn(
            _PARTS, F.split(F.col(RAW_RECORD), "\t")
        )
        parts = F.col(_PARTS)
        fitting = F.col(LAYOUT).isNotNull() & (F.size(parts) == F.col(WIDTH))
        value = {name: F.when(fitting, parts[F.col(LAYOUT)[i]]) for i, name in enumerate(CLOUDFRONT_FIELDS)}
        method = dash_is_null(value["cs-method"])
        fields = joined.withColumns(
            {
                "timestamp": F.concat(value["date"], F.lit("T"), value["time"]),
                "status_code": value["sc-status"],
                "user_id": value["c-ip"],
                "bytes": dash_is_null(value["sc-bytes"]),
                "client_ip": value["c-ip"],
                "method": F.when(method.rlike(METHOD_PATTERN), method),
                "_stem": value["cs-uri-stem"],
                "user_agent": url_decoded(dash_is_null(value["cs(User-Agent)"])),
                "latency_ms": seconds_to_ms(value["time-taken"]),
                "input_format": F.lit("cloudfront"),
                CORRUPT_RECORD: F.when(~fitting, F.col(RAW_RECORD)),
                LAYOUT_KNOWN: F.col(LAYOUT).isNotNull(),
            }
        )
        is_http = F.col("method").isNotNull()
        return (
            fields.withColumn("path", F.when(is_http, url_decoded(F.col("_stem"))))
            .withColumn("event_type", F.when(is_http, path_class(F.col("method"), F.col("path"), segments)))
            .select(*lines.columns, *CLOUDFRONT_COLUMNS)
        )

    return parse
