"""EMR Serverless documents and `make submit-serverless`, checked by real tools: botocore's
service models (with enums and patterns), moto's EMR Serverless and Step Functions, asl-validator
and the JSONata engine. Every registered job is covered, merged yet or not: generation is pure."""

from __future__ import annotations

import functools
import io
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless import models as emrserverless_models

import tools.emr.__main__ as cli
from tools import package
from tools.emr import aws, launch, registry, serverless, shapes
from tools.emr.__main__ import load_configurations

ROOT = "s3://my-bucket/spark-jobs"
REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/spark-jobs-serverless"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/spark-jobs:0.1.0"
SFN_ROLE = "arn:aws:iam::123456789012:role/StepFunctionsEmrServerless"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ASL = package.ROOT / "tools" / "asl"
ASL_VALIDATOR = ASL / "node_modules" / ".bin" / "asl-validator"


@pytest.fixture(scope="module")
def deployment() -> launch.Deployment:
    return launch.Deployment(ROOT, package.version())


@pytest.fixture(scope="module")
def spec() -> serverless.ServerlessSpec:
    return serverless.ServerlessSpec(role_arn=ROLE, image_uri=IMAGE, architecture="aarch64")


@pytest.fixture(scope="module")
def docs(deployment, spec) -> dict[str, Any]:
    return serverless.documents(registry.JOBS, deployment, spec, load_configurations())


@pytest.fixture(scope="module")
def machines(docs) -> dict[str, dict[str, Any]]:
    return {name[len("state-machine-") : -len(".json")]: doc for name, doc in docs.items() if "state-machine" in name}


def runs(docs) -> dict[str, dict[str, Any]]:
    return {name[len("start-job-run-") : -len(".json")]: doc for name, doc in docs.items() if "start-job-run" in name}


def as_request(doc: dict[str, Any]) -> dict[str, Any]:
    """What `--application-id` (and the SDK's idempotency token) add to a start-job-run file."""
    return {**doc, "applicationId": "00fabcdef1234567", "clientToken": "token"}


def jsonata(expression: str, states: dict[str, Any], **variables: Any) -> Any:
    request = json.dumps({"expression": expression, "states": states, "variables": variables})
    result = subprocess.run(
        ["node", str(ASL / "eval_jsonata.js")], input=request, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_one_job_run_per_job_and_one_machine_per_pipeline(docs) -> None:
    assert sorted(docs) == sorted(
        ["create-application.json"]
        + [f"start-job-run-{job.name}.json" for job in registry.JOBS]
        + [f"state-machine-{p}.json" for p in registry.pipelines(registry.JOBS)]
    )


# ── the API documents ───────────────────────────────────────────────────────────────────


def test_application_is_valid_and_matches_the_pinned_emr_7(docs, spec) -> None:
    app = docs["create-application.json"]
    assert shapes.problems("emr-serverless", "CreateApplication", {**app, "clientToken": "t"}) == []
    assert app["releaseLabel"] == launch.DEFAULT_RELEASE_LABEL and app["type"] == "SPARK"
    assert app["architecture"] == "ARM64" and app["imageConfiguration"] == {"imageUri": IMAGE}
    assert set(app["maximumCapacity"]) == {"cpu", "memory", "disk"}
    assert app["autoStopConfiguration"] == {"enabled": True, "idleTimeoutMinutes": spec.idle_stop_minutes}


@pytest.mark.parametrize("job", registry.JOBS, ids=lambda job: job.name)
def test_job_runs_are_valid_start_job_run_requests(docs, deployment, job: registry.Job) -> None:
    run = runs(docs)[job.name]
    assert shapes.problems("emr-serverless", "StartJobRun", as_request(run)) == []
    submit = run["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"] == deployment.entrypoint_uri(job)
    assert submit["entryPointArguments"] == list(launch.dated_arguments(job, ROOT))  # ${DATE} where the day goes
    assert submit["sparkSubmitParameters"].split()[:2] == ["--py-files", deployment.zip_uri]
    assert run["executionRoleArn"] == ROLE and run["mode"] == "BATCH"
    assert 0 < run["executionTimeoutMinutes"] <= launch.STEP_TIMEOUT_SECONDS // 60
    assert ("retryPolicy" in run) == job.idempotent
    if job.idempotent:
        assert run["retryPolicy"] == {"maxAttempts": 2}


def test_job_runs_enable_delta_and_python_311_the_serverless_way(docs) -> None:
    [defaults] = runs(docs)["transaction_etl"]["configurationOverrides"]["applicationConfiguration"]
    assert defaults["classification"] == "spark-defaults"
    props = defaults["properties"]
    assert props["spark.jars"].split(",") == list(serverless.DELTA_JARS)
    assert all(jar.endswith("delta-spark.jar") or jar.endswith("delta-storage.jar") for jar in serverless.DELTA_JARS)
    assert props["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert props["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert props["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == props["spark.executorEnv.PYSPARK_PYTHON"]
    assert props["spark.executorEnv.PYSPARK_PYTHON"] == "/usr/bin/python3.11"
    assert not [key for key in props if key.startswith(("spark.yarn.", "spark.pyspark."))]  # YARN-only
    # the rest is the cluster's: one home for Spark settings
    [cluster] = [c for c in load_configurations() if c["Classification"] == "spark-defaults"]
    assert props["spark.sql.session.timeZone"] == cluster["Properties"]["spark.sql.session.timeZone"] == "UTC"


def test_logs_and_event_logs_go_to_s3_and_cloudwatch(docs) -> None:
    monitoring = runs(docs)["log_analytics"]["configurationOverrides"]["monitoringConfiguration"]
    assert monitoring["s3MonitoringConfiguration"] == {"logUri": f"{ROOT}/logs/emr-serverless/"}
    cloudwatch = monitoring["cloudWatchLoggingConfiguration"]
    assert cloudwatch["enabled"] and cloudwatch["logGroupName"] == serverless.LOG_GROUP
    assert cloudwatch["logStreamNamePrefix"] == "log_analytics"
    assert "STDOUT" in cloudwatch["logTypes"]["SPARK_DRIVER"]  # the metrics line is on the driver's stdout


@pytest.fixture(scope="module")
def encrypted(deployment) -> dict[str, Any]:
    """The documents for KMS_KEY_ARN=KEY."""
    spec = serverless.ServerlessSpec(role_arn=ROLE, image_uri=IMAGE, kms_key_arn=KEY)
    return serverless.documents(registry.JOBS, deployment, spec, load_configurations())


def test_with_a_key_the_jobs_output_and_logs_are_encrypted_with_it(encrypted, docs) -> None:
    app = encrypted["create-application.json"]
    assert shapes.problems("emr-serverless", "CreateApplication", {**app, "clientToken": "t"}) == []
    for name, run in [("application", app), *runs(encrypted).items()]:
        if name != "application":
            assert shapes.problems("emr-serverless", "StartJobRun", as_request(run)) == [], name
            [defaults] = run["configurationOverrides"]["applicationConfiguration"]
            # S3A's own properties: EMR Serverless 7.12 serves s3:// with S3A and has no core-site
            assert defaults["properties"]["spark.hadoop.fs.s3a.encryption.algorithm"] == "SSE-KMS", name
            assert defaults["properties"]["spark.hadoop.fs.s3a.encryption.key"] == KEY, name
        monitoring = (
            run["monitoringConfiguration"]
            if name == "application"
            else run["configurationOverrides"]["monitoringConfiguration"]
        )
        assert monitoring["s3MonitoringConfiguration"]["encryptionKeyArn"] == KEY, name
        assert monitoring["managedPersistenceMonitoringConfiguration"] == {"enabled": True, "encryptionKeyArn": KEY}
    # without a key nothing is asked for: the bucket's default and AWS-owned keys apply
    assert "encryption" not in json.dumps(docs).lower()


def test_the_strict_check_rejects_a_key_that_is_not_a_key_arn(encrypted) -> None:
    run = json.loads(json.dumps(runs(encrypted)["log_analytics"]))
    run["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]["encryptionKeyArn"] = (
        "alias/spark-jobs"
    )
    found = shapes.problems("emr-serverless", "StartJobRun", as_request(run))
    assert any("encryptionKeyArn" in problem for problem in found), found
    with pytest.raises(ValueError, match="a KMS key must be given as a key ARN"):
        serverless.ServerlessSpec(role_arn=ROLE, image_uri=IMAGE, kms_key_arn="alias/spark-jobs")


def test_the_strict_check_rejects_what_the_service_would(docs) -> None:
    run = as_request(runs(docs)["log_analytics"])
    assert any(
        "'STREAM' is not one of" in p
        for p in shapes.problems("emr-serverless", "StartJobRun", {**run, "mode": "STREAM"})
    )
    bad_role = {**run, "executionRoleArn": "arn:aws:iam::12:role/x" + "y" * 10}
    assert any("does not match" in p for p in shapes.problems("emr-serverless", "StartJobRun", bad_role))
    assert shapes.problems("emr-serverless", "StartJobRun", {k: v for k, v in run.items() if k != "executionRoleArn"})


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"role_arn": "spark-jobs"}, "IAM role ARN"),
        ({"image_uri": "public.ecr.aws/emr-serverless/spark/emr-7.12.0:latest"}, "ECR image URI"),
        ({"release_label": "emr-6.15.0"}, "EMR 7.x label"),
        ({"architecture": "arm64"}, "x86_64 or aarch64"),
    ],
)
def test_spec_refuses_what_cannot_run(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        serverless.ServerlessSpec(**{"role_arn": ROLE, "image_uri": IMAGE, **kwargs})


# ── Step Functions ──────────────────────────────────────────────────────────────────────


def from_sfn(shape: Any, value: Any, path: str = "") -> Any:
    """The inverse of the Step Functions spelling, driven by botocore's shape (not by our code):
    each PascalCase key must be a structure member with its first letter capitalised; map keys
    are data and stay as they are."""
    if shape.type_name == "structure":
        members = {name[:1].upper() + name[1:]: name for name in shape.members}
        assert set(value) <= set(members), f"{path}: {sorted(set(value) - set(members))} are not {shape.name} members"
        return {members[k]: from_sfn(shape.members[members[k]], v, f"{path}.{k}") for k, v in value.items()}
    if shape.type_name == "list":
        return [from_sfn(shape.member, item, f"{path}[]") for item in value]
    if shape.type_name == "map":
        return {k: from_sfn(shape.value, v, f"{path}[{k}]") for k, v in value.items()}
    return value


def evaluate(arguments: Any, states: dict[str, Any], **variables: Any) -> Any:
    """Every `{% ... %}` string of a state's Arguments, evaluated by the JSONata engine."""
    if isinstance(arguments, dict):
        return {k: evaluate(v, states, **variables) for k, v in arguments.items()}
    if isinstance(arguments, list):
        return [evaluate(v, states, **variables) for v in arguments]
    if isinstance(arguments, str) and arguments.startswith("{%"):
        return jsonata(arguments, states, **variables)
    return arguments


def for_day(document: Any, day: str) -> Any:
    """A static document with its `${DATE}` filled in, as envsubst would."""
    return json.loads(json.dumps(document).replace("${DATE}", day))


@pytest.mark.parametrize("pipeline", sorted(registry.pipelines(registry.JOBS)))
def test_state_machine_sends_the_job_runs_in_the_integrations_spelling(machines, docs, pipeline: str) -> None:
    states = machines[pipeline]["States"]
    context = {"Execution": {"Input": {"applicationId": "00fabcdef1234567"}}}
    for job in registry.pipelines(registry.JOBS)[pipeline]:
        state = states[f"Run {job.name}"]
        assert state["Resource"] == "arn:aws:states:::emr-serverless:startJobRun.sync"
        arguments = evaluate(state["Arguments"], {"context": context, "input": {}}, date="2026-12-06")
        assert arguments["ApplicationId"] == "00fabcdef1234567"
        assert "JobDriver" in arguments and "SparkSubmit" in arguments["JobDriver"]
        props = arguments["ConfigurationOverrides"]["ApplicationConfiguration"][0]["Properties"]
        assert "spark.sql.extensions" in props  # map keys keep their spelling
        request = from_sfn(shapes.input_shape("emr-serverless", "StartJobRun"), arguments)
        assert shapes.problems("emr-serverless", "StartJobRun", {**request, "clientToken": "t"}) == []
        # the same request as the start-job-run file for that day, without the service-side retry
        # (Step Functions retries)
        expected = {k: v for k, v in for_day(runs(docs)[job.name], "2026-12-06").items() if k != "retryPolicy"}
        assert request == {**expected, "applicationId": "00fabcdef1234567"}


def test_state_machines_send_the_encryption_key_in_the_integrations_spelling(encrypted, deployment) -> None:
    spec = serverless.ServerlessSpec(role_arn=ROLE, image_uri=IMAGE, kms_key_arn=KEY)
    jobs = registry.pipelines(registry.JOBS)["logs"]
    machine = serverless.state_machine("logs", jobs, deployment, spec, load_configurations())
    context = {"Execution": {"Input": {"applicationId": "00fabcdef1234567"}}}
    arguments = evaluate(
        machine["States"]["Run log_analytics"]["Arguments"], {"context": context, "input": {}}, date="2026-12-06"
    )
    monitoring = arguments["ConfigurationOverrides"]["MonitoringConfiguration"]
    assert monitoring["S3MonitoringConfiguration"]["EncryptionKeyArn"] == KEY
    assert monitoring["ManagedPersistenceMonitoringConfiguration"]["EncryptionKeyArn"] == KEY
    request = from_sfn(shapes.input_shape("emr-serverless", "StartJobRun"), arguments)
    expected = {k: v for k, v in for_day(runs(encrypted)["log_analytics"], "2026-12-06").items() if k != "retryPolicy"}
    assert request == {**expected, "applicationId": "00fabcdef1234567"}


def test_the_spelling_leaves_data_maps_alone() -> None:
    request = {"jobDriver": {"sparkSubmit": {"entryPoint": "s3://b/x.py"}}, "tags": {"job": "x"}}
    request["configurationOverrides"] = {
        "applicationConfiguration": [{"classification": "c", "properties": {"a.b": "1"}}]
    }
    assert serverless.sfn_arguments(request) == {
        "JobDriver": {"SparkSubmit": {"EntryPoint": "s3://b/x.py"}},
        "Tags": {"job": "x"},
        "ConfigurationOverrides": {"ApplicationConfiguration": [{"Classification": "c", "Properties": {"a.b": "1"}}]},
    }
    with pytest.raises(AssertionError, match="are not"):
        from_sfn(shapes.input_shape("emr-serverless", "StartJobRun"), {"JobDriver": {"SparkSubmit": {"entryPoint": 1}}})


@pytest.mark.parametrize("pipeline", sorted(registry.pipelines(registry.JOBS)))
def test_jobs_run_in_order_with_the_ec2_failure_handling(machines, pipeline: str) -> None:
    states = machines[pipeline]["States"]
    jobs = registry.pipelines(registry.JOBS)[pipeline]
    chain = [states["Check input"]["Choices"][0]["Next"]]
    while chain[-1].startswith("Run "):
        chain.append(states[chain[-1]]["Next"])
    after = "Load Redshift" if any(job.redshift_sql for job in jobs) else "Pipeline succeeded"
    assert chain == [f"Run {job.name}" for job in jobs] + [after]
    for job in jobs:
        state = states[f"Run {job.name}"]
        assert state["Catch"] == launch._catch("Pipeline failed")
        assert bool(state.get("Retry")) == job.idempotent and state["TimeoutSeconds"] > 0
        assert "RetryPolicy" not in state["Arguments"]  # one retry, not two stacked
    assert states["Pipeline failed"] == {
        "Type": "Fail",
        "Error": "{% $failure.Error %}",
        "Cause": "{% $failure.Cause %}",
    }


def test_scoring_runs_after_training_and_redshift_after_the_etl(machines) -> None:
    segmentation = machines["segmentation"]["States"]
    assert segmentation["Run customer_segmentation"]["Next"] == "Run segment_customers"
    transactions = machines["transactions"]["States"]
    assert transactions["Run transaction_etl"]["Next"] == "Run maintain_tables"
    assert transactions["Run maintain_tables"]["Next"] == "Load Redshift"
    assert transactions["Load Redshift"]["Next"] == "Acknowledge Redshift load"
    assert transactions["Acknowledge Redshift load"]["Next"] == "Pipeline succeeded"
    assert "Load Redshift" not in json.dumps(machines["logs"])


def test_missing_input_stops_before_any_job_runs(machines) -> None:
    logs = machines["logs"]["States"]["Check input"]["Choices"][0]["Condition"]
    assert jsonata(logs, {"input": {"applicationId": "00f1"}}) is True
    assert jsonata(logs, {"input": {}}) is False
    etl = machines["transactions"]["States"]["Check input"]["Choices"][0]["Condition"]
    good = {"applicationId": "00f1", "redshift": {"target": {"Database": "dev"}, "copyRoleArn": SFN_ROLE}}
    assert jsonata(etl, {"input": good}) is True
    assert jsonata(etl, {"input": {"applicationId": "00f1"}}) is False


def test_state_machines_pass_asl_validator(tmp_path: Path, machines) -> None:
    if not ASL_VALIDATOR.exists():
        pytest.fail("asl-validator is not installed: run `make test` (it runs `npm ci --prefix tools/asl`)")
    paths = []
    for pipeline, machine in machines.items():
        (tmp_path / f"{pipeline}.json").write_text(json.dumps(machine))
        paths += ["--json-path", str(tmp_path / f"{pipeline}.json")]
    result = subprocess.run([str(ASL_VALIDATOR), *paths], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("is valid") == len(machines)


@mock_aws
def test_moto_accepts_the_application_and_the_state_machines(docs, machines) -> None:
    client = boto3.client("emr-serverless", region_name=REGION)
    app = client.create_application(**docs["create-application.json"])
    stored = client.get_application(applicationId=app["applicationId"])["application"]
    assert stored["releaseLabel"] == launch.DEFAULT_RELEASE_LABEL
    sfn = boto3.client("stepfunctions", region_name=REGION)
    for pipeline, machine in machines.items():
        arn = sfn.create_state_machine(
            name=f"spark-jobs-sls-{pipeline}", definition=json.dumps(machine), roleArn=SFN_ROLE
        )
        assert json.loads(sfn.describe_state_machine(stateMachineArn=arn["stateMachineArn"])["definition"]) == machine


# ── make emr-artifacts ──────────────────────────────────────────────────────────────────


def test_artifacts_write_serverless_documents_only_with_role_and_image(tmp_path: Path, capsys) -> None:
    argv = ["artifacts", "--bucket", ROOT, "--out", str(tmp_path / "emr")]
    assert cli.main(argv) == 0
    assert not (tmp_path / "emr" / "serverless").exists()
    assert "no EMR Serverless documents" in capsys.readouterr().err
    assert cli.main([*argv, "--serverless-role-arn", ROLE, "--serverless-image", IMAGE]) == 0
    written = sorted(p.name for p in (tmp_path / "emr" / "serverless").iterdir())
    assert written == sorted(
        ["create-application.json"]
        + [f"start-job-run-{job.name}.json" for job in registry.present()]
        + [f"state-machine-{p}.json" for p in registry.pipelines(registry.present())]
    )
    assert cli.main([*argv, "--serverless-role-arn", ROLE]) == 2
    assert "need both SERVERLESS_ROLE_ARN and SERVERLESS_IMAGE" in capsys.readouterr().err


# ── make submit-serverless against moto ─────────────────────────────────────────────────


def clients(service: str, region: str | None) -> Any:
    return boto3.client(service, region_name=region or REGION)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch, dist: Path, deployment) -> Iterator[str]:
    """moto's S3 with the artifact deployed, and an application whose job runs are born SUBMITTED
    (moto's are born SUCCESS): the test drives their states, as EMR would."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(emrserverless_models, "JOB_STATUS", "SUBMITTED")
    with mock_aws():
        clients("s3", None).create_bucket(Bucket="my-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
        aws.deploy(clients("s3", None), dist, deployment)
        app = clients("emr-serverless", None).create_application(
            name="spark-jobs", releaseLabel="emr-7.12.0", type="SPARK"
        )
        yield app["applicationId"]


def _drive(application_id: str, *states: str, details: str = ""):
    """A `sleep` that moves the application's last job run through `states`."""
    queue = list(states)

    def sleep(seconds: float) -> None:
        run = emrserverless_models.emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs[application_id][-1]
        run.state = queue.pop(0)
        run.state_details = details

    return sleep


def _argv(application_id: str, job: str = "log_analytics") -> list[str]:
    return ["submit-serverless", "--bucket", ROOT, "--application-id", application_id, "--role-arn", ROLE]


def test_submit_serverless_starts_the_run_and_streams_its_states(moto: str, monkeypatch, capsys, deployment) -> None:
    sleep = _drive(moto, "SCHEDULED", "RUNNING", "RUNNING", "SUCCESS")
    monkeypatch.setattr(cli, "submit_serverless", functools.partial(aws.submit_serverless, sleep=sleep))
    assert cli.main([*_argv(moto), "--job", "log_analytics", "--poll-seconds", "0"], clients=clients) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("log_analytics: job run ") and lines[0].endswith(f"started on {moto}")
    assert lines[1:] == [f"log_analytics: {s}" for s in ("SUBMITTED", "SCHEDULED", "RUNNING", "SUCCESS")]
    [run] = clients("emr-serverless", None).list_job_runs(applicationId=moto)["jobRuns"]
    sent = clients("emr-serverless", None).get_job_run(applicationId=moto, jobRunId=run["id"])["jobRun"]
    assert sent["jobDriver"]["sparkSubmit"]["entryPoint"] == deployment.entrypoint_uri(registry.find("log_analytics"))
    stored = emrserverless_models.emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs[moto][-1]
    assert stored.execution_role_arn == ROLE and stored.name == "log_analytics"


def test_submit_serverless_args_replace_the_registered_arguments(moto: str, monkeypatch) -> None:
    monkeypatch.setattr(
        cli, "submit_serverless", functools.partial(aws.submit_serverless, sleep=_drive(moto, "SUCCESS"))
    )
    extra = ["--job", "log_analytics", "--poll-seconds", "0", "--args", "--input s3://x/in --output 's3://x/out put'"]
    assert cli.main([*_argv(moto), *extra], clients=clients) == 0
    [run] = clients("emr-serverless", None).list_job_runs(applicationId=moto)["jobRuns"]
    sent = clients("emr-serverless", None).get_job_run(applicationId=moto, jobRunId=run["id"])["jobRun"]
    assert sent["jobDriver"]["sparkSubmit"]["entryPointArguments"] == [
        "--input",
        "s3://x/in",
        "--output",
        "s3://x/out put",
    ]


def test_submit_serverless_date_runs_the_registered_arguments_for_that_day(moto: str, monkeypatch) -> None:
    monkeypatch.setattr(
        cli, "submit_serverless", functools.partial(aws.submit_serverless, sleep=_drive(moto, "SUCCESS"))
    )
    extra = ["--job", "transaction_etl", "--poll-seconds", "0", "--date", "2026-12-06"]
    assert cli.main([*_argv(moto), *extra], clients=clients) == 0
    [run] = clients("emr-serverless", None).list_job_runs(applicationId=moto)["jobRuns"]
    sent = clients("emr-serverless", None).get_job_run(applicationId=moto, jobRunId=run["id"])["jobRun"]
    arguments = sent["jobDriver"]["sparkSubmit"]["entryPointArguments"]
    assert arguments == list(registry.find("transaction_etl").render_dated(ROOT, "2026-12-06"))
    assert f"{ROOT}/input/transactions/dt=2026-12-06/" in arguments


def test_serverless_machines_run_each_day_on_its_own_input(machines) -> None:
    context = {"Execution": {"Input": {"applicationId": "00fabcdef1234567"}, "StartTime": "2026-12-07T02:00:00Z"}}
    inputs = []
    for day in ("2026-12-05", "2026-12-06"):
        states = machines["logs"]["States"]
        assert machines["logs"]["StartAt"] == "Resolve date"
        resolved = jsonata(states["Resolve date"]["Assign"]["date"], {"input": {"date": day}, "context": context})
        assert resolved == day
        arguments = evaluate(states["Run log_analytics"]["Arguments"], {"context": context, "input": {}}, date=day)
        sent = arguments["JobDriver"]["SparkSubmit"]["EntryPointArguments"]
        assert sent[sent.index("--date") + 1] == day
        inputs.append(sent[sent.index("--input") + 1])
    assert inputs == [f"{ROOT}/input/logs/dt=2026-12-05/", f"{ROOT}/input/logs/dt=2026-12-06/"]


def test_submit_serverless_sends_the_kms_key(moto: str, monkeypatch) -> None:
    monkeypatch.setattr(
        cli, "submit_serverless", functools.partial(aws.submit_serverless, sleep=_drive(moto, "SUCCESS"))
    )
    argv = [*_argv(moto), "--job", "log_analytics", "--poll-seconds", "0", "--kms-key-arn", KEY]
    assert cli.main(argv, clients=clients) == 0
    stored = emrserverless_models.emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs[moto][-1]
    overrides = stored.configuration_overrides
    assert overrides["monitoringConfiguration"]["s3MonitoringConfiguration"]["encryptionKeyArn"] == KEY
    assert overrides["applicationConfiguration"][0]["properties"]["spark.hadoop.fs.s3a.encryption.key"] == KEY


def test_a_failed_job_run_ends_with_one_line_naming_the_driver_log(moto: str, monkeypatch, capsys) -> None:
    sleep = _drive(
        moto, "RUNNING", "FAILED", details="Job failed, please check complete logs in configured logging destination."
    )
    monkeypatch.setattr(cli, "submit_serverless", functools.partial(aws.submit_serverless, sleep=sleep))
    assert cli.main([*_argv(moto), "--job", "segment_customers", "--poll-seconds", "0"], clients=clients) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-2:] == ["segment_customers: RUNNING", "segment_customers: FAILED"]
    [line] = captured.err.splitlines()
    [run] = clients("emr-serverless", None).list_job_runs(applicationId=moto)["jobRuns"]
    assert line == (
        f"emr: error: job run {run['id']} (segment_customers) FAILED: Job failed, please check complete logs in "
        f"configured logging destination. (driver log: {ROOT}/logs/emr-serverless/applications/{moto}/jobs/"
        f"{run['id']}/SPARK_DRIVER/stderr.gz)"
    )


def test_submit_serverless_gives_up_waiting_at_the_timeout(moto: str, deployment) -> None:
    spec = serverless.ServerlessSpec(role_arn=ROLE, image_uri=IMAGE)
    request = {**serverless.start_job_run(registry.find("log_analytics"), deployment, spec, load_configurations())}
    ticks = iter(range(0, 10_000, 60))
    with pytest.raises(aws.AwsError, match=r"gave up waiting after 120s: job run \w+ is still SUBMITTED"):
        aws.submit_serverless(
            clients("emr-serverless", None),
            {**request, "applicationId": moto},
            io.StringIO(),
            timeout_seconds=120,
            sleep=lambda s: None,
            clock=lambda: next(ticks),
        )


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--application-id", "APP-1"], "lowercase letters and digits"),
        (["--role-arn", "not-a-role"], "IAM role ARN"),
        (["--job", "nope"], "invalid choice: 'nope'"),
        (["--kms-key-arn", "alias/spark-jobs"], "a KMS key must be given as a key ARN"),
    ],
)
def test_bad_submit_serverless_arguments_end_with_one_line(extra: list[str], message: str, capsys) -> None:
    argv = {"--bucket": ROOT, "--application-id": "00f1", "--role-arn": ROLE, "--job": "log_analytics"}
    argv.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    try:
        code = cli.main(["submit-serverless", *[item for pair in argv.items() for item in pair]], clients=clients)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


# ── the custom image (no container daemon here: what can be checked statically) ─────────

DOCKERFILE = package.ROOT / "serverless" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as Docker reads them: continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", "", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_image_starts_from_the_emr_serverless_base_of_the_pinned_release() -> None:
    steps = instructions()
    assert steps[0] == ("ARG", f"EMR_RELEASE={launch.DEFAULT_RELEASE_LABEL}")
    assert steps[1] == ("FROM", "public.ecr.aws/emr-serverless/spark/${EMR_RELEASE}:latest")
    assert steps[-1] == ("USER", "hadoop:hadoop")  # EMR Serverless runs images as hadoop
    assert ("ENV", f"PYSPARK_PYTHON={serverless.PYTHON}") in steps


def test_image_installs_the_artifacts_requirements_from_the_checked_wheelhouse(dist: Path, tmp_path: Path) -> None:
    runs_ = [body for kind, body in instructions() if kind == "RUN"]
    assert any(body.startswith("dnf install -y python3.11 ") for body in runs_)
    [install] = [body for body in runs_ if "pip install" in body]
    assert "--no-index" in install and "/tmp/spark-jobs/wheelhouse/$(uname -m)" in install
    assert ("COPY", "dist/requirements.txt /tmp/spark-jobs/requirements.txt") in instructions()
    # the image's own check of the pins, run here on this virtualenv (which holds them)
    words = shlex.split(install.split("&&")[1])
    assert words[:2] == ["python3.11", "-c"]
    check = subprocess.run(
        [sys.executable, "-c", words[2], str(dist / "requirements.txt")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    (tmp_path / "r.txt").write_text("numpy==0.0.1\n")
    check = subprocess.run([sys.executable, "-c", words[2], str(tmp_path / "r.txt")], capture_output=True, text=True)
    assert check.returncode == 1 and "not installed as pinned: numpy==0.0.1" in check.stderr
    ignored = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split()
    assert "*" in ignored and "!dist/requirements.txt" in ignored and "!wheelhouse/" in ignored


def test_with_a_topic_a_failed_serverless_pipeline_notifies_it_first(deployment, spec) -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:data-alerts"
    docs = serverless.documents(registry.JOBS, deployment, spec, load_configurations(), topic)
    for name, machine in docs.items():
        if name.startswith("state-machine-"):
            states = machine["States"]
            assert states["Notify failure"]["Arguments"]["TopicArn"] == topic
            jobs = registry.pipelines(registry.JOBS)[name[14:-5]]
            entry = "Read gate" if any(job.dated for job in jobs) else "Notify failure"
            for job in jobs:
                assert states[f"Run {job.name}"]["Catch"][0]["Next"] == entry
