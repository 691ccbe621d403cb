"""CloudWatch alarms on the runs' metrics line (common/emf.py), and the SNS notification the
state machines send when a pipeline fails: pure functions, no AWS calls.

Every run prints one metrics line, failed and gate-stopped runs included (`RunSucceeded` 0,
`GateTripped` 1), so three alarms per job tell a team what went wrong without reading logs:

    <job>-failed         a run failed or a quality gate stopped it (RunSucceeded minimum < 1)
    <job>-gate-tripped   a quality gate stopped a run (GateTripped maximum >= 1)
    <job>-no-success     a daily job had no successful run for a day (missing data breaches:
                         a run that never started prints nothing)

`make emr-artifacts ALARM_TOPIC_ARN=...` writes them as PutMetricAlarm requests in
alarms.json (`aws cloudwatch put-metric-alarm --cli-input-json`), each notifying the topic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from common.emf import NAMESPACE
from tools.emr.registry import Job

TOPIC_PATTERN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")
DAY_SECONDS = 86_400


def parse_topic_arn(text: str) -> str:
    """The SNS topic ARN, or ValueError saying what is expected."""
    if not TOPIC_PATTERN.fullmatch(text.strip()):
        raise ValueError(
            f"the alarm topic must be an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:x, got {text!r}"
        )
    return text.strip()


def _alarm(job: Job, suffix: str, description: str, topic_arn: str, **settings: Any) -> dict[str, Any]:
    return {
        "AlarmName": f"spark-jobs-{job.name}-{suffix}",
        "AlarmDescription": description,
        "Namespace": NAMESPACE,
        "Dimensions": [{"Name": "job", "Value": job.name}],
        "EvaluationPeriods": 1,
        "AlarmActions": [topic_arn],
        "OKActions": [],
        **settings,
    }


def alarms(jobs: Iterable[Job], topic_arn: str) -> list[dict[str, Any]]:
    """PutMetricAlarm requests for every job (and `no-success` for the daily ones)."""
    topic_arn = parse_topic_arn(topic_arn)
    out = []
    for job in jobs:
        out.append(
            _alarm(
                job,
                "failed",
                f"A {job.name} run failed or a quality gate stopped it: see its gate.json or its step's error line.",
                topic_arn,
                MetricName="RunSucceeded",
                Statistic="Minimum",
                Period=3600,
                Threshold=1.0,
                ComparisonOperator="LessThanThreshold",
                TreatMissingData="notBreaching",
            )
        )
        out.append(
            _alarm(
                job,
                "gate-tripped",
                f"A quality gate stopped {job.name}: <output>/gate.json names the gate and the figures "
                "(docs/daily-operations.md).",
                topic_arn,
                MetricName="GateTripped",
                Statistic="Maximum",
                Period=3600,
                Threshold=1.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                TreatMissingData="notBreaching",
            )
        )
        if job.dated:
            out.append(
                _alarm(
                    job,
                    "no-success",
                    f"No successful {job.name} run in a day: the schedule did not run it, or every run failed.",
                    topic_arn,
                    MetricName="RunSucceeded",
                    Statistic="Sum",
                    Period=DAY_SECONDS,
                    Threshold=1.0,
                    ComparisonOperator="LessThanThreshold",
                    TreatMissingData="breaching",
                )
            )
    return out


def notify_state(topic_arn: str, pipeline: str, next_state: str) -> dict[str, Any]:
    """The Task that publishes a pipeline's failure (the day, the error, its cause) to the topic
    before the execution fails; a notification that cannot be sent does not hide the failure."""
    message = (
        "{% 'spark-jobs " + pipeline + " pipeline failed for ' & $date & ': ' & $failure.Error & ': '"
        " & $string($failure.Cause) & '. A quality gate (gate.json in the output root of the job) or a job"
        " error: see docs/daily-operations.md.' %}"
    )
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Arguments": {
            "TopicArn": topic_arn,
            "Subject": "{% 'spark-jobs " + pipeline + " failed for ' & $date %}",
            "Message": message,
        },
        "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 10, "MaxAttempts": 2, "BackoffRate": 2.0}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": next_state}],
        "Next": next_state,
    }


def with_notification(machine: dict[str, Any], topic_arn: str, pipeline: str) -> dict[str, Any]:
    """The state machine with every way into "Pipeline failed" passing "Notify failure" first."""
    topic_arn = parse_topic_arn(topic_arn)
    states: dict[str, Any] = {}
    for name, state in machine["States"].items():
        state = dict(state)
        if state.get("Next") == "Pipeline failed":
            state["Next"] = "Notify failure"
        if "Catch" in state:
            state["Catch"] = [
                {**c, "Next": "Notify failure"} if c["Next"] == "Pipeline failed" else c for c in state["Catch"]
            ]
        states[name] = state
    states["Notify failure"] = notify_state(topic_arn, pipeline, "Pipeline failed")
    return {**machine, "States": states}
