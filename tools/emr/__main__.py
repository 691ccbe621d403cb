"""Command line behind the EMR make targets.

    python -m tools.emr artifacts --bucket s3://my-bucket/prefix      # make emr-artifacts
    python -m tools.emr deploy    --bucket s3://my-bucket/prefix      # make deploy
    python -m tools.emr cluster   --bucket s3://my-bucket/prefix      # make cluster
    python -m tools.emr submit    --bucket s3://my-bucket/prefix --cluster-id j-XXXX --job log_analytics
    python -m tools.emr submit-serverless --bucket s3://my-bucket/prefix --application-id 00f... \
        --role-arn arn:aws:iam::123456789012:role/spark-jobs-serverless --job log_analytics
    python -m tools.emr backfill --state-machine-arn arn:...:stateMachine:spark-jobs-logs \
        --from 2026-11-01 --to 2026-11-07                              # make backfill

Bad arguments end with one line and exit 2; a failed AWS call or step with one line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from common.cli import iso_date
from common.s3 import parse_kms_key_arn
from tools import package
from tools.emr import registry, security, serverless, shapes
from tools.emr.aws import (
    AwsError,
    create_cluster,
    deploy,
    ensure_security_configuration,
    require_deployed,
    submit,
    submit_serverless,
)
from tools.emr.backfill import backfill
from tools.emr.launch import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_RELEASE_LABEL,
    SPOT_ALLOCATION_STRATEGIES,
    ClusterSpec,
    Deployment,
    documents,
    parse_root,
    step_config,
)
from tools.emr.logstore import LogStore, with_log_store

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATIONS = ROOT / "bootstrap" / "configurations.json"
SECURITY_CONFIGURATION = "security-configuration.json"


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def root_argument(text: str) -> str:
    try:
        return parse_root(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def kms_key_argument(text: str) -> str:
    try:
        return parse_kms_key_arn(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def load_configurations(path: Path = CONFIGURATIONS) -> list[dict[str, Any]]:
    return json.loads(path.read_text())


def write_documents(out: Path, docs: dict[str, Any]) -> list[Path]:
    """Replace `out` with one pretty JSON file per document (stable bytes for review)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written = []
    for name, document in sorted(docs.items()):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
        written.append(path)
    return written


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = Parser(prog="emr", description="Generate, deploy and submit the jobs on Amazon EMR 7.x.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def with_bucket(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument(
            "--bucket", required=True, type=root_argument, help="deployment root, e.g. s3://my-bucket/spark-jobs"
        )
        return command

    artifacts = with_bucket("artifacts", "Write EMR steps, state machines and the cluster document.")
    artifacts.add_argument("--out", type=Path, default=ROOT / "dist" / "emr")
    artifacts.add_argument("--release-label", default=DEFAULT_RELEASE_LABEL)
    artifacts.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE, help="primary and core nodes")
    artifacts.add_argument("--core-nodes", type=int, default=2)
    artifacts.add_argument("--subnet-id", help="VPC subnet (a private one needs --wheelhouse or a NAT)")
    artifacts.add_argument("--wheelhouse", type=root_argument, help="s3:// prefix of wheels for offline installs")
    artifacts.add_argument("--service-role", default="EMR_DefaultRole")
    artifacts.add_argument("--instance-profile", default="EMR_EC2_DefaultRole")
    artifacts.add_argument("--spot-task-units", type=int, default=0, help="Spot task nodes (instance fleets)")
    artifacts.add_argument("--task-instance-types", type=_types, default=(), help="comma-separated Spot task types")
    artifacts.add_argument(
        "--spot-allocation-strategy", default="price-capacity-optimized", choices=SPOT_ALLOCATION_STRATEGIES
    )
    artifacts.add_argument("--max-capacity", type=int, help="managed scaling: at most this many core+task units")
    artifacts.add_argument("--serverless-role-arn", help="EMR Serverless job runtime role (with --serverless-image)")
    artifacts.add_argument("--serverless-image", help="ECR URI of the image built from serverless/Dockerfile")
    artifacts.add_argument("--serverless-architecture", default="x86_64", choices=sorted(serverless.ARCHITECTURES))
    artifacts.add_argument("--serverless-max-cpu", default=serverless.ServerlessSpec.max_cpu)
    artifacts.add_argument("--serverless-max-memory", default=serverless.ServerlessSpec.max_memory)
    artifacts.add_argument(
        "--security-configuration", help="an existing EMR security configuration's name (nothing is generated)"
    )
    artifacts.add_argument(
        "--kms-key-arn", type=kms_key_argument, help="KMS key ARN: S3 (SSE-KMS), local disks, EBS, Serverless logs"
    )
    artifacts.add_argument("--tls-certificates", help="s3:// zip of PEM files for TLS between nodes")
    artifacts.add_argument("--tls-provider-jar", help="s3:// jar of a custom TLS certificate provider")
    artifacts.add_argument("--tls-provider-class", help="the provider's class (with --tls-provider-jar)")
    artifacts.add_argument(
        "--delta-log-store-table", help="opt-in: DynamoDB table of Delta's S3 log store (safe concurrent writers)"
    )
    artifacts.add_argument("--delta-log-store-region", help="the log store table's region (with its table)")
    artifacts.add_argument(
        "--alarm-topic-arn", help="SNS topic: CloudWatch alarms (alarms.json) and failed pipelines notify it"
    )
    artifacts.add_argument("--check", action="store_true", help="check the arguments and documents, write nothing")

    upload = with_bucket("deploy", "Upload the built artifact (dist/) to <bucket>/artifacts/<version>/.")
    upload.add_argument("--dist", type=Path, default=ROOT / "dist")
    upload.add_argument("--force", action="store_true", help="overwrite a version deployed with other content")
    upload.add_argument("--region")

    cluster = with_bucket("cluster", "Start the cluster described by dist/emr/run-job-flow.json.")
    cluster.add_argument("--document", type=Path, default=ROOT / "dist" / "emr" / "run-job-flow.json")
    cluster.add_argument("--region")

    step = with_bucket("submit", "Add a job's step to a running cluster and wait for it.")
    step.add_argument("--cluster-id", required=True)
    step.add_argument("--job", required=True, choices=[job.name for job in registry.submittable()])
    step.add_argument("--args", help="the job's arguments, replacing the registry's defaults (one shell string)")
    step.add_argument("--date", type=iso_date, help="processing day: a daily job reads that day's input prefix")
    step.add_argument("--poll-seconds", type=float, default=30.0)
    step.add_argument("--timeout-minutes", type=float, default=360.0)
    step.add_argument("--region")

    run_serverless = with_bucket("submit-serverless", "Start a job run on an EMR Serverless application and wait.")
    run_serverless.add_argument("--application-id", required=True, type=_application_id)
    run_serverless.add_argument("--role-arn", required=True, help="the job runtime role")
    run_serverless.add_argument("--job", required=True, choices=[job.name for job in registry.submittable()])
    run_serverless.add_argument("--args", help="the job's arguments, replacing the registry's defaults")
    run_serverless.add_argument(
        "--date", type=iso_date, help="processing day: a daily job reads that day's input prefix"
    )
    run_serverless.add_argument(
        "--kms-key-arn", type=kms_key_argument, help="encrypt the job's S3 output and logs with this KMS key"
    )
    run_serverless.add_argument("--poll-seconds", type=float, default=30.0)
    run_serverless.add_argument("--timeout-minutes", type=float, default=360.0)
    run_serverless.add_argument("--region")
    days = commands.add_parser(
        "backfill", help="Run a pipeline's state machine once per day of a range, one at a time."
    )
    days.add_argument("--state-machine-arn", required=True)
    days.add_argument("--from", dest="first", required=True, type=iso_date, help="first day, yyyy-mm-dd")
    days.add_argument("--to", dest="last", required=True, type=iso_date, help="last day, included")
    days.add_argument("--input", type=_json_object, default={}, help="more execution input, a JSON object")
    days.add_argument("--poll-seconds", type=float, default=30.0)
    days.add_argument("--region")
    return parser.parse_args(argv)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object")
    return value


def job_arguments(job: registry.Job, root: str, args: argparse.Namespace) -> list[str]:
    """What `make submit` runs: ARGS as given, else the registry's arguments for DATE (a daily
    job reads that day's prefix), else for the whole input."""
    if args.args is not None:
        return shlex.split(args.args)
    if args.date is not None and job.dated:
        return list(job.render_dated(root, args.date.isoformat()))
    return list(job.render(root))


def _types(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _application_id(text: str) -> str:
    if not re.fullmatch(r"[0-9a-z]{1,64}", text):
        raise argparse.ArgumentTypeError(
            f"an EMR Serverless application id is lowercase letters and digits, got {text!r}"
        )
    return text


def check_documents(docs: dict[str, Any]) -> None:
    """Refuse to write what the APIs would refuse (botocore's models, enums and patterns too, and
    the security configuration's JSON against the structure EMR documents)."""
    for name, doc in docs.items():
        if name == SECURITY_CONFIGURATION:
            shapes.require_valid("emr", "CreateSecurityConfiguration", doc, name)
            found = security.problems(json.loads(doc["SecurityConfiguration"]))
            if found:
                raise ValueError(f"{name} is not a security configuration EMR documents: {'; '.join(found[:3])}")
        elif name == "log-store-table.json":
            shapes.require_valid("dynamodb", "CreateTable", doc, name)
        elif name == "log-store-ttl.json":
            shapes.require_valid("dynamodb", "UpdateTimeToLive", doc, name)
        elif name == "alarms.json":
            for alarm in doc:
                shapes.require_valid("cloudwatch", "PutMetricAlarm", alarm, f"{name} {alarm['AlarmName']}")
        elif name == "run-job-flow.json":
            shapes.require_valid("emr", "RunJobFlow", doc, name)
        elif name == "serverless/create-application.json":
            shapes.require_valid("emr-serverless", "CreateApplication", {**doc, "clientToken": "check"}, name)
        elif name.startswith("serverless/start-job-run-"):
            request = {**doc, "applicationId": "00fapplicationid", "clientToken": "check"}
            shapes.require_valid("emr-serverless", "StartJobRun", request, name)


def log_store(args: argparse.Namespace) -> LogStore | None:
    """Delta's DynamoDB log store when asked for (table and region together), else None."""
    if bool(args.delta_log_store_table) != bool(args.delta_log_store_region):
        raise ValueError("the Delta log store needs both DELTA_LOG_STORE_TABLE and DELTA_LOG_STORE_REGION")
    if not args.delta_log_store_table:
        return None
    return LogStore(args.delta_log_store_table, args.delta_log_store_region)


def encryption(args: argparse.Namespace) -> security.Encryption:
    """The encryption make was asked for (ValueError, one line, on a bad combination)."""
    return security.Encryption(
        kms_key_arn=args.kms_key_arn,
        tls_certificates=args.tls_certificates,
        tls_provider_jar=args.tls_provider_jar,
        tls_provider_class=args.tls_provider_class,
        existing=args.security_configuration,
    )


def serverless_spec(args: argparse.Namespace) -> serverless.ServerlessSpec | None:
    """The Serverless documents need the runtime role and the image; without both, none are written."""
    if bool(args.serverless_role_arn) != bool(args.serverless_image):
        raise ValueError("EMR Serverless documents need both SERVERLESS_ROLE_ARN and SERVERLESS_IMAGE")
    if not args.serverless_role_arn:
        return None
    return serverless.ServerlessSpec(
        role_arn=args.serverless_role_arn,
        image_uri=args.serverless_image,
        release_label=args.release_label,
        architecture=args.serverless_architecture,
        max_cpu=args.serverless_max_cpu,
        max_memory=args.serverless_max_memory,
        kms_key_arn=args.kms_key_arn,
    )


def encryption_summary(encrypted: security.Encryption, out: Path) -> str:
    """The one line saying which encryption the documents ask for (docs/security-encryption.md)."""
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    s3 = "S3A writes SSE-KMS under KMS_KEY_ARN" if encrypted.kms_key_arn else "S3 keeps the bucket's default encryption"
    if encrypted.name is None:
        return (
            "encryption: EMR's defaults apply (no security configuration, no KMS key, no TLS between nodes): "
            "give KMS_KEY_ARN and TLS_CERTIFICATES, or SECURITY_CONFIGURATION (docs/security-encryption.md)"
        )
    if encrypted.existing is not None:
        return f"encryption: clusters use the existing security configuration {encrypted.name}; {s3}"
    return (
        f"encryption: clusters use security configuration {encrypted.name}; {s3}; create it once with "
        f"`aws emr create-security-configuration --cli-input-json file://{shown / SECURITY_CONFIGURATION}` "
        "(make cluster does)"
    )


def run(args: argparse.Namespace, clients: Any = None) -> int:
    """Execute one command; `clients(service, region)` makes boto3 clients (tests pass moto's)."""
    if args.command == "backfill":
        if clients is None:
            import boto3

            def clients(service: str, region: str | None) -> Any:
                return boto3.client(service, region_name=region)

        sfn = clients("stepfunctions", args.region)
        backfill(
            sfn,
            args.state_machine_arn,
            args.first,
            args.last,
            extra_input=args.input,
            out=sys.stdout,
            poll_seconds=args.poll_seconds,
        )
        return 0
    deployment = Deployment(args.bucket, package.version())
    if args.command == "artifacts":
        encrypted = encryption(args)
        spec = ClusterSpec(
            release_label=args.release_label,
            primary_instance_type=args.instance_type,
            core_instance_type=args.instance_type,
            core_nodes=args.core_nodes,
            service_role=args.service_role,
            instance_profile=args.instance_profile,
            subnet_id=args.subnet_id,
            wheelhouse=args.wheelhouse,
            spot_task_units=args.spot_task_units,
            task_instance_types=args.task_instance_types,
            spot_allocation_strategy=args.spot_allocation_strategy,
            max_capacity=args.max_capacity,
            security_configuration=encrypted.name,
            kms_key_arn=encrypted.kms_key_arn,
        )
        store = log_store(args)
        configurations = with_log_store(load_configurations(), store)
        docs = documents(registry.present(), deployment, spec, configurations, args.alarm_topic_arn)
        if store is not None:
            docs["log-store-table.json"] = store.create_table()
            docs["log-store-ttl.json"] = store.time_to_live()
        if (request := encrypted.request()) is not None:
            docs[SECURITY_CONFIGURATION] = request
        on_serverless = serverless_spec(args)
        if on_serverless is not None:
            more = serverless.documents(
                registry.present(), deployment, on_serverless, configurations, args.alarm_topic_arn
            )
            docs.update({f"serverless/{name}": doc for name, doc in more.items()})
        check_documents(docs)
        if args.check:
            return 0
        for path in write_documents(args.out, docs):
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        for job in registry.missing():
            sys.stderr.write(f"emr: note: {job.name} is registered but not in jobs/; left out\n")
        if not args.alarm_topic_arn:
            sys.stderr.write("emr: note: no alarms and no failure notifications: give ALARM_TOPIC_ARN\n")
        if on_serverless is None:
            sys.stderr.write("emr: note: no EMR Serverless documents: give SERVERLESS_ROLE_ARN and SERVERLESS_IMAGE\n")
        print(encryption_summary(encrypted, args.out))
        return 0
    if clients is None:
        import boto3

        def clients(service: str, region: str | None) -> Any:
            return boto3.client(service, region_name=region)

    if args.command == "deploy":
        deploy(clients("s3", args.region), args.dist, deployment, force=args.force, out=sys.stdout)
        print(f"deployed spark_jobs {deployment.version} to {deployment.artifacts}/")
        return 0
    if args.command == "cluster":
        if not args.document.exists():
            raise AwsError(f"no {args.document}: run `make emr-artifacts BUCKET={args.bucket}` first")
        config = json.loads(args.document.read_text())
        require_deployed(clients("s3", args.region), deployment)
        generated = args.document.parent / SECURITY_CONFIGURATION
        if config.get("SecurityConfiguration") and generated.exists():
            request = json.loads(generated.read_text())
            if request["Name"] == config["SecurityConfiguration"]:
                ensure_security_configuration(clients("emr", args.region), request)
        print(create_cluster(clients("emr", args.region), config))
        return 0
    job = registry.find(args.job, registry.submittable())
    arguments = job_arguments(job, deployment.root, args)
    if args.command == "submit-serverless":
        # The job run needs no image here: the application already has one.
        spec = serverless.ServerlessSpec(
            role_arn=args.role_arn, image_uri=serverless.ANY_IMAGE, kms_key_arn=args.kms_key_arn
        )
        request = serverless.start_job_run(job, deployment, spec, load_configurations(), arguments)
        require_deployed(clients("s3", args.region), deployment)
        submit_serverless(
            clients("emr-serverless", args.region),
            {**request, "applicationId": args.application_id},
            out=sys.stdout,
            poll_seconds=args.poll_seconds,
            timeout_seconds=args.timeout_minutes * 60,
        )
        return 0
    require_deployed(clients("s3", args.region), deployment)
    submit(
        clients("emr", args.region),
        args.cluster_id,
        step_config(job, deployment, arguments=arguments),
        out=sys.stdout,
        poll_seconds=args.poll_seconds,
        timeout_seconds=args.timeout_minutes * 60,
    )
    return 0


def main(argv: Sequence[str] | None = None, clients: Any = None) -> int:
    args = parse_args(argv)
    try:
        return run(args, clients)
    except ValueError as exc:  # an argument the parser could not check alone (e.g. a release label)
        sys.stderr.write(f"emr: error: {exc}\n")
        return 2
    except AwsError as exc:
        sys.stderr.write(f"emr: error: {exc}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. no credentials: one line, not a trace
        sys.stderr.write(f"emr: error: {type(exc).__name__}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
