"""From the registry to EMR and Step Functions documents: pure functions, no AWS calls.

Everything here takes plain values and returns JSON-able dicts, so what `make emr-artifacts`
writes, what `make submit` sends and what the tests validate are the same objects.

S3 layout of one deployment (`{root}` is the BUCKET given to make, e.g. s3://bucket/prefix):

    {root}/artifacts/<version>/spark_jobs-<version>.zip
    {root}/artifacts/<version>/entrypoints/<job>.py
    {root}/artifacts/<version>/requirements.txt
    {root}/artifacts/<version>/bootstrap/install_requirements.sh
    {root}/artifacts/<version>/bootstrap/configurations.json
    {root}/logs/emr/

Artifacts are versioned, so a new release never changes what a running pipeline uses and
rolling back is pointing at the previous version's files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.s3 import s3a_encryption
from tools.emr.registry import DASHBOARD, Job, output_root, pipelines

DEFAULT_RELEASE_LABEL = "emr-7.12.0"
DEFAULT_INSTANCE_TYPE = "m6i.xlarge"
PROJECT_TAG = "spark-jobs"
# Bucket names: 3-63 lowercase letters, digits, dots and hyphens (S3's rules, simplified).
ROOT_PATTERN = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<prefix>(/[^/]+)*)/?")
STEP_TIMEOUT_SECONDS = 4 * 3600
# EMR on EC2 streams the driver's stdout (the runs' metrics line, common/emf.py) to CloudWatch
# Logs from emr-7.11.0 on: the AmazonCloudWatchAgent application plus the cluster's
# MonitoringConfiguration, no bootstrap; CloudWatch turns the line into SparkJobs metrics.
CLOUDWATCH_LOGS_SINCE = (7, 11)
EC2_LOG_GROUP = "/aws/emr/spark-jobs"
# What the static documents (steps-<pipeline>.json, start-job-run-<job>.json) hold where a dated
# job's processing day goes: `DATE=2026-12-06 envsubst < steps-logs.json` fills it in, and the
# Airflow example swaps it for `{{ ds }}`.
DATE_PLACEHOLDER = "${DATE}"
# Stands for the day inside the state machines' arguments until `date_expressions` turns each
# such argument into a JSONata expression over the `$date` variable.
_DATE_SENTINEL = "\x00date\x00"


def parse_root(text: str) -> str:
    """The deployment root without a trailing slash, or ValueError saying what is expected."""
    match = ROOT_PATTERN.fullmatch(text.strip())
    if not match:
        raise ValueError(f"BUCKET must be an S3 URI like s3://my-bucket/prefix, got {text!r}")
    return f"s3://{match['bucket']}{match['prefix']}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an S3 object URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


@dataclass(frozen=True)
class Deployment:
    """Where one version of the artifact lives."""

    root: str
    version: str

    @property
    def artifacts(self) -> str:
        return f"{self.root}/artifacts/{self.version}"

    @property
    def zip_uri(self) -> str:
        return f"{self.artifacts}/spark_jobs-{self.version}.zip"

    def entrypoint_uri(self, job: Job) -> str:
        return f"{self.artifacts}/entrypoints/{job.entrypoint}"

    @property
    def requirements_uri(self) -> str:
        return f"{self.artifacts}/requirements.txt"

    @property
    def bootstrap_uri(self) -> str:
        return f"{self.artifacts}/bootstrap/install_requirements.sh"

    @property
    def log_uri(self) -> str:
        return f"{self.root}/logs/emr/"

    @property
    def event_log_uri(self) -> str:
        """Spark event logs of EMR on EC2 runs (EMR Serverless keeps its own under its log URI)."""
        return f"{self.root}/logs/spark-events/"


# Graviton families: a "g" after the generation digit (m7g, r6gd, c6gn, i4g...); g5 is x86 + GPU.
GRAVITON_FAMILY = re.compile(r"[a-z]+\d+[a-z]*g[a-z]*")
# Spot task nodes of the same size from several families: Spot capacity is per instance pool,
# and an allocation strategy can only pick the pools it is offered.
SPOT_FAMILIES = {"x86_64": ("m6i", "m5", "m6a", "m5a"), "aarch64": ("m7g", "m6g")}
SPOT_ALLOCATION_STRATEGIES = ("price-capacity-optimized", "capacity-optimized", "lowest-price", "diversified")


def architecture(instance_type: str) -> str:
    """x86_64 or aarch64 (Graviton) for an EC2 instance type like m6i.xlarge or m7g.xlarge."""
    family = instance_type.split(".", 1)[0]
    return "aarch64" if GRAVITON_FAMILY.fullmatch(family) else "x86_64"


@dataclass(frozen=True)
class ClusterSpec:
    """The cluster our pipelines run on; every field is a `make emr-artifacts` variable.

    Cost knobs: `spot_task_units` > 0 switches to instance fleets: primary and core nodes stay
    on-demand (core nodes hold HDFS and, with YARN's CORE label, every driver), the task fleet is
    Spot over `task_instance_types` with `spot_allocation_strategy`. Graviton instance types
    (m7g...) make an aarch64 cluster (use the aarch64 wheelhouse). `max_capacity` turns on EMR
    managed scaling between the core nodes and that many units (instances).

    Encryption (tools/emr/security.py): `security_configuration` is the EMR security configuration
    the cluster starts with (at rest, in transit); `kms_key_arn` also makes S3A, which serves
    `s3://` on emr-7.12.0, write SSE-KMS under that key (core-site). Neither: EMR's defaults.
    """

    release_label: str = DEFAULT_RELEASE_LABEL
    primary_instance_type: str = DEFAULT_INSTANCE_TYPE
    core_instance_type: str = DEFAULT_INSTANCE_TYPE
    core_nodes: int = 2
    service_role: str = "EMR_DefaultRole"
    instance_profile: str = "EMR_EC2_DefaultRole"
    subnet_id: str | None = None
    wheelhouse: str | None = None
    # An idle cluster terminates itself after this long: the safety net if an orchestrator
    # dies between creating a cluster and terminating it.
    idle_timeout_seconds: int = 3600
    spot_task_units: int = 0
    task_instance_types: tuple[str, ...] = ()
    spot_allocation_strategy: str = "price-capacity-optimized"
    max_capacity: int | None = None
    security_configuration: str | None = None
    kms_key_arn: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"emr-7\.\d+\.\d+", self.release_label):
            raise ValueError(f"release label must be an EMR 7.x label like {DEFAULT_RELEASE_LABEL}")
        s3a_encryption(self.kms_key_arn)  # refuses a malformed key ARN
        if self.core_nodes < 1:
            raise ValueError("core_nodes must be at least 1")
        if self.spot_task_units < 0:
            raise ValueError("spot task units must be 0 (none) or more")
        if self.spot_allocation_strategy not in SPOT_ALLOCATION_STRATEGIES:
            raise ValueError(f"spot allocation strategy must be one of {', '.join(SPOT_ALLOCATION_STRATEGIES)}")
        types = [self.primary_instance_type, self.core_instance_type, *self.spot_task_types]
        arches = {t: architecture(t) for t in types}
        if len(set(arches.values())) > 1:
            raise ValueError(f"one architecture per cluster: {', '.join(f'{t} ({a})' for t, a in arches.items())}")
        if self.wheelhouse is not None:
            parse_root(self.wheelhouse)
            other = "x86_64" if self.architecture == "aarch64" else "aarch64"
            if other in self.wheelhouse:
                arch = self.architecture
                raise ValueError(f"{arch} nodes need the {arch} wheelhouse, not {self.wheelhouse}")
        if self.max_capacity is not None and self.max_capacity < self.core_nodes + self.spot_task_units:
            raise ValueError(
                f"max capacity {self.max_capacity} is below the {self.core_nodes + self.spot_task_units} "
                "core and task units the cluster starts with"
            )

    @property
    def architecture(self) -> str:
        return architecture(self.core_instance_type)

    @property
    def spot_task_types(self) -> tuple[str, ...]:
        """The task fleet's instance types: as given, else the core nodes' size in a few families."""
        if not self.spot_task_units:
            return ()
        if self.task_instance_types:
            return self.task_instance_types
        size = self.core_instance_type.split(".", 1)[1]
        return tuple(f"{family}.{size}" for family in SPOT_FAMILIES[self.architecture])


# ── steps ────────────────────────────────────────────────────────────────────────────────


def dated_arguments(job: Job, root: str, day: str = DATE_PLACEHOLDER) -> tuple[str, ...]:
    """A pipeline's arguments for `job`: for processing day `day` when the job is dated."""
    return job.render_dated(root, day) if job.dated else job.render(root)


def spark_submit_args(job: Job, deployment: Deployment, arguments: Sequence[str] | None = None) -> list[str]:
    """The command EMR's command-runner.jar runs: the zip on --py-files, the entrypoint from S3."""
    conf = [item for key, value in sorted(job.spark_conf.items()) for item in ("--conf", f"{key}={value}")]
    return [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "--name",
        job.name,
        *conf,
        "--py-files",
        deployment.zip_uri,
        deployment.entrypoint_uri(job),
        *(job.render(deployment.root) if arguments is None else arguments),
    ]


def step_config(
    job: Job,
    deployment: Deployment,
    action_on_failure: str = "CONTINUE",
    arguments: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The EMR API's StepConfig (AddJobFlowSteps, RunJobFlow, Step Functions addStep)."""
    return {
        "Name": job.name,
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": spark_submit_args(job, deployment, arguments)},
    }


def cli_step(config: Mapping[str, Any]) -> dict[str, Any]:
    """A StepConfig in the shape `aws emr add-steps --steps file://...` reads (CUSTOM_JAR)."""
    return {
        "Type": "CUSTOM_JAR",
        "Name": config["Name"],
        "ActionOnFailure": config["ActionOnFailure"],
        "Jar": config["HadoopJarStep"]["Jar"],
        "Args": list(config["HadoopJarStep"]["Args"]),
    }


# ── clusters ─────────────────────────────────────────────────────────────────────────────


def streams_logs_to_cloudwatch(release_label: str) -> bool:
    """Whether an EMR 7.x release can stream step and driver logs to CloudWatch (7.11.0+)."""
    major, minor = (int(part) for part in release_label.removeprefix("emr-").split(".")[:2])
    return (major, minor) >= CLOUDWATCH_LOGS_SINCE


def cloudwatch_logging() -> dict[str, Any]:
    """The cluster's MonitoringConfiguration: steps' and Spark drivers' output to CloudWatch Logs."""
    return {
        "CloudWatchLogConfiguration": {
            "Enabled": True,
            "LogGroupName": EC2_LOG_GROUP,
            "LogStreamNamePrefix": PROJECT_TAG,
            "LogTypes": {"STEP_LOGS": ["STDOUT", "STDERR"], "SPARK_DRIVER": ["STDOUT", "STDERR"]},
        }
    }


def cluster_config(
    name: str,
    deployment: Deployment,
    spec: ClusterSpec,
    configurations: list[dict[str, Any]],
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """RunJobFlow parameters for a cluster that waits for steps (Step Functions or submit)."""
    bootstrap_args = [deployment.requirements_uri]
    if spec.wheelhouse:
        bootstrap_args += ["--wheelhouse", spec.wheelhouse]
    instances: dict[str, Any] = {**_capacity(spec), "KeepJobFlowAliveWhenNoSteps": True, "TerminationProtected": False}
    if spec.subnet_id:
        instances["Ec2SubnetIds" if spec.spot_task_units else "Ec2SubnetId"] = (
            [spec.subnet_id] if spec.spot_task_units else spec.subnet_id
        )
    configurations = with_s3a_encryption(with_event_logs(configurations, deployment), spec.kms_key_arn)
    if spec.spot_task_units:
        configurations = [*configurations, AM_ON_CORE_NODES]
    scaling = {"ManagedScalingPolicy": _managed_scaling(spec)} if spec.max_capacity is not None else {}
    security = {"SecurityConfiguration": spec.security_configuration} if spec.security_configuration else {}
    applications = [{"Name": "Spark"}]
    monitoring: dict[str, Any] = {}
    if streams_logs_to_cloudwatch(spec.release_label):
        applications.append({"Name": "AmazonCloudWatchAgent"})
        monitoring = {"MonitoringConfiguration": cloudwatch_logging()}
    return {
        "Name": name,
        "ReleaseLabel": spec.release_label,
        "Applications": applications,
        **monitoring,
        "LogUri": deployment.log_uri,
        "Instances": instances,
        "BootstrapActions": [
            {
                "Name": "install-python-requirements",
                "ScriptBootstrapAction": {"Path": deployment.bootstrap_uri, "Args": bootstrap_args},
            }
        ],
        "Configurations": configurations,
        "ServiceRole": spec.service_role,
        "JobFlowRole": spec.instance_profile,
        "AutoTerminationPolicy": {"IdleTimeout": spec.idle_timeout_seconds},
        **scaling,
        **security,
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())],
    }


def with_event_logs(configurations: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
    """The configurations with Spark's event logs on S3 (not the cluster's HDFS, gone with it), so
    a History Server anywhere can replay any past run; a given `spark.eventLog.dir` is kept."""
    out = []
    for configuration in configurations:
        if configuration.get("Classification") == "spark-defaults":
            properties = {
                "spark.eventLog.enabled": "true",
                "spark.eventLog.dir": deployment.event_log_uri,
                "spark.history.fs.logDirectory": deployment.event_log_uri,
                **configuration.get("Properties", {}),
            }
            configuration = {**configuration, "Properties": properties}
        out.append(configuration)
    return out


def with_s3a_encryption(configurations: list[dict[str, Any]], kms_key_arn: str | None) -> list[dict[str, Any]]:
    """The configurations with S3A's SSE-KMS properties in core-site (merged into one given, whose
    own values win). emr-7.12.0 reads and writes `s3://` with S3A, and AWS documents the security
    configuration's S3 encryption for EMRFS: these properties are what encrypts the jobs' output.
    Without a key nothing is added and the bucket's default encryption applies."""
    properties = s3a_encryption(kms_key_arn)
    if not properties:
        return configurations
    out, merged = [], False
    for configuration in configurations:
        if configuration.get("Classification") == "core-site":
            configuration = {**configuration, "Properties": {**properties, **configuration.get("Properties", {})}}
            merged = True
        out.append(configuration)
    return out if merged else [*out, {"Classification": "core-site", "Properties": properties}]


# With Spot task nodes, YARN must start every application master (the driver, in cluster mode)
# on a core node: a driver on a reclaimed Spot node fails the whole job (maxAppAttempts=1),
# an executor on one only loses tasks that Spark reruns elsewhere.
AM_ON_CORE_NODES: dict[str, Any] = {
    "Classification": "yarn-site",
    "Properties": {"yarn.node-labels.enabled": "true", "yarn.node-labels.am.default-node-label-expression": "CORE"},
}


def _capacity(spec: ClusterSpec) -> dict[str, Any]:
    """On-demand instance groups, or fleets with an on-demand core and a Spot task fleet."""
    if not spec.spot_task_units:
        return {
            "InstanceGroups": [
                {
                    "Name": "primary",
                    "InstanceRole": "MASTER",
                    "Market": "ON_DEMAND",
                    "InstanceType": spec.primary_instance_type,
                    "InstanceCount": 1,
                },
                {
                    "Name": "core",
                    "InstanceRole": "CORE",
                    "Market": "ON_DEMAND",
                    "InstanceType": spec.core_instance_type,
                    "InstanceCount": spec.core_nodes,
                },
            ]
        }
    on_demand = {"OnDemandSpecification": {"AllocationStrategy": "lowest-price"}}
    return {
        "InstanceFleets": [
            {
                "Name": "primary",
                "InstanceFleetType": "MASTER",
                "TargetOnDemandCapacity": 1,
                "InstanceTypeConfigs": [{"InstanceType": spec.primary_instance_type}],
                "LaunchSpecifications": on_demand,
            },
            {
                "Name": "core",
                "InstanceFleetType": "CORE",
                "TargetOnDemandCapacity": spec.core_nodes,
                "InstanceTypeConfigs": [{"InstanceType": spec.core_instance_type, "WeightedCapacity": 1}],
                "LaunchSpecifications": on_demand,
            },
            {
                "Name": "task-spot",
                "InstanceFleetType": "TASK",
                "TargetSpotCapacity": spec.spot_task_units,
                "InstanceTypeConfigs": [
                    {"InstanceType": t, "WeightedCapacity": 1, "BidPriceAsPercentageOfOnDemandPrice": 100}
                    for t in spec.spot_task_types
                ],
                "LaunchSpecifications": {
                    "SpotSpecification": {
                        "AllocationStrategy": spec.spot_allocation_strategy,
                        # No Spot capacity within 10 minutes: start on-demand task nodes instead.
                        "TimeoutDurationMinutes": 10,
                        "TimeoutAction": "SWITCH_TO_ON_DEMAND",
                    }
                },
            },
        ]
    }


def _managed_scaling(spec: ClusterSpec) -> dict[str, Any]:
    """EMR managed scaling between the core nodes and `max_capacity`; with Spot task nodes, core
    stays as it is (HDFS) and everything above it is Spot."""
    limits: dict[str, Any] = {
        "UnitType": "InstanceFleetUnits" if spec.spot_task_units else "Instances",
        "MinimumCapacityUnits": spec.core_nodes,
        "MaximumCapacityUnits": spec.max_capacity,
    }
    if spec.spot_task_units:
        limits["MaximumOnDemandCapacityUnits"] = spec.core_nodes
        limits["MaximumCoreCapacityUnits"] = spec.core_nodes
    return {"ComputeLimits": limits}


def run_job_flow(deployment: Deployment, spec: ClusterSpec, configurations: list[dict[str, Any]]) -> dict[str, Any]:
    """A long-lived cluster for `make submit` (it ends itself after the idle timeout)."""
    return cluster_config(
        f"{PROJECT_TAG}-{deployment.version}",
        deployment,
        spec,
        configurations,
        {"project": PROJECT_TAG, "version": deployment.version},
    )


# ── Step Functions (JSONata) ─────────────────────────────────────────────────────────────


def _state_name(job: Job) -> str:
    return f"Run {job.name}"


def _catch(next_state: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "Assign": {"failure": "{% $states.errorOutput %}"}, "Next": next_state}]


# The processing day, an ISO date: the execution input's `date`, else the UTC day before the
# scheduler's time (EventBridge Scheduler: `{"scheduledTime": "<aws.scheduler.scheduled-time>"}`),
# else the day before the execution started, like Airflow's `ds` for a daily schedule.
DATE_EXPRESSION = (
    "{% $exists($states.input.date) ? $string($states.input.date) : "
    "$fromMillis($toMillis($exists($states.input.scheduledTime) ? $states.input.scheduledTime"
    " : $states.context.Execution.StartTime) - 86400000, '[Y0001]-[M01]-[D01]') %}"
)
# A calendar day written yyyy-mm-dd (2026-02-30 does not survive the round trip).
DATE_IS_VALID = (
    "{% $contains($date, /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/)"
    " ? $fromMillis($toMillis($date & 'T00:00:00Z'), '[Y0001]-[M01]-[D01]') = $date : false %}"
)


# The quality gates an operator lets through for this execution: input {"acceptGates": ["volume"]}
# (or one name) -> ["--accept-gate", "volume"], appended to each gated job's arguments.
ACCEPT_GATES_EXPRESSION = (
    "{% ($g := $states.input.acceptGates; $exists($g) ? $reduce($type($g) = 'array' ? $g : [$g],"
    " function($acc, $name) { $append($acc, ['--accept-gate', $string($name)]) }, []) : []) %}"
)


def with_accepted_gates(arguments: list[str]) -> str:
    """A gated job's arguments as one JSONata expression: each argument (literal, or built from
    `$date`) followed by `$acceptGates`, so the execution input can add `--accept-gate NAME`."""
    items = [arg[2:-2].strip() if arg.startswith("{%") else json.dumps(arg) for arg in arguments]
    return "{% $append([" + ", ".join(items) + "], $acceptGates) %}"


def date_states(next_state: str) -> dict[str, dict[str, Any]]:
    """The states every pipeline starts with ("Resolve date" first): the processing day into
    `$date`, and a one-line failure, before anything runs, when it is not a calendar day."""
    return {
        "Resolve date": {
            "Type": "Pass",
            "Comment": 'The processing day: input {"date": "YYYY-MM-DD"}, else the UTC day before '
            '{"scheduledTime": ...} (EventBridge Scheduler) or before the execution started.',
            "Assign": {"date": DATE_EXPRESSION, "acceptGates": ACCEPT_GATES_EXPRESSION},
            "Next": "Check date",
        },
        "Check date": {
            "Type": "Choice",
            "Choices": [{"Condition": DATE_IS_VALID, "Next": next_state}],
            "Default": "Invalid date",
        },
        "Invalid date": {
            "Type": "Fail",
            "Error": "InvalidDate",
            "Cause": "{% 'date ' & $date & ' is not a day like 2026-12-06: start the execution with"
            ' {"date": "YYYY-MM-DD"} or {"scheduledTime": <ISO timestamp>}\' %}',
        },
    }


def _with_date(text: str) -> str:
    """`text` with the day's sentinel as a JSONata expression joining its parts with `$date`."""
    parts = text.split(_DATE_SENTINEL)
    pieces = [item for index, part in enumerate(parts) for item in ((["$date"] if index else []) + [json.dumps(part)])]
    return "{% " + " & ".join(piece for piece in pieces if piece != '""') + " %}"


def date_expressions(value: Any) -> Any:
    """A document whose strings holding the day's sentinel become JSONata expressions over `$date`."""
    if isinstance(value, Mapping):
        return {key: date_expressions(item) for key, item in value.items()}
    if isinstance(value, list):
        return [date_expressions(item) for item in value]
    if isinstance(value, str) and _DATE_SENTINEL in value:
        return _with_date(value)
    return value


def sfn_arguments_for(job: Job, root: str) -> tuple[str, ...]:
    """A job's arguments as a state machine holds them before `date_expressions`."""
    return dated_arguments(job, root, _DATE_SENTINEL)


def _redshift_acknowledgements(jobs: Iterable[Job], root: str) -> list[dict[str, str]]:
    """Copy each export's record to its acknowledgement (`Job.redshift_loaded`), as S3 calls it."""
    items = []
    for job in jobs:
        if job.redshift_loaded:
            (bucket, record), (target_bucket, acknowledgement) = map(split_s3_uri, job.render_redshift_loaded(root))
            items.append({"Bucket": target_bucket, "Key": acknowledgement, "CopySource": f"{bucket}/{record}"})
    return items


def _redshift_items(jobs: Iterable[Job], root: str) -> list[dict[str, str]]:
    items = []
    for job in jobs:
        for uri in job.render_redshift_sql(root):
            bucket, key = split_s3_uri(uri)
            items.append({"Bucket": bucket, "Key": key, "Name": f"{job.name}-{key.rsplit('/', 1)[-1]}"})
    return items


# The SQL files use psql conventions: BEGIN/COMMIT around each load and the COPY role as the
# psql variable :'iam_role'. The Data API runs a batch as one transaction already, so the
# text is split on ';' (the files hold no ';' inside literals), BEGIN/COMMIT are dropped and
# the role is filled in from the execution input. `[...]` keeps a single statement a list.
SQL_STATEMENTS = (
    "{% [$filter("
    "$map($split($states.result.Body, ';'), function($s) {"
    " $replace($replace($s, /^\\s+|\\s+$/, ''), \":'iam_role'\","
    ' "\'" & $states.context.Execution.Input.redshift.copyRoleArn & "\'")'
    " }),"
    " function($s) { $s != '' and $not($uppercase($s) in ['BEGIN', 'COMMIT', 'END']) }"
    ")] %}"
)


REDSHIFT_API_RETRY = [
    {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 10, "MaxAttempts": 3, "BackoffRate": 2.0}
]


def redshift_states(jobs: Sequence[Job], root: str, next_state: str) -> dict[str, dict[str, Any]]:
    """The states that load the jobs' Redshift exports ("Load Redshift" first), then acknowledge
    them (the job's next export carries over what was never acknowledged); {} when no job
    exports for Redshift."""
    items = _redshift_items(jobs, root)
    if not items:
        return {}
    acknowledgements = _redshift_acknowledgements(jobs, root)
    if not acknowledgements:
        return {"Load Redshift": _redshift_load(items, next_state)}
    acknowledge = {
        "Type": "Map",
        "Comment": "Record that the exports reached Redshift: copy each export's record to its acknowledgement.",
        "Items": acknowledgements,
        "MaxConcurrency": 1,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Copy record",
            "States": {
                "Copy record": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:copyObject",
                    "Arguments": {
                        "Bucket": "{% $states.input.Bucket %}",
                        "Key": "{% $states.input.Key %}",
                        "CopySource": "{% $states.input.CopySource %}",
                    },
                    "Retry": REDSHIFT_API_RETRY,
                    "End": True,
                }
            },
        },
        "Catch": _catch("Pipeline failed"),
        "Next": next_state,
    }
    return {
        "Load Redshift": _redshift_load(items, "Acknowledge Redshift load"),
        "Acknowledge Redshift load": acknowledge,
    }


def _redshift_load(items: list[dict[str, str]], next_state: str) -> dict[str, Any]:
    """A Map that runs each SQL file in order with the Redshift Data API and waits for it."""
    api_retry = REDSHIFT_API_RETRY
    return {
        "Type": "Map",
        "Comment": "Load the ETL's export into Redshift: one SQL file at a time, in order.",
        "Items": items,
        "MaxConcurrency": 1,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Read SQL",
            "States": {
                "Read SQL": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Arguments": {"Bucket": "{% $states.input.Bucket %}", "Key": "{% $states.input.Key %}"},
                    "Output": {"name": "{% $states.input.Name %}", "sqls": SQL_STATEMENTS},
                    "Retry": api_retry,
                    "Next": "Run SQL",
                },
                "Run SQL": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:redshiftdata:batchExecuteStatement",
                    "Arguments": (
                        "{% $merge([$states.context.Execution.Input.redshift.target,"
                        " {'Sqls': $states.input.sqls, 'StatementName': $states.input.name}]) %}"
                    ),
                    "Assign": {"statementId": "{% $states.result.Id %}"},
                    "Retry": api_retry,
                    "Next": "Wait for SQL",
                },
                "Wait for SQL": {"Type": "Wait", "Seconds": 15, "Next": "Check SQL"},
                "Check SQL": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:redshiftdata:describeStatement",
                    "Arguments": {"Id": "{% $statementId %}"},
                    "Retry": api_retry,
                    "Next": "SQL done?",
                },
                "SQL done?": {
                    "Type": "Choice",
                    "Choices": [
                        {"Condition": "{% $states.input.Status = 'FINISHED' %}", "Next": "SQL finished"},
                        {"Condition": "{% $states.input.Status in ['FAILED', 'ABORTED'] %}", "Next": "SQL failed"},
                    ],
                    "Default": "Wait for SQL",
                },
                "SQL failed": {
                    "Type": "Fail",
                    "Error": "Redshift.StatementFailed",
                    "Cause": "{% $string($states.input.Error) %}",
                },
                "SQL finished": {"Type": "Succeed"},
            },
        },
        "Catch": _catch("Pipeline failed"),
        "Next": next_state,
    }


def _job_step(job: Job, deployment: Deployment) -> dict[str, Any]:
    """A job's StepConfig in a state machine: the day from `$date`, a dated job's accepted gates."""
    step = date_expressions(step_config(job, deployment, arguments=sfn_arguments_for(job, deployment.root)))
    if job.dated:
        jar = step["HadoopJarStep"]
        step["HadoopJarStep"] = {**jar, "Args": with_accepted_gates(jar["Args"])}
    return step


def _dashboard_state(job: Job) -> str:
    return f"Build dashboard {job.name}"


def _dashboard_step(job: Job, deployment: Deployment) -> dict[str, Any]:
    """The step that builds `job`'s dashboard over its output root (jobs/build_dashboard.py)."""
    config = step_config(DASHBOARD, deployment, arguments=["--output", output_root(job, deployment.root)])
    return {**config, "Name": f"{DASHBOARD.name}-{job.name}"}


def _athena_items(jobs: Iterable[Job], root: str) -> list[dict[str, str]]:
    """The DDL file each job writes beside its run report (common/athena.py)."""
    items = []
    for job in jobs:
        bucket, key = split_s3_uri(f"{output_root(job, root)}/athena_ddl.sql")
        items.append({"Bucket": bucket, "Key": key, "Name": job.name})
    return items


# athena_ddl.sql holds one statement per ';' (no ';' inside its literals: common/athena.py
# refuses such locations); Athena runs one statement per query.
DDL_STATEMENTS = (
    "{% [$filter($map($split($states.result.Body, ';'), function($s) { $replace($s, /^\\s+|\\s+$/, '') }),"
    " function($s) { $s != '' })] %}"
)
# StartQueryExecution for one statement: the work group from the execution input (default
# `primary`), and a result location when the input gives one (else the work group's).
ATHENA_QUERY = (
    "{% $merge([{'QueryString': $states.input,"
    " 'WorkGroup': $exists($states.context.Execution.Input.athena.workGroup)"
    " ? $states.context.Execution.Input.athena.workGroup : 'primary'},"
    " $exists($states.context.Execution.Input.athena.outputLocation)"
    " ? {'ResultConfiguration': {'OutputLocation': $states.context.Execution.Input.athena.outputLocation}} : {}]) %}"
)


def _athena_register(items: list[dict[str, str]], next_state: str) -> dict[str, Any]:
    """A Map over the jobs' DDL files: read one, run its statements in order, each waited for."""
    api_retry = [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 10, "MaxAttempts": 3, "BackoffRate": 2.0}]
    return {
        "Type": "Map",
        "Comment": "Register the jobs' output tables in Athena: each job's athena_ddl.sql, statement by statement.",
        "Items": items,
        "MaxConcurrency": 1,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Read DDL",
            "States": {
                "Read DDL": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Arguments": {"Bucket": "{% $states.input.Bucket %}", "Key": "{% $states.input.Key %}"},
                    "Output": {"statements": DDL_STATEMENTS},
                    "Retry": api_retry,
                    "Next": "Run DDL",
                },
                "Run DDL": {
                    "Type": "Map",
                    "Items": "{% $states.input.statements %}",
                    "MaxConcurrency": 1,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Run statement",
                        "States": {
                            "Run statement": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
                                "Arguments": ATHENA_QUERY,
                                "Retry": api_retry,
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                },
            },
        },
        "Catch": _catch("Pipeline failed"),
        "Next": next_state,
    }


def state_machine(
    pipeline: str,
    jobs: Sequence[Job],
    deployment: Deployment,
    spec: ClusterSpec,
    configurations: list[dict[str, Any]],
) -> dict[str, Any]:
    """One pipeline on a cluster of its own: create it, run the jobs in order, terminate it
    whether they succeed or fail, then load Redshift when a job exported for it."""
    cluster = cluster_config(
        f"{PROJECT_TAG}-{pipeline}-{deployment.version}",
        deployment,
        spec,
        configurations,
        {"project": PROJECT_TAG, "pipeline": pipeline, "version": deployment.version},
    )
    redshift = _redshift_items(jobs, deployment.root)
    athena = _athena_items(jobs, deployment.root)
    after_cluster = "Register in Athena?"
    states: dict[str, Any] = {}
    start = "Create cluster"
    if redshift:
        start = "Check input"
        states["Check input"] = {
            "Type": "Choice",
            "Comment": "Fail before paying for a cluster when the Redshift target is missing.",
            "Choices": [
                {
                    "Condition": "{% $exists($states.input.redshift.target.Database)"
                    " and $exists($states.input.redshift.copyRoleArn) %}",
                    "Next": "Create cluster",
                }
            ],
            "Default": "Missing input",
        }
        states["Missing input"] = {
            "Type": "Fail",
            "Error": "MissingInput",
            "Cause": 'Start the execution with {"redshift": {"target": {"Database": ..., "WorkgroupName": ... '
            '(or "ClusterIdentifier" and "SecretArn")}, "copyRoleArn": ...}}',
        }
    states = {**date_states(start), **states}
    states["Create cluster"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::elasticmapreduce:createCluster.sync",
        "Arguments": cluster,
        "Assign": {"clusterId": "{% $states.result.ClusterId %}"},
        # One more try for capacity or throttling; a bootstrap failure fails the same way twice.
        "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 60, "MaxAttempts": 1, "BackoffRate": 2.0}],
        "Catch": _catch("Pipeline failed"),
        "Next": _state_name(jobs[0]),
    }
    for index, job in enumerate(jobs):
        following = _state_name(jobs[index + 1]) if index + 1 < len(jobs) else "Terminate cluster"
        states[_dashboard_state(job)] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::elasticmapreduce:addStep.sync",
            "Arguments": {"ClusterId": "{% $clusterId %}", "Step": _dashboard_step(job, deployment)},
            "TimeoutSeconds": STEP_TIMEOUT_SECONDS,
            "Retry": [
                {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 60, "MaxAttempts": 1, "BackoffRate": 2.0}
            ],
            "Catch": _catch("Terminate cluster after failure"),
            "Next": following,
        }
        states[_state_name(job)] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::elasticmapreduce:addStep.sync",
            "Arguments": {"ClusterId": "{% $clusterId %}", "Step": _job_step(job, deployment)},
            "TimeoutSeconds": STEP_TIMEOUT_SECONDS,
            "Catch": _catch("Terminate cluster after failure"),
            "Next": _dashboard_state(job),
        }
        if job.idempotent:
            # A rerun replaces its outputs, so one retry is safe and rides out a lost node or an
            # S3 hiccup.
            states[_state_name(job)]["Retry"] = [
                {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 60, "MaxAttempts": 1, "BackoffRate": 2.0}
            ]
    terminate_retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 30, "MaxAttempts": 3, "BackoffRate": 2.0}]
    states["Terminate cluster"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::elasticmapreduce:terminateCluster.sync",
        "Arguments": {"ClusterId": "{% $clusterId %}"},
        "Retry": terminate_retry,
        "Catch": _catch("Pipeline failed"),
        "Next": "Load Redshift" if redshift else after_cluster,
    }
    states.update(redshift_states(jobs, deployment.root, after_cluster))
    states["Register in Athena?"] = {
        "Type": "Choice",
        "Comment": 'Optional: start the execution with {"athena": {"workGroup": ..., "outputLocation": ...}} '
        "to (re)create the output tables in Athena.",
        "Choices": [
            {"Condition": "{% $exists($states.context.Execution.Input.athena) %}", "Next": "Register in Athena"}
        ],
        "Default": "Pipeline succeeded",
    }
    states["Register in Athena"] = _athena_register(athena, "Pipeline succeeded")
    states["Terminate cluster after failure"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::elasticmapreduce:terminateCluster.sync",
        "Arguments": {"ClusterId": "{% $clusterId %}"},
        "Retry": terminate_retry,
        # Whether or not termination worked, the pipeline failed with the job's error (the
        # cluster's idle timeout ends it if termination itself failed).
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Pipeline failed"}],
        "Next": "Pipeline failed",
    }
    states["Pipeline failed"] = {
        "Type": "Fail",
        "Error": "{% $failure.Error %}",
        "Cause": "{% $failure.Cause %}",
    }
    states["Pipeline succeeded"] = {"Type": "Succeed"}
    return {
        "Comment": f"{pipeline} pipeline ({', '.join(j.name for j in jobs)}), spark_jobs {deployment.version}: "
        "generated by `make emr-artifacts` from tools/emr/registry.py; do not edit.",
        "QueryLanguage": "JSONata",
        "StartAt": "Resolve date",
        "States": states,
    }


# ── everything `make emr-artifacts` writes ──────────────────────────────────────────────


def documents(
    jobs: Iterable[Job],
    deployment: Deployment,
    spec: ClusterSpec,
    configurations: list[dict[str, Any]],
    topic_arn: str | None = None,
) -> dict[str, Any]:
    """File name -> JSON document, for the given (present) jobs; with an SNS topic, the state
    machines notify it when they fail and alarms.json holds the CloudWatch alarms."""
    from tools.emr import alarms

    jobs = tuple(jobs)
    out: dict[str, Any] = {"run-job-flow.json": run_job_flow(deployment, spec, configurations)}
    if topic_arn:
        out["alarms.json"] = alarms.alarms(jobs, topic_arn)
    for pipeline, members in pipelines(jobs).items():
        out[f"steps-{pipeline}.json"] = [
            cli_step(step_config(job, deployment, arguments=dated_arguments(job, deployment.root))) for job in members
        ]
        machine = state_machine(pipeline, members, deployment, spec, configurations)
        out[f"state-machine-{pipeline}.json"] = (
            alarms.with_notification(machine, topic_arn, pipeline, alarms.gate_file(members, deployment.root))
            if topic_arn
            else machine
        )
    return out
