"""Deterministic sample-data generator for every job: tests, `make run` and benchmarks.

    python -m tools.generate logs --output data/sample/logs --size 20MB --seed 7
    python -m tools.generate combined_logs --output data/sample/combined_logs --size 20MB --seed 7
    python -m tools.generate customers --output data/sample/customers --size 4MB --seed 7

The same arguments always give the same bytes. Data is realistic where the jobs care:
skewed users, bursts of server errors, several timestamp styles, customers in distinct groups,
and a small share of bad lines of every kind the contracts reject. Customers and transactions
share ids (`u000042` is customer 42 and user 42), and a customer's group also shapes what the
user spends and refunds, so segmentation on the warehouse's behaviour means something. Files
are written in parallel (one seeded stream per file), so a gigabyte takes seconds, not minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COMPLETE_MARKER = ".complete"
CHUNK_LINES = 50_000
DEFAULT_FILE_BYTES = 128 * 1024 * 1024
START = np.datetime64("2026-11-01T00:00:00", "ms")
SPAN_HOURS = 7 * 24

EVENT_TYPES = ["page_view", "search", "add_to_cart", "checkout", "login", "api_call"]
EVENT_WEIGHTS = [0.46, 0.2, 0.12, 0.05, 0.07, 0.10]
PATHS = ["/", "/search", "/product/{}", "/cart", "/checkout", "/login", "/api/v1/orders", "/api/v1/stock"]
OK_CODES = [200, 200, 200, 200, 201, 204, 301, 302, 304]
CLIENT_ERRORS = [400, 401, 403, 404, 404, 404, 429]
SERVER_ERRORS = [500, 502, 503, 503, 504]
# Share of lines that break the contract, spread over every kind of defect below.
BAD_SHARE = 0.004
# Hours (from START) with an incident: a burst of 5xx responses the anomaly detector should flag.
INCIDENT_HOURS = (30, 31, 97, 140)


def parse_size(text: str) -> int:
    """'20MB', '1GB', '512KB' or a plain byte count."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?B?)\s*", text.upper())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 20MB or 1GB")
    number, unit = float(match.group(1)), match.group(2).rstrip("B")
    return int(number * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit])


@dataclass(frozen=True)
class FilePlan:
    path: Path
    index: int
    files: int
    target_bytes: int
    seed: int


def _bad_log_line(rng: np.random.Generator, good: str) -> str:
    """One line broken in one of the ways the log contract rejects."""
    kind = int(rng.integers(0, 10))
    if kind == 0:
        return good[: len(good) // 2]  # truncated write
    if kind == 1:
        return re.sub(r',"status_code":\d+', "", good)
    if kind == 2:
        return re.sub(r'"status_code":\d+', '"status_code":"abc"', good)
    if kind == 3:
        return re.sub(r'"status_code":\d+', '"status_code":700', good)
    if kind == 4:
        return re.sub(r'"user_id":"[^"]*"', '"user_id":""', good)
    if kind == 5:
        return re.sub(r'"user_id":"[^"]*",', "", good)
    if kind == 6:
        return re.sub(r'"timestamp":"[^"]*"', '"timestamp":"yesterday"', good)
    if kind == 7:
        return re.sub(r'"event_type":"[^"]*"', '"event_type":null', good)
    if kind == 8:
        return ""
    return f"[{good}]"


def _log_chunks(plan: FilePlan) -> Iterator[list[str]]:
    """Log lines covering the file's slice of the week, a chunk at a time."""
    rng = np.random.default_rng([plan.seed, plan.index])
    users = [f"u{n:06d}" for n in range(50_000)]
    paths = [p.format(n) if "{}" in p else p for n, p in enumerate(PATHS * 8)]
    ips = [f"10.{a}.{b}.{c}" for a, b, c in rng.integers(0, 255, size=(4096, 3))]
    slice_ms = SPAN_HOURS * 3_600_000 // plan.files
    slice_start = START + np.timedelta64(plan.index * slice_ms, "ms")
    while True:
        n = CHUNK_LINES
        offsets = np.sort(rng.integers(0, slice_ms, size=n))
        instants = slice_start + offsets.astype("timedelta64[ms]")
        stamps = np.datetime_as_string(instants, unit="ms")
        hours = ((instants - START) // np.timedelta64(1, "h")).astype(int)
        user_ix = (rng.zipf(1.25, size=n) - 1) % len(users)
        events = rng.choice(len(EVENT_TYPES), size=n, p=EVENT_WEIGHTS)
        roll = rng.random(size=n)
        in_incident = np.isin(hours, INCIDENT_HOURS)
        server_error = roll < np.where(in_incident, 0.35, 0.01)
        client_error = ~server_error & (roll < np.where(in_incident, 0.40, 0.04))
        codes = np.where(
            server_error,
            rng.choice(SERVER_ERRORS, size=n),
            np.where(client_error, rng.choice(CLIENT_ERRORS, size=n), rng.choice(OK_CODES, size=n)),
        )
        latency = rng.lognormal(4.0, 0.8, size=n).astype(int)
        path_ix = rng.integers(0, len(paths), size=n)
        ip_ix = rng.integers(0, len(ips), size=n)
        style = rng.random(size=n)
        lines = []
        for i in range(n):
            stamp = stamps[i]
            if style[i] < 0.9:
                stamp += "Z"
            elif style[i] < 0.97:
                stamp = stamp.replace("T", " ")  # no zone: read as UTC
            else:
                stamp = stamp[:19] + "+00:00"
            lines.append(
                f'{{"timestamp":"{stamp}","user_id":"{users[user_ix[i]]}",'
                f'"event_type":"{EVENT_TYPES[events[i]]}","status_code":{codes[i]},'
                f'"path":"{paths[path_ix[i]]}","latency_ms":{latency[i]},"ip":"{ips[ip_ix[i]]}"}}'
            )
        for i in np.flatnonzero(rng.random(size=n) < BAD_SHARE):
            lines[i] = _bad_log_line(rng, lines[i])
        for i in np.flatnonzero(rng.random(size=n) < 0.02):
            lines[i] = re.sub(r'"status_code":(\d+)', r'"status_code":"\1"', lines[i])
        yield lines


# Access logs (log_analytics --input-format combined|alb): the same week of traffic as web server
# and load balancer lines; the event type becomes a method and a path.
METHODS = {"page_view": "GET", "search": "GET", "add_to_cart": "POST", "checkout": "POST", "login": "POST"}
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.4.0",
    'Bot \\"quoted\\" 1.0',
]
CLOUDFRONT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) "
    "cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken"
)
CLOUDFRONT_HEADER = f"#Version: 1.0\n#Fields: {CLOUDFRONT_FIELDS}\n"
ALB_TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop/73e2d6bc24d8a067"


def clf_time(iso: str) -> str:
    """`2026-11-01T10:00:00.123` as Apache's %t: `01/Nov/2026:10:00:00 +0000`."""
    return f"{iso[8:10]}/{MONTHS[int(iso[5:7]) - 1]}/{iso[0:4]}:{iso[11:19]} +0000"


def _bad_access_line(rng: np.random.Generator, good: str, fmt: str) -> str:
    """One access log line broken in one of the ways the format contracts reject."""
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return good[: len(good) // 2]  # truncated write
    if kind == 1:
        return ""
    if kind == 2:  # status 000: the client left before the answer
        if fmt == "cloudfront":
            return re.sub(r"(\t/[^\t]*\t)[0-9]{3}\t", r"\g<1>000\t", good, count=1)
        status = r'(" )[0-9]{3} ' if fmt == "combined" else r"( 0\.000 )[0-9]{3} "
        return re.sub(status, r"\g<1>000 ", good, count=1)
    if fmt == "cloudfront":
        return re.sub(r"\t(GET|POST)\t", "\t-\t", good, count=1)  # no method
    return re.sub(r'"(GET|POST) [^ ]+ HTTP/1\.1"', r'"\\x16\\x03\\x01"', good, count=1)  # not HTTP


def _access_log_chunks(plan: FilePlan, fmt: str) -> Iterator[list[str]]:
    """Access log lines (`combined`, `alb` or `cloudfront`, without its header) covering the
    file's slice of the week."""
    rng = np.random.default_rng([plan.seed, plan.index, 1])
    users = [f"u{n:06d}" for n in range(50_000)]
    paths = [p.format(n) if "{}" in p else p for n, p in enumerate(PATHS * 8)]
    ips = [f"10.{a}.{b}.{c}" for a, b, c in rng.integers(0, 255, size=(4096, 3))]
    slice_ms = SPAN_HOURS * 3_600_000 // plan.files
    slice_start = START + np.timedelta64(plan.index * slice_ms, "ms")
    while True:
        n = CHUNK_LINES
        instants = slice_start + np.sort(rng.integers(0, slice_ms, size=n)).astype("timedelta64[ms]")
        stamps = np.datetime_as_string(instants, unit="ms")
        hours = ((instants - START) // np.timedelta64(1, "h")).astype(int)
        roll = rng.random(size=n)
        in_incident = np.isin(hours, INCIDENT_HOURS)
        server_error = roll < np.where(in_incident, 0.35, 0.01)
        client_error = ~server_error & (roll < np.where(in_incident, 0.40, 0.04))
        codes = np.where(
            server_error,
            rng.choice(SERVER_ERRORS, size=n),
            np.where(client_error, rng.choice(CLIENT_ERRORS, size=n), rng.choice(OK_CODES, size=n)),
        )
        events = rng.choice(len(EVENT_TYPES), size=n, p=EVENT_WEIGHTS)
        user_ix = (rng.zipf(1.25, size=n) - 1) % len(users)
        logged_in = rng.random(size=n) < 0.3
        path_ix = rng.integers(0, len(paths), size=n)
        ip_ix = rng.integers(0, len(ips), size=n)
        agent_ix = rng.integers(0, len(AGENTS), size=n)
        sizes = rng.lognormal(8.0, 1.2, size=n).astype(int)
        latency = rng.lognormal(4.0, 0.8, size=n) / 1000
        lines = []
        for i in range(n):
            method = METHODS.get(EVENT_TYPES[events[i]], "GET")
            request = f"{method} {paths[path_ix[i]]} HTTP/1.1"
            if fmt == "combined":
                user = users[user_ix[i]] if logged_in[i] else "-"
                size = "-" if codes[i] in (204, 304) else str(sizes[i])
                lines.append(
                    f'{ips[ip_ix[i]]} - {user} [{clf_time(stamps[i])}] "{request}" {codes[i]} {size} '
                    f'"-" "{AGENTS[agent_ix[i]]}"'
                )
            elif fmt == "cloudfront":
                agent = AGENTS[agent_ix[i]].replace(" ", "%20").replace('\\"', "%22")
                lines.append(
                    f"{stamps[i][:10]}\t{stamps[i][11:19]}\tFRA56-P1\t{sizes[i]}\t{ips[ip_ix[i]]}\t{method}\t"
                    f"d111111abcdef8.cloudfront.net\t{paths[path_ix[i]]}\t{codes[i]}\t-\t{agent}\t-\t-\tMiss\t"
                    f"{i:040x}\tshop.example.com\thttps\t120\t{latency[i]:.3f}"
                )
            else:
                processing = "-1" if codes[i] == 502 else f"{latency[i]:.3f}"
                url = request.replace(" /", " https://shop.example.com:443/", 1)
                lines.append(
                    f"https {stamps[i]}000Z app/shop/50dc6c495c0c9188 {ips[ip_ix[i]]}:{40000 + i % 20000} "
                    f"10.0.0.1:80 0.000 {processing} 0.000 {codes[i]} {codes[i]} 512 {sizes[i]} "
                    f'"{url}" "{AGENTS[agent_ix[i]]}" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {ALB_TARGET_GROUP} '
                    f'"Root=1-6744b2c0-{i:024x}" "shop.example.com" "-" 0 {stamps[i]}000Z "forward" "-" "-" '
                    f'"10.0.0.1:80" "{codes[i]}" "-" "-"'
                )
        for i in np.flatnonzero(rng.random(size=n) < BAD_SHARE):
            lines[i] = _bad_access_line(rng, lines[i], fmt)
        yield lines


# Transactions: amounts in cents from a log-normal (median ~33.00), a share of refunds, lines
# repeated by at-least-once delivery, corrections (same id, later timestamp, new amount) and
# late arrivals (timestamps days before the file's slice).
TX_REFUND_SHARE = 0.04
TX_DUPLICATE_SHARE = 0.01
TX_CORRECTION_SHARE = 0.005
TX_LATE_SHARE = 0.02
TX_STRING_AMOUNT_SHARE = 0.15
TX_BAD_SHARE = 0.003
COUNTRIES = ["DE", "FR", "US", "GB", "NL", "ES", "IT", "PL", "SE", "JP"]
SEGMENTS = ["retail", "smb", "enterprise", "vip"]
USERS = 50_000


def _bad_transaction_line(rng: np.random.Generator, good: str) -> str:
    """One line broken in one of the ways the transaction contract rejects."""
    kind = int(rng.integers(0, 9))
    if kind == 0:
        return good[: len(good) // 2]
    if kind == 1:
        return re.sub(r'"amount":[^,}]+', '"amount":"n/a"', good)
    if kind == 2:
        return re.sub(r'"amount":"?(-?\d+\.\d+)"?', r'"amount":\g<1>5', good)  # three decimals
    if kind == 3:
        return re.sub(r',"amount":[^,}]+', "", good)
    if kind == 4:
        return re.sub(r'"transaction_id":"[^"]*"', '"transaction_id":""', good)
    if kind == 5:
        return re.sub(r'"user_id":"[^"]*",', "", good)
    if kind == 6:
        return re.sub(r'"timestamp":"[^"]*"', '"timestamp":"last tuesday"', good)
    if kind == 7:
        return ""
    return f"[{good}]"


def _transaction_chunks(plan: FilePlan) -> Iterator[list[str]]:
    """Transaction lines covering the file's slice of the week, a chunk at a time."""
    rng = np.random.default_rng([plan.seed, plan.index])
    users = [user_id(n) for n in range(USERS)]
    channels = ["web", "app", "pos", "api"]
    slice_ms = SPAN_HOURS * 3_600_000 // plan.files
    slice_start = START + np.timedelta64(plan.index * slice_ms, "ms")
    serial = 0
    while True:
        n = CHUNK_LINES
        offsets = np.sort(rng.integers(0, slice_ms, size=n))
        late = rng.random(size=n) < TX_LATE_SHARE
        offsets = offsets - np.where(late, rng.integers(3_600_000, 72 * 3_600_000, size=n), 0)
        instants = slice_start + offsets.astype("timedelta64[ms]")
        stamps = np.datetime_as_string(instants, unit="s")
        user_ix = (rng.zipf(1.3, size=n) - 1) % USERS
        group = customer_group(user_ix)
        cents = np.maximum(1, np.round(rng.lognormal(8.1 + GROUP_BASKET_LOG[group], 1.1, size=n))).astype(np.int64)
        cents = np.where(rng.random(size=n) < TX_REFUND_SHARE * GROUP_REFUND_FACTOR[group], -cents, cents)
        as_string = rng.random(size=n) < TX_STRING_AMOUNT_SHARE
        channel = rng.integers(0, len(channels), size=n)
        lines = []
        for i in range(n):
            amount = f"{cents[i] / 100:.2f}"
            if as_string[i]:
                amount = f'"{amount}"'
            lines.append(
                f'{{"transaction_id":"tx-{plan.index:04d}-{serial + i:010d}","user_id":"{users[user_ix[i]]}",'
                f'"timestamp":"{stamps[i]}Z","amount":{amount},"currency":"EUR","channel":"{channels[channel[i]]}"}}'
            )
        serial += n
        for i in np.flatnonzero(rng.random(size=n) < TX_CORRECTION_SHARE):
            j = int(rng.integers(0, i + 1))
            corrected = f"{int(rng.integers(100, 50_000)) / 100:.2f}"
            later = np.datetime_as_string(instants[j] + np.timedelta64(int(rng.integers(1, 600)), "s"), unit="s")
            line = re.sub(r'"amount":[^,}]+', f'"amount":{corrected}', lines[j])
            lines[i] = re.sub(r'"timestamp":"[^"]*"', f'"timestamp":"{later}Z"', line)
        for i in np.flatnonzero(rng.random(size=n) < TX_DUPLICATE_SHARE):
            lines[i] = lines[int(rng.integers(0, i + 1))]
        for i in np.flatnonzero(rng.random(size=n) < TX_BAD_SHARE):
            lines[i] = _bad_transaction_line(rng, lines[i])
        yield lines


def _profile_chunks(plan: FilePlan) -> Iterator[list[str]]:
    """User profile lines: users in turn, the same user again in a later pass with other
    attributes and another updated_at; a few bad lines."""
    rng = np.random.default_rng([plan.seed, plan.index])
    first = plan.index * USERS // plan.files
    while True:
        n = min(CHUNK_LINES, USERS)
        user_ix = (first + np.arange(n)) % USERS
        first += n
        country = rng.integers(0, len(COUNTRIES), size=n)
        segment = rng.integers(0, len(SEGMENTS), size=n)
        signup = np.datetime64("2020-01-01") + rng.integers(0, 6 * 365, size=n).astype("timedelta64[D]")
        updated = START + rng.integers(0, SPAN_HOURS * 3_600_000, size=n).astype("timedelta64[ms]")
        signups, updates = np.datetime_as_string(signup), np.datetime_as_string(updated, unit="s")
        lines = [
            f'{{"user_id":"u{user_ix[i]:06d}","country":"{COUNTRIES[country[i]]}",'
            f'"segment":"{SEGMENTS[segment[i]]}","signup_date":"{signups[i]}","updated_at":"{updates[i]}Z"}}'
            for i in range(n)
        ]
        for i in np.flatnonzero(rng.random(size=n) < BAD_SHARE):
            lines[i] = lines[i].replace(f'"signup_date":"{signups[i]}"', '"signup_date":"someday"')
        yield lines


# Customers: five groups in the classic mall-customer shape (income x spending score), each
# with its own age and marital-status mix. (share, age mean/sd, income mean/sd, score mean/sd,
# female share, marital status weights in MARITAL_STATUSES order)
CUSTOMER_HEADER = "customer_id,age,gender,marital_status,annual_income,spending_score"
MARITAL_STATUSES = ["Single", "Married", "Divorced", "Widowed"]
CUSTOMER_GROUPS = [
    (0.18, 24, 4, 26_000, 6_000, 78, 8, 0.55, [0.80, 0.15, 0.05, 0.00]),  # young, modest income, big spenders
    (0.20, 32, 5, 95_000, 12_000, 82, 7, 0.55, [0.45, 0.50, 0.05, 0.00]),  # affluent spenders
    (0.20, 45, 8, 90_000, 12_000, 18, 7, 0.45, [0.15, 0.70, 0.15, 0.00]),  # careful high earners
    (0.27, 42, 10, 55_000, 7_000, 50, 6, 0.50, [0.25, 0.60, 0.10, 0.05]),  # mainstream
    (0.15, 63, 7, 27_000, 6_000, 20, 7, 0.50, [0.05, 0.50, 0.15, 0.30]),  # frugal seniors
]
# What each customer group's users do in the transactions: baskets scaled (on the log scale
# of the amount) with the group's spending score, refunds more or less often than the mean.
GROUP_BASKET_LOG = np.log(np.array([g[5] for g in CUSTOMER_GROUPS]) / 50.0)
GROUP_REFUND_FACTOR = np.array([0.5, 0.7, 2.5, 1.0, 1.5])


def user_id(n: int) -> str:
    """Customer n's id, also user n's in the transactions and profiles."""
    return f"u{n:06d}"


def customer_group(n: np.ndarray) -> np.ndarray:
    """Customer (and user) n's group, a fixed function of n with the groups' shares: the
    customer and transaction generators agree on it without sharing a random stream."""
    shares = np.array([g[0] for g in CUSTOMER_GROUPS])
    uniform = (np.asarray(n, dtype=np.uint64) * np.uint64(2654435761) % np.uint64(2**32)) / 2.0**32
    return np.minimum(np.searchsorted(np.cumsum(shares / shares.sum()), uniform, side="right"), len(shares) - 1)


# Average bytes per customer line: a file of `target_bytes` holds target_bytes // this rows,
# so a row count maps to an exact size (see customer_file_size).
CUSTOMER_LINE_BYTES = 45
CUSTOMER_BAD_SHARE = 0.005


def customer_file_size(rows: int) -> int:
    """The --size giving exactly `rows` customer lines per file."""
    return rows * CUSTOMER_LINE_BYTES


def _bad_customer_line(rng: np.random.Generator, fields: list[str]) -> str:
    """One customer line broken in one of the ways the customer contract rejects."""
    kind = int(rng.integers(0, 12))
    broken = list(fields)
    if kind == 0:
        broken[1] = ""  # missing age
    elif kind == 1:
        broken[1] = str(int(rng.integers(121, 200)))  # age out of range
    elif kind == 2:
        broken[1] = "thirty"
    elif kind == 3:
        broken[2] = ""  # missing gender
    elif kind == 4:
        broken[3] = " "  # blank marital status
    elif kind == 5:
        broken[4] = f"-{broken[4]}"  # negative income
    elif kind == 6:
        broken[4] = '"$' + f"{float(broken[4]):,.0f}" + '"'  # currency formatting
    elif kind == 7:
        broken[5] = str(int(rng.choice([0, 101, 150])))  # spending score out of range
    elif kind == 8:
        broken[5] = ""
    elif kind == 9:
        return ",".join(broken[:4])  # truncated write
    elif kind == 10:
        return ",".join([*broken, "extra"])
    else:
        return ""
    return ",".join(broken)


def _customer_chunks(plan: FilePlan) -> Iterator[list[str]]:
    """target_bytes // CUSTOMER_LINE_BYTES customer CSV lines (no header), a chunk at a time."""
    rng = np.random.default_rng([plan.seed, plan.index])
    rows = max(1, plan.target_bytes // CUSTOMER_LINE_BYTES)
    first = plan.index * rows  # customers of every file in one id sequence
    done = 0
    while done < rows:
        n = min(CHUNK_LINES, rows - done)
        group = customer_group(first + done + np.arange(n))
        params = np.array([g[1:8] for g in CUSTOMER_GROUPS], dtype=float)[group]
        age = np.clip(np.rint(rng.normal(params[:, 0], params[:, 1])), 18, 95).astype(int)
        income = np.maximum(rng.normal(params[:, 2], params[:, 3]), 8_000)
        score = np.clip(np.rint(rng.normal(params[:, 4], params[:, 5])), 1, 100).astype(int)
        female = rng.random(size=n) < params[:, 6]
        marital_roll = rng.random(size=n)
        cents = rng.random(size=n) < 0.1
        style = rng.random(size=n)
        lines = []
        for i in range(n):
            weights = np.cumsum(CUSTOMER_GROUPS[group[i]][8])
            marital = MARITAL_STATUSES[min(int(np.searchsorted(weights, marital_roll[i] * weights[-1])), 3)]
            gender = "Female" if female[i] else "Male"
            if style[i] < 0.02:
                gender = gender.lower()  # the jobs compare categories case-insensitively
            elif style[i] < 0.03:
                marital = f" {marital} "
            amount = f"{income[i]:.2f}" if cents[i] else f"{income[i]:.0f}"
            fields = [user_id(first + done + i), str(age[i]), gender, marital, amount]
            lines.append(",".join([*fields, str(score[i])]))
        for i in np.flatnonzero(rng.random(size=n) < CUSTOMER_BAD_SHARE):
            if rng.random() < 0.1 and i > 0:
                lines[i] = lines[i - 1].split(",", 1)[0] + "," + lines[i].split(",", 1)[1]  # duplicate id
            else:
                lines[i] = _bad_customer_line(rng, lines[i].split(","))
        yield lines
        done += n


def write_chunks(path: Path, chunks: Iterator[list[str]], until_bytes: int | None = None, header: str = "") -> int:
    """Write `header`, then chunks of lines until `chunks` ends or the file holds at least
    `until_bytes`; returns the bytes written. Chunks are drawn lazily, so a seeded stream
    writes the same bytes whatever the target size cuts it at."""
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(header)
        written = len(header)
        for lines in chunks:
            block = "\n".join(lines) + "\n"
            out.write(block)
            written += len(block)
            if until_bytes is not None and written >= until_bytes:
                break
    return written


def _log_file(plan: FilePlan) -> int:
    return write_chunks(plan.path, _log_chunks(plan), plan.target_bytes)


def _combined_log_file(plan: FilePlan) -> int:
    return write_chunks(plan.path, _access_log_chunks(plan, "combined"), plan.target_bytes)


def _alb_log_file(plan: FilePlan) -> int:
    return write_chunks(plan.path, _access_log_chunks(plan, "alb"), plan.target_bytes)


def _cloudfront_log_file(plan: FilePlan) -> int:
    return write_chunks(plan.path, _access_log_chunks(plan, "cloudfront"), plan.target_bytes, CLOUDFRONT_HEADER)


def _transaction_file(plan: FilePlan) -> int:
    return write_chunks(plan.path, _transaction_chunks(plan), plan.target_bytes)


def _profile_file(plan: FilePlan) -> int:
    return write_chunks(plan.path, _profile_chunks(plan), plan.target_bytes)


def _customer_file(plan: FilePlan) -> int:
    """A CSV of customers: the header, then target_bytes // CUSTOMER_LINE_BYTES lines."""
    return write_chunks(plan.path, _customer_chunks(plan), header=CUSTOMER_HEADER + "\n")


@dataclass(frozen=True)
class Dataset:
    """How to write one file of a data set, and the file names it uses."""

    write_file: Callable[[FilePlan], int]
    suffix: str


DATASETS: dict[str, Dataset] = {
    "logs": Dataset(_log_file, "jsonl"),
    "combined_logs": Dataset(_combined_log_file, "log"),
    "alb_logs": Dataset(_alb_log_file, "log"),
    "cloudfront_logs": Dataset(_cloudfront_log_file, "log"),
    "transactions": Dataset(_transaction_file, "jsonl"),
    "profiles": Dataset(_profile_file, "jsonl"),
    "customers": Dataset(_customer_file, "csv"),
}


def generate(dataset: str, output: Path, size: int, seed: int, files: int | None = None) -> list[Path]:
    """Write `size` bytes (approximately) of `dataset` into `output`, replacing what was there."""
    spec = DATASETS[dataset]
    files = files or max(1, -(-size // DEFAULT_FILE_BYTES))
    output.mkdir(parents=True, exist_ok=True)
    for stale in [*output.glob(f"part-*.{spec.suffix}"), output / COMPLETE_MARKER]:
        stale.unlink(missing_ok=True)
    plans = [
        FilePlan(output / f"part-{i:05d}.{spec.suffix}", i, files, max(1, size // files), seed) for i in range(files)
    ]
    workers = min(files, os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(spec.write_file, plans))
    else:
        for plan in plans:
            spec.write_file(plan)
    (output / COMPLETE_MARKER).write_text(f"{dataset} size={size} seed={seed} files={files}\n")
    return [plan.path for plan in plans]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--output", type=Path, required=True, help="folder to (re)write")
    parser.add_argument("--size", type=parse_size, default=parse_size("20MB"), help="approximate size, e.g. 1GB")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--files", type=int, help="number of files (default: one per 128 MB)")
    args = parser.parse_args(argv)
    paths = generate(args.dataset, args.output, args.size, args.seed, args.files)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} file(s), {total / 1024**2:.1f} MiB, to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
