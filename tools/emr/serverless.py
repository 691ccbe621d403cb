"""From the registry to EMR Serverless and its Step Functions machines: pure functions, no AWS calls.

The same artifact as on EMR on EC2 (the zip on `--py-files`, the entrypoints, the registry's
arguments), run on an EMR Serverless 7.x application whose image is ours: EMR Serverless 7.x
images ship Python 3.9, so `serverless/Dockerfile` builds one from the EMR Serverless base image
with Python 3.11 and the cluster requirements (see docs/emr-serverless.md for building and registering it).

    create-application.json          CreateApplication: release label, architecture, image,
                                     maximum capacity, auto-start and auto-stop
    start-job-run-<job>.json         StartJobRun per job, without applicationId (give it as
                                     `--application-id` or `make submit-serverless APPLICATION_ID=`)
    state-machine-<pipeline>.json    the pipeline's jobs in order with `startJobRun.sync`, then the
                                     Redshift load, on the application named in the execution input

Requests are built in the EMR Serverless API's camelCase; `sfn_arguments` renames them to the
PascalCase the Step Functions integration takes, leaving user-data maps (Spark properties,
tags, log types) alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.s3 import s3a_encryption
from tools.emr.launch import (
    DEFAULT_RELEASE_LABEL,
    PROJECT_TAG,
    STEP_TIMEOUT_SECONDS,
    Deployment,
    _catch,
    _redshift_items,
    date_expressions,
    date_states,
    dated_arguments,
    redshift_states,
    sfn_arguments_for,
    with_accepted_gates,
)
from tools.emr.registry import Job, pipelines

PYTHON = "/usr/bin/python3.11"  # what the Dockerfile installs (Amazon Linux 2023's python3.11 package)
# EMR 7.x ships Delta 3.x in every image; these two jars (delta-core.jar before 7.0) enable it.
DELTA_JARS = ("/usr/share/aws/delta/lib/delta-spark.jar", "/usr/share/aws/delta/lib/delta-storage.jar")
LOG_GROUP = "/aws/emr-serverless/spark-jobs"
ARCHITECTURES = {"x86_64": "X86_64", "aarch64": "ARM64"}
# EMR Serverless's own form: 12-digit account, ECR host, repository, then a tag or a digest.
IMAGE_PATTERN = re.compile(
    r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})"
)
ROLE_PATTERN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
# A well-formed stand-in where only the job run matters (submit-serverless: the image is the application's).
ANY_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/spark-jobs:any"
# Properties that only mean something under YARN (EMR on EC2): not carried over.
YARN_ONLY = ("spark.yarn.", "spark.pyspark.")
# Maps whose keys are data (Spark properties, tag names, log types), not API member names.
USER_MAPS = frozenset({"properties", "tags", "logTypes"})


@dataclass(frozen=True)
class ServerlessSpec:
    """The EMR Serverless application and job runs; every field is a `make emr-artifacts` variable."""

    role_arn: str
    image_uri: str
    release_label: str = DEFAULT_RELEASE_LABEL
    architecture: str = "x86_64"  # or aarch64 (Graviton); the image must be built for it
    max_cpu: str = "200 vCPU"
    max_memory: str = "1000 GB"
    max_disk: str = "5000 GB"
    # The application stops itself (and stops costing pre-initialised capacity) when idle.
    idle_stop_minutes: int = 15
    # KMS_KEY_ARN: the jobs' S3 output (S3A's SSE-KMS properties), the logs on S3 and the managed
    # persistence logs are encrypted with it; None leaves the bucket's default and AWS-owned keys.
    kms_key_arn: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"emr-7\.\d+\.\d+", self.release_label):
            raise ValueError(f"release label must be an EMR 7.x label like {DEFAULT_RELEASE_LABEL}")
        s3a_encryption(self.kms_key_arn)  # refuses a malformed key ARN
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be x86_64 or aarch64, got {self.architecture!r}")
        if not ROLE_PATTERN.fullmatch(self.role_arn):
            raise ValueError(f"the job runtime role must be an IAM role ARN, got {self.role_arn!r}")
        if not IMAGE_PATTERN.fullmatch(self.image_uri):
            raise ValueError(
                f"the image must be an ECR image URI like 123456789012.dkr.ecr.eu-west-1.amazonaws.com/"
                f"spark-jobs:0.1.0, got {self.image_uri!r}"
            )

    @property
    def timeout_minutes(self) -> int:
        return STEP_TIMEOUT_SECONDS // 60


def log_uri(deployment: Deployment) -> str:
    """Driver/executor logs and Spark event logs (the History Server reads them from here)."""
    return f"{deployment.root}/logs/emr-serverless/"


def driver_log(log_root: str, application_id: str, job_run_id: str) -> str:
    """Where EMR Serverless writes a job run's driver stderr under the S3 log URI."""
    return f"{log_root.rstrip('/')}/applications/{application_id}/jobs/{job_run_id}/SPARK_DRIVER/stderr.gz"


def spark_defaults(configurations: Sequence[Mapping[str, Any]], kms_key_arn: str | None = None) -> dict[str, str]:
    """The cluster's spark-defaults (bootstrap/configurations.json, one home for Spark settings)
    without the YARN-only ones, plus what EMR Serverless needs: Delta's jars and Python 3.11, and
    with a key S3A's SSE-KMS properties as `spark.hadoop.*` (EMR Serverless has no core-site)."""
    [cluster] = [c for c in configurations if c["Classification"] == "spark-defaults"]
    properties = {k: v for k, v in cluster["Properties"].items() if not k.startswith(YARN_ONLY)}
    # Delta's jars first, then any the cluster adds (e.g. the DynamoDB log store's).
    more = [jar for jar in properties.get("spark.jars", "").split(",") if jar and jar not in DELTA_JARS]
    properties.update(
        {
            "spark.jars": ",".join([*DELTA_JARS, *more]),
            "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": PYTHON,
            "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": PYTHON,
            "spark.executorEnv.PYSPARK_PYTHON": PYTHON,
        }
    )
    properties.update({f"spark.hadoop.{key}": value for key, value in s3a_encryption(kms_key_arn).items()})
    return dict(sorted(properties.items()))


def monitoring(deployment: Deployment, stream_prefix: str, kms_key_arn: str | None = None) -> dict[str, Any]:
    """Logs and Spark event logs to S3, driver and executor output to CloudWatch Logs (where the
    run's metrics line becomes CloudWatch metrics), and the managed Spark UI. With a key, the logs
    on S3 and in managed persistence are encrypted with it (`encryptionKeyArn`)."""
    key = {"encryptionKeyArn": kms_key_arn} if kms_key_arn else {}
    return {
        "s3MonitoringConfiguration": {"logUri": log_uri(deployment), **key},
        "cloudWatchLoggingConfiguration": {
            "enabled": True,
            "logGroupName": LOG_GROUP,
            "logStreamNamePrefix": stream_prefix,
            "logTypes": {"SPARK_DRIVER": ["STDOUT", "STDERR"], "SPARK_EXECUTOR": ["STDERR"]},
        },
        "managedPersistenceMonitoringConfiguration": {"enabled": True, **key},
    }


def create_application(deployment: Deployment, spec: ServerlessSpec) -> dict[str, Any]:
    """CreateApplication for this version: its image holds this version's requirements."""
    return {
        "name": f"{PROJECT_TAG}-{deployment.version}",
        "releaseLabel": spec.release_label,
        "type": "SPARK",
        "architecture": ARCHITECTURES[spec.architecture],
        "imageConfiguration": {"imageUri": spec.image_uri},
        "maximumCapacity": {"cpu": spec.max_cpu, "memory": spec.max_memory, "disk": spec.max_disk},
        "autoStartConfiguration": {"enabled": True},
        "autoStopConfiguration": {"enabled": True, "idleTimeoutMinutes": spec.idle_stop_minutes},
        "monitoringConfiguration": monitoring(deployment, PROJECT_TAG, spec.kms_key_arn),
        "tags": {"project": PROJECT_TAG, "version": deployment.version},
    }


def start_job_run(
    job: Job,
    deployment: Deployment,
    spec: ServerlessSpec,
    configurations: Sequence[Mapping[str, Any]],
    arguments: Sequence[str] | None = None,
) -> dict[str, Any]:
    """StartJobRun for one job, without applicationId and clientToken (the SDK makes one)."""
    conf = [item for key, value in sorted(job.spark_conf.items()) for item in ("--conf", f"{key}={value}")]
    request: dict[str, Any] = {
        "name": job.name,
        "executionRoleArn": spec.role_arn,
        "mode": "BATCH",
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": deployment.entrypoint_uri(job),
                "entryPointArguments": list(dated_arguments(job, deployment.root) if arguments is None else arguments),
                "sparkSubmitParameters": " ".join(["--py-files", deployment.zip_uri, *conf]),
            }
        },
        "configurationOverrides": {
            "applicationConfiguration": [
                {"classification": "spark-defaults", "properties": spark_defaults(configurations, spec.kms_key_arn)}
            ],
            "monitoringConfiguration": monitoring(deployment, job.name, spec.kms_key_arn),
        },
        "executionTimeoutMinutes": spec.timeout_minutes,
        "tags": {"project": PROJECT_TAG, "pipeline": job.pipeline, "job": job.name, "version": deployment.version},
    }
    if job.idempotent:
        # A rerun replaces its outputs, so one more attempt is safe (EMR Serverless reruns a batch
        # job from the start, possibly in another Availability Zone).
        request["retryPolicy"] = {"maxAttempts": 2}
    return request


def sfn_arguments(value: Any, key: str | None = None) -> Any:
    """An EMR Serverless request as the Step Functions integration spells it: every member name
    PascalCase (`jobDriver.sparkSubmit.entryPoint` -> `JobDriver.SparkSubmit.EntryPoint`), the keys
    of user-data maps unchanged."""
    if isinstance(value, Mapping):
        if key in USER_MAPS:
            return dict(value)
        return {name[:1].upper() + name[1:]: sfn_arguments(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [sfn_arguments(item, key) for item in value]
    return value


def _job_state(job: Job, request: Mapping[str, Any], next_state: str) -> dict[str, Any]:
    # The Step Functions Retry below is the one retry (as on EC2); the service's retry policy is
    # left out so a failed job is not run four times.
    body = {name: value for name, value in request.items() if name != "retryPolicy"}
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::emr-serverless:startJobRun.sync",
        "Arguments": {
            "ApplicationId": "{% $states.context.Execution.Input.applicationId %}",
            **sfn_arguments(body),
        },
        # The job run's own timeout (executionTimeoutMinutes) cancels it first, cleanly.
        "TimeoutSeconds": STEP_TIMEOUT_SECONDS + 600,
        "Catch": _catch("Pipeline failed"),
        "Next": next_state,
    }
    if job.idempotent:
        state["Retry"] = [
            {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 60, "MaxAttempts": 1, "BackoffRate": 2.0}
        ]
    return state


def state_machine(
    pipeline: str,
    jobs: Sequence[Job],
    deployment: Deployment,
    spec: ServerlessSpec,
    configurations: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """One pipeline on the application given as `applicationId` in the execution input: its jobs
    in order, then the Redshift load when a job exported for it; any failure fails the execution
    with the job's error (nothing to tear down: the application stops itself when idle)."""
    redshift = _redshift_items(jobs, deployment.root)
    condition = "$exists($states.input.applicationId)"
    usage = '{"applicationId": "00f..."'
    if redshift:
        condition += " and $exists($states.input.redshift.target.Database)"
        condition += " and $exists($states.input.redshift.copyRoleArn)"
        usage += ', "redshift": {"target": {"Database": ..., "WorkgroupName": ... (or "ClusterIdentifier" and '
        usage += '"SecretArn")}, "copyRoleArn": ...}'
    first = f"Run {jobs[0].name}"
    states: dict[str, Any] = {
        **date_states("Check input"),
        "Check input": {
            "Type": "Choice",
            "Comment": "Fail before any job runs when the execution input lacks what the pipeline needs.",
            "Choices": [{"Condition": "{% " + condition + " %}", "Next": first}],
            "Default": "Missing input",
        },
        "Missing input": {"Type": "Fail", "Error": "MissingInput", "Cause": f"Start the execution with {usage}}}"},
    }
    after_jobs = "Load Redshift" if redshift else "Pipeline succeeded"
    for index, job in enumerate(jobs):
        next_state = f"Run {jobs[index + 1].name}" if index + 1 < len(jobs) else after_jobs
        request = start_job_run(job, deployment, spec, configurations, sfn_arguments_for(job, deployment.root))
        state = date_expressions(_job_state(job, request, next_state))
        if job.dated:
            submit = state["Arguments"]["JobDriver"]["SparkSubmit"]
            submit["EntryPointArguments"] = with_accepted_gates(submit["EntryPointArguments"])
        states[f"Run {job.name}"] = state
    states.update(redshift_states(jobs, deployment.root, "Pipeline succeeded"))
    states["Pipeline failed"] = {"Type": "Fail", "Error": "{% $failure.Error %}", "Cause": "{% $failure.Cause %}"}
    states["Pipeline succeeded"] = {"Type": "Succeed"}
    return {
        "Comment": f"{pipeline} pipeline ({', '.join(j.name for j in jobs)}) on EMR Serverless, spark_jobs "
        f"{deployment.version}: generated by `make emr-artifacts` from tools/emr/registry.py; do not edit.",
        "QueryLanguage": "JSONata",
        "StartAt": "Resolve date",
        "States": states,
    }


def documents(
    jobs: Iterable[Job],
    deployment: Deployment,
    spec: ServerlessSpec,
    configurations: Sequence[Mapping[str, Any]],
    topic_arn: str | None = None,
) -> dict[str, Any]:
    """File name (under serverless/) -> JSON document, for the given (present) jobs; with an SNS
    topic, the state machines notify it when they fail."""
    from tools.emr import alarms

    jobs = tuple(jobs)
    out: dict[str, Any] = {"create-application.json": create_application(deployment, spec)}
    for job in jobs:
        out[f"start-job-run-{job.name}.json"] = start_job_run(job, deployment, spec, configurations)
    for pipeline, members in pipelines(jobs).items():
        machine = state_machine(pipeline, members, deployment, spec, configurations)
        out[f"state-machine-{pipeline}.json"] = (
            alarms.with_notification(machine, topic_arn, pipeline, alarms.gate_file(members, deployment.root))
            if topic_arn
            else machine
        )
    return out
