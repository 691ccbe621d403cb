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


def _alarm(name: str, suffix: str, description: str, topic_arn: str, **settings: Any) -> dict[str, Any]:
    return {
        "AlarmName": f"spark-jobs-{name}-{suffix}",
        "AlarmDescription": description,
        "Namespace": NAMESPACE,
        "Dimensions": [{"Name": "job", "Value": name}],
        "EvaluationPeriods": 1,
        "AlarmActions": [topic_arn],
        "OKActions": [],
        **settings,
    }


def alarms(jobs: Iterable[Job], topic_arn: str) -> list[dict[str, Any]]:
    """PutMetricAlarm requests for every job (and `no-success` for the daily ones), by the name
    its metrics line carries (`Job.reports_as`: entries of one module share their alarms)."""
    topic_arn = parse_topic_arn(topic_arn)
    out = []
    by_name: dict[str, bool] = {}
    for job in jobs:
        by_name[job.reports_as] = by_name.get(job.reports_as, False) or job.dated
    for name, dated in by_name.items():
        out.append(
            _alarm(
                name,
                "failed",
                f"A {name} run failed or a quality gate stopped it: see its gate.json or its step's error line.",
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
                name,
                "gate-tripped",
                f"A quality gate stopped {name}: <output>/gate.json names the gate and the figures "
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
        if dated:
            out.append(
                _alarm(
                    name,
                    "no-success",
                    f"No successful {name} run in a day: the schedule did not run it, or every run failed.",
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


def gate_states(topic_arn: str, pipeline: str, gate_file: tuple[str, str]) -> dict[str, dict[str, Any]]:
    """Before the generic notification: read the gated job's gate.json; when a quality gate
    tripped on this execution's day, notify that instead (the gate and its figures)."""
    bucket, key = gate_file
    return {
        "Read gate": {
            "Type": "Task",
            "Comment": "A job stopped by a quality gate leaves gate.json (common/gates.py): which gate, which figures.",
            "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
            "Arguments": {"Bucket": bucket, "Key": key},
            "Output": {"gate": "{% $parse($states.result.Body) %}"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify failure"}],
            "Next": "Gate tripped today?",
        },
        "Gate tripped today?": {
            "Type": "Choice",
            "Choices": [
                {
                    "Condition": "{% $states.input.gate.status = 'gate_tripped' and $states.input.gate.date = $date %}",
                    "Next": "Notify gate",
                }
            ],
            "Default": "Notify failure",
        },
        "Notify gate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Arguments": {
                "TopicArn": topic_arn,
                "Subject": "{% 'spark-jobs " + pipeline + ": quality gate tripped for ' & $date %}",
                "Message": "{% $states.input.gate.job & ' stopped for ' & $date & ': ' & $states.input.gate.error"
                f" & '. Details: s3://{bucket}/{key}; see docs/daily-operations.md.' %}}",
            },
            "Retry": [
                {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 10, "MaxAttempts": 2, "BackoffRate": 2.0}
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Pipeline failed"}],
            "Next": "Pipeline failed",
        },
    }


def with_notification(
    machine: dict[str, Any], topic_arn: str, pipeline: str, gate_file: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The state machine with every way into "Pipeline failed" notifying the topic first: the
    tripped gate when the pipeline's gated job left a gate.json for the day, else the failure."""
    topic_arn = parse_topic_arn(topic_arn)
    entry = "Read gate" if gate_file else "Notify failure"
    states: dict[str, Any] = {}
    for name, state in machine["States"].items():
        state = dict(state)
        if state.get("Next") == "Pipeline failed":
            state["Next"] = entry
        if "Catch" in state:
            state["Catch"] = [{**c, "Next": entry} if c["Next"] == "Pipeline failed" else c for c in state["Catch"]]
        states[name] = state
    if gate_file:
        states.update(gate_states(topic_arn, pipeline, gate_file))
    states["Notify failure"] = notify_state(topic_arn, pipeline, "Pipeline failed")
    return {**machine, "States": states}


def gate_file(jobs: Iterable[Job], root: str) -> tuple[str, str] | None:
    """(bucket, key) of the gate.json the pipeline's first dated job writes, if it has one."""
    from tools.emr.launch import split_s3_uri
    from tools.emr.registry import output_root

    for job in jobs:
        if job.dated:
            return split_s3_uri(f"{output_root(job, root)}/gate.json")
    return None
