"""A backfill: the daily pipeline run once per day of a range, one execution at a time.

Each day is an ordinary execution of the generated state machine with `{"date": "YYYY-MM-DD"}`
(plus whatever else the pipeline's input needs, e.g. Redshift's target), so a backfilled day is
exactly what the schedule would have produced. Days run in order and never overlap, neither
with each other nor with a scheduled execution already running: two runs writing one
warehouse at once is what the tables must not see (docs/daily-operations.md).

Takes a boto3 Step Functions client, so the tests hand in one bound to moto.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from tools.emr.aws import AwsError, describe_client_error

FINISHED_OK = "SUCCEEDED"
FINISHED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


def days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """Every day from `first` to `last`, both included."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def execution_name(day: dt.date, stamp: str) -> str:
    """Names say which day an execution ran; `stamp` keeps a second backfill of a day apart
    (names are unique per state machine for 90 days)."""
    return f"backfill-{day.isoformat()}-{stamp}"


def _running(sfn: Any, state_machine_arn: str) -> list[str]:
    listed = sfn.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
    return [execution["name"] for execution in listed["executions"]]


def backfill(
    sfn: Any,
    state_machine_arn: str,
    first: dt.date,
    last: dt.date,
    *,
    extra_input: Mapping[str, Any] | None = None,
    out: TextIO,
    poll_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    stamp: str | None = None,
) -> list[str]:
    """Run the pipeline for every day of the range, in order, one execution at a time; returns
    the execution ARNs. Stops at the first day that does not succeed (`AwsError` naming it):
    later days would build on a day that is missing."""
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    started: list[str] = []
    try:
        for day in days(first, last):
            while running := _running(sfn, state_machine_arn):
                out.write(f"waiting: {', '.join(running)} is running\n")
                sleep(poll_seconds)
            document = {**(extra_input or {}), "date": day.isoformat()}
            arn = sfn.start_execution(
                stateMachineArn=state_machine_arn, name=execution_name(day, stamp), input=json.dumps(document)
            )["executionArn"]
            started.append(arn)
            out.write(f"{day}: started {arn}\n")
            while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
                sleep(poll_seconds)
            out.write(f"{day}: {status}\n")
            if status != FINISHED_OK:
                raise AwsError(
                    f"{day} ended {status} ({arn}): fix it and rerun the backfill from {day} "
                    "(a day's rerun replaces its outputs)"
                )
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(describe_client_error(exc)) from None
    return started
