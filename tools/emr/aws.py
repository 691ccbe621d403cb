"""The AWS edge: upload the artifact, start a cluster, submit a step (or an EMR Serverless job
run) and follow it.

Each function takes a boto3 client, so tests hand in clients bound to moto and nothing
else here knows where AWS is. Failures raise `AwsError` with the one line to show.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from tools.emr.launch import Deployment, split_s3_uri
from tools.emr.serverless import driver_log

STEP_DONE = "COMPLETED"
STEP_FAILED = ("CANCELLED", "FAILED", "INTERRUPTED")
MANIFEST = "manifest.json"


class AwsError(Exception):
    """A deployment or submission that did not happen; the message is the line to show."""


def describe_client_error(exc: BotoCoreError | ClientError) -> str:
    """AWS's own message in one line, e.g. 'AccessDenied: ...'."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message') or exc}"
    return str(exc)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(dist: Path, version: str) -> dict[str, Any]:
    """The built artifact's manifest, checked against the files and the current version."""
    path = dist / MANIFEST
    if not path.exists():
        raise AwsError(f"no {path}: run `make package` first")
    manifest = json.loads(path.read_text())
    if manifest["version"] != version:
        raise AwsError(f"{dist} holds version {manifest['version']}, the code is {version}: run `make package`")
    for name, digest in manifest["files"].items():
        if not (dist / name).is_file() or _sha256(dist / name) != digest:
            raise AwsError(f"{dist / name} changed since it was built: run `make package`")
    return manifest


def upload_plan(dist: Path, manifest: Mapping[str, Any], deployment: Deployment) -> list[tuple[Path, str]]:
    """(local file, S3 URI) for everything a cluster needs, the manifest last."""
    names = [*sorted(manifest["files"]), MANIFEST]
    return [(dist / name, f"{deployment.artifacts}/{name}") for name in names]


def deploy(s3: Any, dist: Path, deployment: Deployment, force: bool = False, out: TextIO | None = None) -> list[str]:
    """Upload the artifact; a version already deployed with other bytes is kept unless `force`.

    Deployed versions are immutable by default: a pipeline that runs version X keeps
    running exactly what was tested as X. Bump common/version.py for a new release.
    """
    manifest = read_manifest(dist, deployment.version)
    zip_name = manifest["zip"]
    bucket, key = split_s3_uri(deployment.zip_uri)
    try:
        existing = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise AwsError(f"cannot read s3://{bucket}/{key}: {describe_client_error(exc)}") from None
        existing = None
    if existing and existing != manifest["files"][zip_name] and not force:
        raise AwsError(
            f"{deployment.zip_uri} is already deployed with different content: "
            "bump common/version.py (or pass --force to overwrite)"
        )
    uploaded = []
    for local, uri in upload_plan(dist, manifest, deployment):
        target_bucket, target_key = split_s3_uri(uri)
        try:
            s3.upload_file(str(local), target_bucket, target_key, ExtraArgs={"Metadata": {"sha256": _sha256(local)}})
        except (BotoCoreError, ClientError) as exc:
            raise AwsError(f"upload of {local} to {uri} failed: {describe_client_error(exc)}") from None
        uploaded.append(uri)
        if out is not None:
            out.write(f"uploaded {uri}\n")
    return uploaded


def require_deployed(s3: Any, deployment: Deployment) -> None:
    """Fail early, with the fix, when the version's zip is not on S3."""
    bucket, key = split_s3_uri(deployment.zip_uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise AwsError(f"{deployment.zip_uri} not found: run `make deploy BUCKET={deployment.root}`") from None
        raise AwsError(f"cannot read {deployment.zip_uri}: {describe_client_error(exc)}") from None


def ensure_security_configuration(emr: Any, request: Mapping[str, str]) -> bool:
    """Create the generated security configuration unless it exists; True when created. Its name
    is its content's digest (tools/emr/security.py), so one of that name is this one."""
    name = request["Name"]
    try:
        emr.describe_security_configuration(Name=name)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("InvalidRequestException", "ResourceNotFoundException"):
            raise AwsError(f"cannot read security configuration {name}: {describe_client_error(exc)}") from None
    except BotoCoreError as exc:
        raise AwsError(f"cannot read security configuration {name}: {describe_client_error(exc)}") from None
    try:
        emr.create_security_configuration(Name=name, SecurityConfiguration=request["SecurityConfiguration"])
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"security configuration {name} not created: {describe_client_error(exc)}") from None
    return True


def create_cluster(emr: Any, config: Mapping[str, Any]) -> str:
    """Start a cluster from a RunJobFlow document; returns its id."""
    try:
        return emr.run_job_flow(**config)["JobFlowId"]
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"cluster not created: {describe_client_error(exc)}") from None


def _failure(status: Mapping[str, Any]) -> str:
    details = status.get("FailureDetails") or {}
    reason = details.get("Message") or details.get("Reason") or status.get("StateChangeReason", {}).get("Message")
    log = f" (log: {details['LogFile']})" if details.get("LogFile") else ""
    return f"{reason or 'no reason given'}{log}"


@dataclass(frozen=True)
class Wait:
    """Following something AWS runs (an EMR step, a Serverless job run) until it ends: each
    state it enters printed once, the run's own failure raised as one line, and a bounded wait
    (giving up waiting does not cancel it)."""

    out: TextIO
    name: str
    what: str
    poll_seconds: float
    timeout_seconds: float
    sleep: Callable[[float], None]
    clock: Callable[[], float]

    def until(
        self,
        poll: Callable[[], tuple[str, Mapping[str, Any]]],
        done: str,
        failed: Collection[str],
        failure: Callable[[str, Mapping[str, Any]], str],
    ) -> None:
        deadline = self.clock() + self.timeout_seconds
        last = None
        while True:
            state, detail = poll()
            if state != last:
                self.out.write(f"{self.name}: {state}\n")
                self.out.flush()
                last = state
            if state == done:
                return
            if state in failed:
                raise AwsError(failure(state, detail))
            if self.clock() >= deadline:
                raise AwsError(f"gave up waiting after {self.timeout_seconds:.0f}s: {self.what} is still {state}")
            self.sleep(self.poll_seconds)


def submit(
    emr: Any,
    cluster_id: str,
    step: Mapping[str, Any],
    out: TextIO,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 6 * 3600,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Add `step` to a running cluster and wait for it, printing each state it enters.

    Returns the step id when it completes; raises AwsError when it fails or the wait times
    out (the step itself keeps running then: stopping waiting is not cancelling).
    """
    try:
        step_id = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[dict(step)])["StepIds"][0]
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"step not added to {cluster_id}: {describe_client_error(exc)}") from None
    out.write(f"{step['Name']}: step {step_id} added to {cluster_id}\n")

    def poll() -> tuple[str, Mapping[str, Any]]:
        try:
            status = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]
        except (BotoCoreError, ClientError) as exc:
            raise AwsError(f"cannot follow step {step_id}: {describe_client_error(exc)}") from None
        return status["State"], status

    def failure(state: str, status: Mapping[str, Any]) -> str:
        return f"step {step_id} ({step['Name']}) {state}: {_failure(status)}"

    wait = Wait(out, step["Name"], f"step {step_id}", poll_seconds, timeout_seconds, sleep, clock)
    wait.until(poll, STEP_DONE, STEP_FAILED, failure)
    return step_id


# ── EMR Serverless ───────────────────────────────────────────────────────────────────────

JOB_RUN_DONE = "SUCCESS"
JOB_RUN_FAILED = ("FAILED", "CANCELLED")


def submit_serverless(
    emr_serverless: Any,
    request: Mapping[str, Any],
    out: TextIO,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 6 * 3600,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Start a job run (a StartJobRun request with its applicationId) and wait for it, printing
    each state it enters (SUBMITTED, PENDING, SCHEDULED, RUNNING, ...).

    Returns the job run id on SUCCESS; raises AwsError with the reason and the driver's log
    when it fails or is cancelled, or when the wait times out (the run keeps going then).
    """
    application_id, name = request["applicationId"], request.get("name", "job run")
    try:
        job_run_id = emr_serverless.start_job_run(**request)["jobRunId"]
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"job run not started on {application_id}: {describe_client_error(exc)}") from None
    out.write(f"{name}: job run {job_run_id} started on {application_id}\n")
    log_root = request.get("configurationOverrides", {}).get("monitoringConfiguration", {})
    log_root = log_root.get("s3MonitoringConfiguration", {}).get("logUri")

    def poll() -> tuple[str, Mapping[str, Any]]:
        try:
            run = emr_serverless.get_job_run(applicationId=application_id, jobRunId=job_run_id)["jobRun"]
        except (BotoCoreError, ClientError) as exc:
            raise AwsError(f"cannot follow job run {job_run_id}: {describe_client_error(exc)}") from None
        return run["state"], run

    def failure(state: str, run: Mapping[str, Any]) -> str:
        where = f" (driver log: {driver_log(log_root, application_id, job_run_id)})" if log_root else ""
        attempt = f" after {run['attempt']} attempts" if run.get("attempt", 1) > 1 else ""
        reason = run.get("stateDetails") or "no reason given"
        return f"job run {job_run_id} ({name}) {state}{attempt}: {reason}{where}"

    wait = Wait(out, name, f"job run {job_run_id}", poll_seconds, timeout_seconds, sleep, clock)
    wait.until(poll, JOB_RUN_DONE, JOB_RUN_FAILED, failure)
    return job_run_id
