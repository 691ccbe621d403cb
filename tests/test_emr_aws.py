"""`make deploy`, `make cluster` and `make submit` against moto's S3 and EMR (in-process)."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends
from moto.stepfunctions.models import stepfunctions_backends

import tools.emr.__main__ as cli
from tools import package
from tools.emr import aws, backfill, launch, registry

REGION = "eu-west-1"
BUCKET = "my-bucket"
ROOT = f"s3://{BUCKET}/spark-jobs"


def clients(service: str, region: str | None) -> Any:
    return boto3.client(service, region_name=region or REGION)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        clients("s3", None).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield


@pytest.fixture
def dist(dist: Path, tmp_path: Path) -> Path:
    """A private copy of the session's build, so a test may tamper with it."""
    return Path(shutil.copytree(dist, tmp_path / "dist"))


@pytest.fixture
def deployment() -> launch.Deployment:
    return launch.Deployment(ROOT, package.version())


def keys(prefix: str) -> dict[str, dict[str, str]]:
    s3 = clients("s3", None)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.head_object(Bucket=BUCKET, Key=o["Key"])["Metadata"] for o in listed}


def test_deploy_uploads_the_artifact_under_its_version(moto, dist: Path, deployment, capsys) -> None:
    assert cli.main(["deploy", "--bucket", ROOT, "--dist", str(dist)], clients=clients) == 0
    manifest = json.loads((dist / "manifest.json").read_text())
    prefix = f"spark-jobs/artifacts/{package.version()}/"
    uploaded = keys(prefix)
    assert sorted(uploaded) == sorted(prefix + name for name in [*manifest["files"], "manifest.json"])
    for name, digest in manifest["files"].items():
        assert uploaded[prefix + name] == {"sha256": digest}
    assert f"deployed spark_jobs {package.version()} to {deployment.artifacts}/" in capsys.readouterr().out
    body = clients("s3", None).get_object(Bucket=BUCKET, Key=prefix + manifest["zip"])["Body"].read()
    assert body == (dist / manifest["zip"]).read_bytes()


def test_redeploying_the_same_build_is_fine_other_bytes_need_force(moto, dist: Path, deployment) -> None:
    s3 = clients("s3", None)
    aws.deploy(s3, dist, deployment)
    aws.deploy(s3, dist, deployment)  # same bytes: idempotent
    bucket, key = launch.split_s3_uri(deployment.zip_uri)
    s3.put_object(Bucket=bucket, Key=key, Body=b"other", Metadata={"sha256": "0" * 64})
    with pytest.raises(aws.AwsError, match=r"already deployed with different content: bump common/version\.py"):
        aws.deploy(s3, dist, deployment)
    aws.deploy(s3, dist, deployment, force=True)
    assert (
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        == (dist / f"spark_jobs-{package.version()}.zip").read_bytes()
    )


def test_deploy_refuses_a_dist_changed_after_the_build(moto, dist: Path, deployment) -> None:
    (dist / "requirements.txt").write_text("anything==1.0\n")
    with pytest.raises(aws.AwsError, match=r"requirements\.txt changed since it was built: run `make package`"):
        aws.deploy(clients("s3", None), dist, deployment)
    assert keys("spark-jobs/") == {}


def test_deploy_without_a_build_or_a_bucket_fails_in_one_line(moto, tmp_path: Path, dist: Path, capsys) -> None:
    assert cli.main(["deploy", "--bucket", ROOT, "--dist", str(tmp_path / "none")], clients=clients) == 1
    assert (
        capsys.readouterr().err == f"emr: error: no {tmp_path / 'none' / 'manifest.json'}: run `make package` first\n"
    )
    assert cli.main(["deploy", "--bucket", "s3://no-such-bucket/x", "--dist", str(dist)], clients=clients) == 1
    err = capsys.readouterr().err
    assert err.startswith("emr: error: ") and "NoSuchBucket" in err and len(err.splitlines()) == 1


def _write_cluster_document(tmp_path: Path, deployment: launch.Deployment) -> Path:
    config = launch.run_job_flow(deployment, launch.ClusterSpec(), cli.load_configurations())
    path = tmp_path / "run-job-flow.json"
    path.write_text(json.dumps(config))
    return path


def test_cluster_needs_the_deployed_artifact_then_starts(moto, dist: Path, deployment, tmp_path: Path, capsys) -> None:
    document = _write_cluster_document(tmp_path, deployment)
    argv = ["cluster", "--bucket", ROOT, "--document", str(document)]
    assert cli.main(argv, clients=clients) == 1
    assert capsys.readouterr().err == (f"emr: error: {deployment.zip_uri} not found: run `make deploy BUCKET={ROOT}`\n")
    aws.deploy(clients("s3", None), dist, deployment)
    assert cli.main(argv, clients=clients) == 0
    cluster_id = capsys.readouterr().out.strip()
    cluster = clients("emr", None).describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["Name"] == f"spark-jobs-{package.version()}"
    assert cluster["ReleaseLabel"] == launch.DEFAULT_RELEASE_LABEL
    assert {t["Key"]: t["Value"] for t in cluster["Tags"]}["version"] == package.version()


KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_cluster_creates_the_generated_security_configuration_once(
    moto, dist: Path, deployment, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "emr"
    argv = ["artifacts", "--bucket", ROOT, "--out", str(out), "--kms-key-arn", KEY]
    assert cli.main([*argv, "--tls-certificates", "s3://my-bucket/tls/certs.zip"]) == 0
    request = json.loads((out / cli.SECURITY_CONFIGURATION).read_text())
    aws.deploy(clients("s3", None), dist, deployment)
    emr = clients("emr", None)
    for _ in range(2):  # the second start finds it: security configurations cannot be changed, only reused
        assert cli.main(["cluster", "--bucket", ROOT, "--document", str(out / "run-job-flow.json")], clients) == 0
        stored = emr.describe_security_configuration(Name=request["Name"])
        assert json.loads(stored["SecurityConfiguration"]) == json.loads(request["SecurityConfiguration"])
    assert list(emr_backends[DEFAULT_ACCOUNT_ID][REGION].security_configurations) == [request["Name"]]
    assert "error" not in capsys.readouterr().err


def test_a_security_configuration_emr_refuses_fails_the_cluster_in_one_line(moto, capsys) -> None:
    request = {"Name": "spark-jobs-x", "SecurityConfiguration": "{}"}
    emr = clients("emr", None)
    assert aws.ensure_security_configuration(emr, request) is True
    assert aws.ensure_security_configuration(emr, request) is False

    class Refusing:
        def describe_security_configuration(self, Name: str) -> None:  # noqa: N803 - boto3's spelling
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Describe")

    with pytest.raises(aws.AwsError, match="cannot read security configuration spark-jobs-x: AccessDeniedException"):
        aws.ensure_security_configuration(Refusing(), request)


def _running_cluster(dist: Path, deployment: launch.Deployment, tmp_path: Path) -> str:
    aws.deploy(clients("s3", None), dist, deployment)
    config = json.loads(_write_cluster_document(tmp_path, deployment).read_text())
    return aws.create_cluster(clients("emr", None), config)


def _drive(cluster_id: str, *states: str):
    """A `sleep` that moves the cluster's last step through `states` (moto leaves it RUNNING)."""
    queue = list(states)

    def sleep(seconds: float) -> None:
        step = emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id].steps[-1]
        step.state = queue.pop(0)

    return sleep


def test_submit_adds_the_step_and_streams_its_states(
    moto, dist: Path, deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    cluster_id = _running_cluster(dist, deployment, tmp_path)
    monkeypatch.setattr(cli, "submit", functools.partial(aws.submit, sleep=_drive(cluster_id, "COMPLETED")))
    argv = ["submit", "--bucket", ROOT, "--cluster-id", cluster_id, "--job", "log_analytics", "--poll-seconds", "0"]
    assert cli.main(argv, clients=clients) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("log_analytics: step s-") and lines[0].endswith(f"added to {cluster_id}")
    assert lines[1:] == ["log_analytics: RUNNING", "log_analytics: COMPLETED"]
    [step] = clients("emr", None).list_steps(ClusterId=cluster_id)["Steps"]
    expected = launch.step_config(registry.find("log_analytics"), deployment)
    assert step["Config"]["Args"] == expected["HadoopJarStep"]["Args"]


def test_submit_args_replace_the_registered_arguments(moto, dist, deployment, tmp_path, monkeypatch) -> None:
    cluster_id = _running_cluster(dist, deployment, tmp_path)
    monkeypatch.setattr(cli, "submit", functools.partial(aws.submit, sleep=_drive(cluster_id, "COMPLETED")))
    argv = ["submit", "--bucket", ROOT, "--cluster-id", cluster_id, "--job", "log_analytics", "--poll-seconds", "0"]
    assert cli.main([*argv, "--args", "--input s3://x/day=2026-11-01 --output 's3://x/out put'"], clients=clients) == 0
    [step] = clients("emr", None).list_steps(ClusterId=cluster_id)["Steps"]
    assert step["Config"]["Args"][-4:] == ["--input", "s3://x/day=2026-11-01", "--output", "s3://x/out put"]


def test_submit_runs_an_on_demand_job_on_the_root_given(moto, dist, deployment, tmp_path, monkeypatch) -> None:
    """erase_users is in no pipeline, but an operator submits it, one root a step."""
    cluster_id = _running_cluster(dist, deployment, tmp_path)
    monkeypatch.setattr(cli, "submit", functools.partial(aws.submit, sleep=_drive(cluster_id, "COMPLETED")))
    argv = ["submit", "--bucket", ROOT, "--cluster-id", cluster_id, "--job", "erase_users", "--poll-seconds", "0"]
    ids = f"{ROOT}/input/erasure_requests/user_ids.txt"
    erasure = f"--root {ROOT}/output/log_analytics --user-ids-file {ids} --purge"
    assert cli.main([*argv, "--args", erasure], clients=clients) == 0
    [step] = clients("emr", None).list_steps(ClusterId=cluster_id)["Steps"]
    assert step["Name"] == "erase_users"
    args = step["Config"]["Args"]
    assert deployment.entrypoint_uri(registry.find("erase_users", registry.ON_DEMAND)) in args
    assert args[-5:] == ["--root", f"{ROOT}/output/log_analytics", "--user-ids-file", ids, "--purge"]


def test_submit_refuses_a_job_not_registered_in_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["submit", "--bucket", ROOT, "--cluster-id", "j-1", "--job", "forget_everyone"], clients=clients)
    assert exit_info.value.code == 2
    assert "invalid choice: 'forget_everyone'" in capsys.readouterr().err


def test_a_failed_step_ends_submit_with_one_line(moto, dist, deployment, tmp_path, monkeypatch, capsys) -> None:
    cluster_id = _running_cluster(dist, deployment, tmp_path)
    monkeypatch.setattr(cli, "submit", functools.partial(aws.submit, sleep=_drive(cluster_id, "RUNNING", "FAILED")))
    argv = ["submit", "--bucket", ROOT, "--cluster-id", cluster_id, "--job", "log_analytics", "--poll-seconds", "0"]
    assert cli.main(argv, clients=clients) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1:] == ["log_analytics: RUNNING", "log_analytics: FAILED"]
    assert captured.err.startswith("emr: error: step s-") and "(log_analytics) FAILED" in captured.err
    assert len(captured.err.splitlines()) == 1


def test_submit_stops_waiting_at_the_timeout(moto, dist, deployment, tmp_path) -> None:
    cluster_id = _running_cluster(dist, deployment, tmp_path)
    ticks = iter(range(0, 10_000, 60))
    step = launch.step_config(registry.find("log_analytics"), deployment)
    out = io.StringIO()
    with pytest.raises(aws.AwsError, match=r"gave up waiting after 120s: step s-\w+ is still RUNNING"):
        aws.submit(
            clients("emr", None),
            cluster_id,
            step,
            out,
            timeout_seconds=120,
            sleep=lambda s: None,
            clock=lambda: next(ticks),
        )
    assert out.getvalue().splitlines()[1:] == ["log_analytics: RUNNING"]  # printed once, not per poll


def test_submit_refused_by_emr_fails_in_one_line(deployment) -> None:
    class Refusing:
        def add_job_flow_steps(self, **_: Any) -> None:
            error = {"Error": {"Code": "ValidationException", "Message": "Cluster id 'j-NOPE' is not valid."}}
            raise ClientError(error, "AddJobFlowSteps")

    step = launch.step_config(registry.find("log_analytics"), deployment)
    with pytest.raises(aws.AwsError) as failure:
        aws.submit(Refusing(), "j-NOPE", step, io.StringIO())
    assert str(failure.value) == "step not added to j-NOPE: ValidationException: Cluster id 'j-NOPE' is not valid."


def test_submit_date_runs_a_daily_job_on_that_days_prefix(moto, dist, deployment, tmp_path, monkeypatch) -> None:
    cluster_id = _running_cluster(dist, deployment, tmp_path)
    monkeypatch.setattr(cli, "submit", functools.partial(aws.submit, sleep=_drive(cluster_id, "COMPLETED")))
    argv = ["submit", "--bucket", ROOT, "--cluster-id", cluster_id, "--job", "log_analytics", "--poll-seconds", "0"]
    assert cli.main([*argv, "--date", "2026-12-06"], clients=clients) == 0
    [step] = clients("emr", None).list_steps(ClusterId=cluster_id)["Steps"]
    job = registry.find("log_analytics")
    assert step["Config"]["Args"][-6:] == list(job.render_dated(ROOT, "2026-12-06"))
    assert step["Config"]["Args"][-6:-4] == ["--input", f"{ROOT}/input/logs/dt=2026-12-06/"]


# ── backfill: one execution per day, never two at once ──────────────────────────────────


def _logs_machine(deployment: launch.Deployment) -> str:
    """The generated logs state machine, created in moto's Step Functions; returns its ARN."""
    jobs = registry.pipelines(registry.JOBS)["logs"]
    machine = launch.state_machine("logs", jobs, deployment, launch.ClusterSpec(), cli.load_configurations())
    sfn = clients("stepfunctions", None)
    role = "arn:aws:iam::123456789012:role/StepFunctionsEmr"
    return sfn.create_state_machine(name="spark-jobs-logs", definition=json.dumps(machine), roleArn=role)[
        "stateMachineArn"
    ]


def _finish_running(*statuses: str):
    """A `sleep` that ends the running execution with the next status (moto leaves it RUNNING),
    and records how many executions were running at each wait."""
    queue = list(statuses)
    seen: list[int] = []

    def sleep(seconds: float) -> None:
        backend = stepfunctions_backends[DEFAULT_ACCOUNT_ID][REGION]
        running = [e for m in backend.state_machines for e in m.executions if e.status == "RUNNING"]
        seen.append(len(running))
        running[0].status = queue.pop(0)

    sleep.seen = seen  # type: ignore[attr-defined]
    return sleep


def test_backfill_runs_one_execution_per_day_after_the_running_one(moto, deployment) -> None:
    arn = _logs_machine(deployment)
    sfn = clients("stepfunctions", None)
    sfn.start_execution(stateMachineArn=arn, name="scheduled-2026-12-07", input='{"scheduledTime": "x"}')
    sleep = _finish_running("SUCCEEDED", "SUCCEEDED", "SUCCEEDED")
    out = io.StringIO()
    started = backfill.backfill(
        sfn,
        arn,
        dt.date(2026, 11, 30),
        dt.date(2026, 12, 1),
        extra_input={"athena": {}},
        out=out,
        poll_seconds=0,
        sleep=sleep,
        stamp="t1",
    )
    assert sleep.seen == [1, 1, 1]  # never two executions at once
    inputs = [json.loads(sfn.describe_execution(executionArn=a)["input"]) for a in started]
    assert inputs == [{"athena": {}, "date": "2026-11-30"}, {"athena": {}, "date": "2026-12-01"}]
    names = [sfn.describe_execution(executionArn=a)["name"] for a in started]
    assert names == ["backfill-2026-11-30-t1", "backfill-2026-12-01-t1"]
    lines = out.getvalue().splitlines()
    assert lines[0] == "waiting: scheduled-2026-12-07 is running"
    assert lines[-1] == "2026-12-01: SUCCEEDED"


def test_backfill_stops_at_the_first_day_that_fails_in_one_line(moto, deployment, capsys) -> None:
    arn = _logs_machine(deployment)
    sfn = clients("stepfunctions", None)
    sleep = _finish_running("FAILED")
    with pytest.raises(aws.AwsError, match=r"2026-11-30 ended FAILED .*rerun the backfill from 2026-11-30"):
        backfill.backfill(
            sfn, arn, dt.date(2026, 11, 30), dt.date(2026, 12, 2), out=io.StringIO(), poll_seconds=0, sleep=sleep
        )
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1  # later days never started
    argv = ["backfill", "--state-machine-arn", arn, "--from", "2026-12-02", "--to", "2026-12-01"]
    assert cli.main(argv, clients=clients) == 2
    err = capsys.readouterr().err
    assert err == "emr: error: the range ends (2026-12-01) before it starts (2026-12-02)\n"
