"""The generated EMR and Step Functions documents, checked by real tools: botocore's service
models, moto's EMR and Step Functions, the asl-validator npm package and the JSONata engine
Step Functions runs. Every registered job is covered, merged yet or not: generation is pure."""

from __future__ import annotations

import json
import py_compile
import subprocess
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters
from moto import mock_aws

from tools import package
from tools.emr import launch, registry, shapes
from tools.emr.__main__ import load_configurations
from tools.emr.__main__ import main as emr_main

ROOT = "s3://my-bucket/spark-jobs"
ASL = package.ROOT / "tools" / "asl"
ASL_VALIDATOR = ASL / "node_modules" / ".bin" / "asl-validator"
ROLE = "arn:aws:iam::123456789012:role/StepFunctionsEmr"
# The shape of the SQL the transaction ETL writes (common/redshift.py on its branch).
LOAD_SQL = (
    "BEGIN;\n"
    "CREATE TEMP TABLE daily_user_totals_stage (LIKE daily_user_totals);\n"
    "COPY daily_user_totals_stage\nFROM 's3://my-bucket/spark-jobs/warehouse/redshift/daily_user_totals.manifest'\n"
    "IAM_ROLE :'iam_role'\nFORMAT AS PARQUET\nMANIFEST;\n"
    "DELETE FROM daily_user_totals WHERE transaction_date IN ('2026-11-01');\n"
    "INSERT INTO daily_user_totals SELECT * FROM daily_user_totals_stage;\n"
    "DROP TABLE daily_user_totals_stage;\n"
    "COMMIT;\n"
)


@pytest.fixture(scope="module")
def deployment() -> launch.Deployment:
    return launch.Deployment(ROOT, package.version())


@pytest.fixture(scope="module")
def spec() -> launch.ClusterSpec:
    return launch.ClusterSpec(subnet_id="subnet-0123456789abcdef0", wheelhouse="s3://my-bucket/wheelhouse")


@pytest.fixture(scope="module")
def docs(deployment: launch.Deployment, spec: launch.ClusterSpec) -> dict[str, Any]:
    return launch.documents(registry.JOBS, deployment, spec, load_configurations())


@pytest.fixture(scope="module")
def machines(docs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name[len("state-machine-") : -len(".json")]: doc for name, doc in docs.items() if "state-machine" in name}


def shape(service: str, operation: str) -> Any:
    return botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape


def valid(service: str, operation: str, params: dict[str, Any]) -> None:
    validate_parameters(params, shape(service, operation))  # raises ParamValidationError


def jsonata(expression: str, states: dict[str, Any], **variables: Any) -> Any:
    """Evaluate a generated expression with the JSONata engine (npm `jsonata`)."""
    request = json.dumps({"expression": expression, "states": states, "variables": variables})
    result = subprocess.run(
        ["node", str(ASL / "eval_jsonata.js")], input=request, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def asl_validator() -> Path:
    if not ASL_VALIDATOR.exists():
        pytest.fail("asl-validator is not installed: run `make test` (it runs `npm ci --prefix tools/asl`)")
    return ASL_VALIDATOR


def test_one_state_machine_and_step_file_per_pipeline(docs: dict[str, Any]) -> None:
    pipelines = sorted(registry.pipelines(registry.JOBS))
    assert sorted(docs) == sorted(
        ["run-job-flow.json"] + [f"{kind}-{p}.json" for p in pipelines for kind in ("steps", "state-machine")]
    )


# ── EMR payloads ────────────────────────────────────────────────────────────────────────


def test_cluster_documents_are_valid_run_job_flow_requests(docs, machines) -> None:
    valid("emr", "RunJobFlow", docs["run-job-flow.json"])
    for machine in machines.values():
        valid("emr", "RunJobFlow", machine["States"]["Create cluster"]["Arguments"])


def test_cluster_runs_emr_7_with_our_bootstrap_and_configurations(docs, deployment, spec) -> None:
    cluster = docs["run-job-flow.json"]
    assert cluster["ReleaseLabel"].startswith("emr-7.")
    # the driver's stdout (the metrics line) streams to CloudWatch Logs: EMR 7.11+ with the agent
    assert cluster["Applications"] == [{"Name": "Spark"}, {"Name": "AmazonCloudWatchAgent"}]
    logging = cluster["MonitoringConfiguration"]["CloudWatchLogConfiguration"]
    assert logging["Enabled"] and logging["LogTypes"]["SPARK_DRIVER"] == ["STDOUT", "STDERR"]
    assert cluster["LogUri"] == f"{ROOT}/logs/emr/"
    [bootstrap] = cluster["BootstrapActions"]
    assert bootstrap["ScriptBootstrapAction"] == {
        "Path": f"{deployment.artifacts}/bootstrap/install_requirements.sh",
        "Args": [f"{deployment.artifacts}/requirements.txt", "--wheelhouse", spec.wheelhouse],
    }
    classes = {c["Classification"]: c for c in cluster["Configurations"]}
    assert classes["delta-defaults"]["Properties"] == {"delta.enabled": "true"}
    assert classes["spark-env"]["Configurations"][0]["Properties"]["PYSPARK_PYTHON"] == "/usr/bin/python3.11"
    defaults = classes["spark-defaults"]["Properties"]
    assert defaults["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert defaults["spark.serializer"] == "org.apache.spark.serializer.KryoSerializer"
    assert defaults["spark.sql.adaptive.enabled"] == "true"
    assert defaults["spark.eventLog.enabled"] == "true"
    assert defaults["spark.eventLog.dir"] == defaults["spark.history.fs.logDirectory"] == f"{ROOT}/logs/spark-events/"
    assert cluster["Instances"]["Ec2SubnetId"] == spec.subnet_id
    assert cluster["AutoTerminationPolicy"]["IdleTimeout"] == spec.idle_timeout_seconds


def test_steps_spark_submit_the_versioned_zip_in_cluster_mode(docs, deployment) -> None:
    steps = docs["steps-logs.json"]
    step, maintenance = steps  # log_analytics, then maintain_tables over its root
    assert maintenance["Name"] == "maintain_log_tables"
    assert maintenance["Args"][-8:] == list(registry.find("maintain_log_tables").render(ROOT))
    assert step["Type"] == "CUSTOM_JAR" and step["Jar"] == "command-runner.jar"
    args = step["Args"]
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    assert (
        args[args.index("--py-files") + 1] == f"{ROOT}/artifacts/{package.version()}/spark_jobs-{package.version()}.zip"
    )
    entry = args.index(f"{deployment.artifacts}/entrypoints/log_analytics.py")
    assert args[entry + 1 :] == list(registry.find("log_analytics").render_dated(ROOT, "${DATE}"))
    assert args[entry + 1 : entry + 3] == ["--input", f"{ROOT}/input/logs/dt=${{DATE}}/"]


def _from_cli(step: dict[str, Any]) -> dict[str, Any]:
    """What `aws emr add-steps` sends for a CUSTOM_JAR step (awscli's build_custom_jar_step)."""
    assert set(step) <= {"Type", "Name", "ActionOnFailure", "Jar", "Args", "MainClass", "Properties"}
    return {
        "Name": step["Name"],
        "ActionOnFailure": step["ActionOnFailure"],
        "HadoopJarStep": {"Jar": step["Jar"], "Args": step["Args"]},
    }


def test_step_files_are_valid_add_job_flow_steps_requests(docs, machines) -> None:
    for name, steps in docs.items():
        if name.startswith("steps-"):
            valid("emr", "AddJobFlowSteps", {"JobFlowId": "j-1ABCDEFGHIJKL", "Steps": [_from_cli(s) for s in steps]})
    for machine in machines.values():
        for state in machine["States"].values():
            if state.get("Resource", "").endswith("addStep.sync"):
                step = state["Arguments"]["Step"]
                args = step["HadoopJarStep"]["Args"]
                if isinstance(args, str):  # a dated job's: evaluated as Step Functions would
                    args = jsonata(args, {}, date="2026-12-06", acceptGates=["volume"])
                step = {**step, "HadoopJarStep": {**step["HadoopJarStep"], "Args": args}}
                valid("emr", "AddJobFlowSteps", {"JobFlowId": "j-1ABCDEFGHIJKL", "Steps": [step]})


@mock_aws
def test_moto_emr_and_step_functions_accept_and_store_them(docs, machines) -> None:
    emr = boto3.client("emr", region_name="eu-west-1")
    cluster_id = emr.run_job_flow(**docs["run-job-flow.json"])["JobFlowId"]
    for name, steps in sorted(docs.items()):
        if name.startswith("steps-"):
            emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[_from_cli(s) for s in steps])
    stored = emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert sorted(s["Name"] for s in stored) == sorted(j.name for j in registry.JOBS)
    assert all(s["Config"]["Jar"] == "command-runner.jar" for s in stored)

    sfn = boto3.client("stepfunctions", region_name="eu-west-1")
    for pipeline, machine in machines.items():
        arn = sfn.create_state_machine(name=f"spark-jobs-{pipeline}", definition=json.dumps(machine), roleArn=ROLE)[
            "stateMachineArn"
        ]
        assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == machine


# ── cost knobs: Spot task fleets, Graviton, managed scaling ─────────────────────────────


def _cluster(deployment: launch.Deployment, **kwargs: Any) -> dict[str, Any]:
    return launch.run_job_flow(deployment, launch.ClusterSpec(**kwargs), load_configurations())


def test_spot_task_capacity_uses_fleets_with_on_demand_core_nodes(deployment) -> None:
    cluster = _cluster(deployment, spot_task_units=6, subnet_id="subnet-0123456789abcdef0")
    assert shapes.problems("emr", "RunJobFlow", cluster) == []
    fleets = {f["InstanceFleetType"]: f for f in cluster["Instances"]["InstanceFleets"]}
    assert "InstanceGroups" not in cluster["Instances"]
    assert fleets["MASTER"]["TargetOnDemandCapacity"] == 1 and "TargetSpotCapacity" not in fleets["MASTER"]
    assert fleets["CORE"]["TargetOnDemandCapacity"] == 2 and "TargetSpotCapacity" not in fleets["CORE"]
    task = fleets["TASK"]
    assert task["TargetSpotCapacity"] == 6 and "TargetOnDemandCapacity" not in task
    assert len(task["InstanceTypeConfigs"]) >= 3  # several Spot pools to pick from
    spot = task["LaunchSpecifications"]["SpotSpecification"]
    assert spot["AllocationStrategy"] == "price-capacity-optimized" and spot["TimeoutAction"] == "SWITCH_TO_ON_DEMAND"
    assert cluster["Instances"]["Ec2SubnetIds"] == ["subnet-0123456789abcdef0"]
    # drivers (YARN application masters) stay on the on-demand core nodes
    [yarn] = [c for c in cluster["Configurations"] if c["Classification"] == "yarn-site"]
    assert yarn["Properties"]["yarn.node-labels.am.default-node-label-expression"] == "CORE"
    assert "yarn-site" not in json.dumps(_cluster(deployment))  # on-demand only: nothing to steer


def test_graviton_cluster_with_managed_scaling(deployment) -> None:
    cluster = _cluster(
        deployment,
        primary_instance_type="m7g.xlarge",
        core_instance_type="m7g.xlarge",
        spot_task_units=4,
        max_capacity=20,
        wheelhouse="s3://my-bucket/spark-jobs/wheelhouse/aarch64",
    )
    assert shapes.problems("emr", "RunJobFlow", cluster) == []
    types = [c["InstanceType"] for f in cluster["Instances"]["InstanceFleets"] for c in f["InstanceTypeConfigs"]]
    assert {launch.architecture(t) for t in types} == {"aarch64"}
    assert cluster["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"][-1].endswith("/aarch64")
    assert cluster["ManagedScalingPolicy"]["ComputeLimits"] == {
        "UnitType": "InstanceFleetUnits",
        "MinimumCapacityUnits": 2,
        "MaximumCapacityUnits": 20,
        "MaximumOnDemandCapacityUnits": 2,  # above the core nodes, only Spot
        "MaximumCoreCapacityUnits": 2,  # core nodes hold HDFS: they do not scale
    }
    groups = _cluster(deployment, max_capacity=5)
    assert shapes.problems("emr", "RunJobFlow", groups) == []
    assert groups["ManagedScalingPolicy"]["ComputeLimits"]["UnitType"] == "Instances"


@mock_aws
def test_moto_emr_starts_the_spot_fleet_cluster(deployment) -> None:
    """moto takes fleets and the scaling policy (it lists neither back: botocore's model is the check)."""
    emr = boto3.client("emr", region_name="eu-west-1")
    cluster_id = emr.run_job_flow(**_cluster(deployment, spot_task_units=3, max_capacity=9))["JobFlowId"]
    stored = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert "yarn-site" in [c["Classification"] for c in stored["Configurations"]]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"core_instance_type": "m7g.xlarge"}, "one architecture per cluster"),
        ({"spot_task_units": 2, "task_instance_types": ("m6i.xlarge", "m7g.xlarge")}, "one architecture per cluster"),
        ({"wheelhouse": "s3://my-bucket/wheelhouse/aarch64"}, "x86_64 nodes need the x86_64 wheelhouse"),
        ({"max_capacity": 3, "spot_task_units": 2}, "below the 4 core and task units"),
        ({"spot_allocation_strategy": "cheapest"}, "spot allocation strategy must be one of"),
    ],
)
def test_cost_knobs_refuse_inconsistent_clusters(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        launch.ClusterSpec(**kwargs)


@pytest.mark.parametrize(
    "instance_type,arch",
    [
        ("m7g.xlarge", "aarch64"),
        ("r6gd.2xlarge", "aarch64"),
        ("c6gn.large", "aarch64"),
        ("m6i.xlarge", "x86_64"),
        ("g5.xlarge", "x86_64"),
        ("m5dn.4xlarge", "x86_64"),
    ],
)
def test_instance_architecture(instance_type: str, arch: str) -> None:
    assert launch.architecture(instance_type) == arch


def test_artifacts_command_takes_the_cost_knobs(tmp_path: Path) -> None:
    argv = ["artifacts", "--bucket", ROOT, "--out", str(tmp_path), "--instance-type", "m7g.2xlarge"]
    argv += ["--spot-task-units", "3", "--task-instance-types", "m7g.2xlarge,m6g.2xlarge", "--max-capacity", "9"]
    assert emr_main(argv) == 0
    cluster = json.loads((tmp_path / "run-job-flow.json").read_text())
    [task] = [f for f in cluster["Instances"]["InstanceFleets"] if f["InstanceFleetType"] == "TASK"]
    assert [c["InstanceType"] for c in task["InstanceTypeConfigs"]] == ["m7g.2xlarge", "m6g.2xlarge"]
    assert cluster["ManagedScalingPolicy"]["ComputeLimits"]["MaximumCapacityUnits"] == 9
    machine = json.loads((tmp_path / "state-machine-logs.json").read_text())
    assert machine["States"]["Create cluster"]["Arguments"]["Instances"] == cluster["Instances"]


# ── state machines ──────────────────────────────────────────────────────────────────────


def test_state_machines_pass_asl_validator(tmp_path: Path, machines, asl_validator: Path) -> None:
    paths = []
    for pipeline, machine in machines.items():
        paths += ["--json-path", str(tmp_path / f"{pipeline}.json")]
        (tmp_path / f"{pipeline}.json").write_text(json.dumps(machine))
    result = subprocess.run([str(asl_validator), *paths], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("is valid") == len(machines)


def test_asl_validator_rejects_a_broken_machine(tmp_path: Path, machines, asl_validator: Path) -> None:
    broken = json.loads(json.dumps(machines["logs"]))
    broken["States"]["Run log_analytics"]["Next"] = "No such state"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    result = subprocess.run(
        [str(asl_validator), "--json-path", str(tmp_path / "broken.json")], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


@pytest.mark.parametrize("pipeline", sorted(registry.pipelines(registry.JOBS)))
def test_jobs_run_in_order_and_the_cluster_always_ends(machines, pipeline: str) -> None:
    states = machines[pipeline]["States"]
    jobs = registry.pipelines(registry.JOBS)[pipeline]
    assert machines[pipeline]["StartAt"] == "Resolve date"
    chain = [states["Create cluster"]["Next"]]
    while chain[-1].startswith(("Run ", "Build dashboard ")):
        chain.append(states[chain[-1]]["Next"])
    # each job, then its dashboard built over its output root
    assert chain == [s for job in jobs for s in (f"Run {job.name}", f"Build dashboard {job.name}")] + [
        "Terminate cluster"
    ]
    for job in jobs:
        step = states[f"Build dashboard {job.name}"]
        assert step["Arguments"]["Step"]["HadoopJarStep"]["Args"][-3:] == [
            launch.Deployment(ROOT, package.version()).entrypoint_uri(registry.DASHBOARD),
            "--output",
            registry.output_root(job, ROOT),
        ]
        assert step["Catch"][0]["Next"] == "Terminate cluster after failure"
    for job in jobs:
        state = states[f"Run {job.name}"]
        assert state["Resource"] == "arn:aws:states:::elasticmapreduce:addStep.sync"
        assert state["Arguments"]["ClusterId"] == "{% $clusterId %}"
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        assert state["Catch"][0]["Next"] == "Terminate cluster after failure"
        assert bool(state.get("Retry")) == job.idempotent and state["TimeoutSeconds"] > 0
    assert states["Create cluster"]["Resource"].endswith("createCluster.sync")
    assert states["Create cluster"]["Assign"] == {"clusterId": "{% $states.result.ClusterId %}"}
    for terminate in ("Terminate cluster", "Terminate cluster after failure"):
        assert states[terminate]["Resource"].endswith("terminateCluster.sync") and states[terminate]["Retry"]
    assert states["Terminate cluster after failure"]["Next"] == "Pipeline failed"
    assert states["Pipeline failed"]["Type"] == "Fail"


def test_scoring_runs_after_training() -> None:
    jobs = [job.name for job in registry.pipelines(registry.JOBS)["segmentation"]]
    assert jobs == ["customer_segmentation", "segment_customers"]


def test_etl_loads_redshift_after_the_cluster_is_gone(machines) -> None:
    states = machines["transactions"]["States"]
    assert machines["transactions"]["StartAt"] == "Resolve date"
    assert machines["transactions"]["States"]["Check date"]["Choices"][0]["Next"] == "Check input"
    assert states["Terminate cluster"]["Next"] == "Load Redshift"
    load = states["Load Redshift"]
    assert load["Type"] == "Map" and load["MaxConcurrency"] == 1
    assert [item["Key"].rsplit("/", 1)[-1] for item in load["Items"]] == [
        "create_tables.sql",
        "load_daily_user_totals.sql",
        "load_user_profiles.sql",
    ]
    assert "Load Redshift" not in json.dumps(machines["logs"])


def test_a_finished_load_is_acknowledged_so_the_next_export_carries_over_only_what_never_loaded(machines) -> None:
    states = machines["transactions"]["States"]
    assert states["Load Redshift"]["Next"] == "Acknowledge Redshift load"
    acknowledge = states["Acknowledge Redshift load"]
    assert acknowledge["Next"] == "Register in Athena?" and acknowledge["Catch"] == launch._catch("Pipeline failed")
    bucket, prefix = launch.split_s3_uri(f"{ROOT}/warehouse/redshift")
    assert acknowledge["Items"] == [
        {"Bucket": bucket, "Key": f"{prefix}/loaded.json", "CopySource": f"{bucket}/{prefix}/export.json"}
    ]
    copy = acknowledge["ItemProcessor"]["States"]["Copy record"]
    assert copy["Resource"] == "arn:aws:states:::aws-sdk:s3:copyObject"
    assert (
        jsonata(copy["Arguments"]["CopySource"], {"input": acknowledge["Items"][0]}) == f"{bucket}/{prefix}/export.json"
    )


def test_missing_redshift_input_stops_before_a_cluster_starts(machines) -> None:
    condition = machines["transactions"]["States"]["Check input"]["Choices"][0]["Condition"]
    good = {"redshift": {"target": {"WorkgroupName": "analytics", "Database": "dev"}, "copyRoleArn": ROLE}}
    assert jsonata(condition, {"input": good}) is True
    assert jsonata(condition, {"input": {}}) is False
    assert jsonata(condition, {"input": {"redshift": {"target": {"Database": "dev"}}}}) is False


def _context(target: dict[str, str]) -> dict[str, Any]:
    return {"Execution": {"Input": {"redshift": {"target": target, "copyRoleArn": ROLE}}}}


def test_sql_file_becomes_data_api_statements_with_the_role_filled_in(machines) -> None:
    processor = machines["transactions"]["States"]["Load Redshift"]["ItemProcessor"]["States"]
    read = processor["Read SQL"]
    valid("s3", "GetObject", {"Bucket": "my-bucket", "Key": "spark-jobs/warehouse/redshift/create_tables.sql"})
    states = {"input": {"Bucket": "b", "Key": "k", "Name": "n"}, "result": {"Body": LOAD_SQL}}
    states["context"] = _context({"WorkgroupName": "analytics", "Database": "dev"})
    sqls = jsonata(read["Output"]["sqls"], states)
    assert sqls == [
        "CREATE TEMP TABLE daily_user_totals_stage (LIKE daily_user_totals)",
        "COPY daily_user_totals_stage\nFROM 's3://my-bucket/spark-jobs/warehouse/redshift/daily_user_totals.manifest'\n"
        f"IAM_ROLE '{ROLE}'\nFORMAT AS PARQUET\nMANIFEST",
        "DELETE FROM daily_user_totals WHERE transaction_date IN ('2026-11-01')",
        "INSERT INTO daily_user_totals SELECT * FROM daily_user_totals_stage",
        "DROP TABLE daily_user_totals_stage",
    ]
    one = jsonata(read["Output"]["sqls"], {**states, "result": {"Body": "CREATE TABLE IF NOT EXISTS t (x INT);\n"}})
    assert one == ["CREATE TABLE IF NOT EXISTS t (x INT)"]  # still a list: the Data API needs one


@pytest.mark.parametrize(
    "target",
    [
        {"WorkgroupName": "analytics", "Database": "dev"},
        {
            "ClusterIdentifier": "warehouse",
            "Database": "dev",
            "SecretArn": "arn:aws:secretsmanager:eu-west-1:1:secret:x",
        },
    ],
)
def test_data_api_request_is_valid_for_serverless_and_provisioned(machines, target: dict[str, str]) -> None:
    processor = machines["transactions"]["States"]["Load Redshift"]["ItemProcessor"]["States"]
    states = {"input": {"name": "transaction_etl-create_tables.sql", "sqls": ["SELECT 1"]}, "context": _context(target)}
    request = jsonata(processor["Run SQL"]["Arguments"], states)
    assert request == {**target, "Sqls": ["SELECT 1"], "StatementName": "transaction_etl-create_tables.sql"}
    valid("redshift-data", "BatchExecuteStatement", request)
    valid("redshift-data", "DescribeStatement", {"Id": "d9b6c0c9-0747-4bf4-b142-e8883122f766"})


@pytest.mark.parametrize(
    "status,next_state",
    [("FINISHED", "SQL finished"), ("FAILED", "SQL failed"), ("ABORTED", "SQL failed"), ("STARTED", None)],
)
def test_statement_status_decides_the_next_state(machines, status: str, next_state: str | None) -> None:
    choice = machines["transactions"]["States"]["Load Redshift"]["ItemProcessor"]["States"]["SQL done?"]
    matched = [c["Next"] for c in choice["Choices"] if jsonata(c["Condition"], {"input": {"Status": status}})]
    assert matched == ([next_state] if next_state else [])
    assert choice["Default"] == "Wait for SQL"


# ── the command line and the Airflow example ────────────────────────────────────────────


@pytest.mark.parametrize(
    "argv,message",
    [
        (["artifacts", "--bucket", "my-bucket"], "BUCKET must be an S3 URI like s3://my-bucket/prefix"),
        (["artifacts", "--bucket", "https://my-bucket/x"], "BUCKET must be an S3 URI"),
        (["artifacts", "--bucket", "s3://b-ok/x", "--release-label", "emr-6.15.0"], "EMR 7.x label"),
        (["submit", "--bucket", "s3://b-ok/x", "--cluster-id", "j-1", "--job", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_bad_arguments_end_with_one_line(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    try:
        code = emr_main([*argv, *(["--out", str(tmp_path)] if argv[0] == "artifacts" else [])])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


def test_artifacts_command_writes_the_present_pipelines(tmp_path: Path, capsys) -> None:
    assert emr_main(["artifacts", "--bucket", "s3://my-bucket/spark-jobs/", "--out", str(tmp_path / "emr")]) == 0
    present = registry.pipelines(registry.present())
    assert sorted(p.name for p in (tmp_path / "emr").iterdir()) == sorted(
        ["run-job-flow.json"] + [f"{kind}-{p}.json" for p in present for kind in ("steps", "state-machine")]
    )
    steps = json.loads((tmp_path / "emr" / "steps-logs.json").read_text())
    assert "s3://my-bucket/spark-jobs/input/logs/dt=${DATE}/" in steps[0]["Args"]  # trailing slash dropped


def test_airflow_example_compiles_and_reads_the_generated_documents() -> None:
    dag = package.ROOT / "examples" / "airflow_dag.py"
    py_compile.compile(str(dag), doraise=True)
    text = dag.read_text()
    for operator in ("EmrCreateJobFlowOperator", "EmrAddStepsOperator", "EmrStepSensor", "EmrTerminateJobFlowOperator"):
        assert operator in text
    assert "run-job-flow.json" in text and "steps-" in text


# ── Athena (optional, after the cluster) ────────────────────────────────────────────────


def test_athena_registration_is_optional_and_after_the_cluster(machines) -> None:
    for name, machine in machines.items():
        states = machine["States"]
        jobs = registry.pipelines(registry.JOBS)[name]
        last = states["Acknowledge Redshift load"] if "Load Redshift" in states else states["Terminate cluster"]
        assert last["Next"] == "Register in Athena?"
        choice = states["Register in Athena?"]
        assert choice["Default"] == "Pipeline succeeded"
        condition = choice["Choices"][0]["Condition"]
        assert jsonata(condition, {"context": {"Execution": {"Input": {"athena": {}}}}}) is True
        assert jsonata(condition, {"context": {"Execution": {"Input": {}}}}) is False
        register = states["Register in Athena"]
        assert [item["Key"] for item in register["Items"]] == [
            launch.split_s3_uri(f"{registry.output_root(job, ROOT)}/athena_ddl.sql")[1] for job in jobs
        ]
        assert register["MaxConcurrency"] == 1 and register["Catch"][0]["Next"] == "Pipeline failed"


def test_ddl_file_becomes_athena_queries(machines) -> None:
    from common.athena import ddl, split_statements
    from schemas.logs import USER_ACTIVITY
    from schemas.quarantine import QUARANTINE

    processor = machines["logs"]["States"]["Register in Athena"]["ItemProcessor"]["States"]
    valid("s3", "GetObject", {"Bucket": "my-bucket", "Key": "spark-jobs/output/log_analytics/athena_ddl.sql"})
    schemas = {"user_activity": USER_ACTIVITY, "quarantine": QUARANTINE}
    tables = {name: {"path": f"{ROOT}/output/log_analytics/{name}", "format": "parquet"} for name in schemas}
    text = ddl("log_analytics", tables, schemas)
    statements = jsonata(processor["Read DDL"]["Output"]["statements"], {"result": {"Body": text}})
    assert statements == split_statements(text) and len(statements) == 1 + 2 * len(schemas)
    run = processor["Run DDL"]
    assert run["Items"] == "{% $states.input.statements %}" and run["MaxConcurrency"] == 1
    task = run["ItemProcessor"]["States"]["Run statement"]
    assert task["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    for given, expected in (
        ({}, {"WorkGroup": "primary"}),
        ({"workGroup": "analytics"}, {"WorkGroup": "analytics"}),
        (
            {"outputLocation": "s3://my-bucket/athena-results/"},
            {"WorkGroup": "primary", "ResultConfiguration": {"OutputLocation": "s3://my-bucket/athena-results/"}},
        ),
    ):
        context = {"Execution": {"Input": {"athena": given}}}
        request = jsonata(task["Arguments"], {"input": statements[1], "context": context})
        assert request == {"QueryString": statements[1], **expected}
        valid("athena", "StartQueryExecution", request)


# ── dated runs: the processing day from the execution input ─────────────────────────────


def resolve_date(machine: dict[str, Any], execution_input: dict[str, Any], started: str) -> str:
    """The `$date` the machine's first state assigns, evaluated with the JSONata engine."""
    first = machine["States"][machine["StartAt"]]
    assert machine["StartAt"] == "Resolve date" and first["Type"] == "Pass"
    context = {"Execution": {"Input": execution_input, "StartTime": started}}
    return jsonata(first["Assign"]["date"], {"input": execution_input, "context": context})


def dated_args(machine: dict[str, Any], job: str, day: str, accept: list[str] | None = None) -> list[str]:
    """The spark-submit arguments of a job's step for processing day `day` (and the gates the
    execution accepts), evaluated with the JSONata engine."""
    args = machine["States"][f"Run {job}"]["Arguments"]["Step"]["HadoopJarStep"]["Args"]
    assert isinstance(args, str) and args.startswith("{%")
    return jsonata(args, {}, date=day, acceptGates=accept or [])


def option(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize(
    ("execution_input", "started", "day"),
    [
        ({"date": "2026-11-30"}, "2026-12-07T02:30:00.123Z", "2026-11-30"),
        ({"scheduledTime": "2026-12-07T02:30:00Z"}, "2026-12-07T02:31:05.456Z", "2026-12-06"),
        ({"scheduledTime": "2027-01-01T00:00:00Z"}, "2027-01-01T00:00:01Z", "2026-12-31"),
        ({}, "2026-03-01T05:00:00.000Z", "2026-02-28"),
    ],
)
def test_the_processing_day_comes_from_the_input_else_the_day_before_the_schedule(
    machines, execution_input: dict[str, Any], started: str, day: str
) -> None:
    for machine in machines.values():
        assert resolve_date(machine, execution_input, started) == day


def test_two_executions_for_two_days_give_two_inputs_and_batch_ids(machines) -> None:
    seen = {}
    for day in ("2026-12-05", "2026-12-06"):
        resolved = resolve_date(machines["transactions"], {"date": day}, "2026-12-07T03:00:00Z")
        etl = dated_args(machines["transactions"], "transaction_etl", resolved)
        logs = dated_args(machines["logs"], "log_analytics", resolve_date(machines["logs"], {"date": day}, "x"))
        assert option(etl, "--transactions") == f"{ROOT}/input/transactions/dt={day}/"
        assert option(etl, "--batch-id") == option(etl, "--date") == day
        assert option(etl, "--profiles") == f"{ROOT}/input/profiles"  # a snapshot, not daily
        assert option(logs, "--input") == f"{ROOT}/input/logs/dt={day}/" and option(logs, "--date") == day
        seen[day] = (option(etl, "--transactions"), option(etl, "--batch-id"), option(logs, "--input"))
    first, second = seen.values()
    assert all(a != b for a, b in zip(first, second, strict=True))
    # what a job receives is what `make submit DATE=` sends for that day
    job = registry.find("transaction_etl")
    assert etl[etl.index("--transactions") :] == list(job.render_dated(ROOT, "2026-12-06"))


def test_jobs_without_daily_input_keep_their_arguments(machines) -> None:
    for job in registry.JOBS:
        if not job.dated:
            args = machines[job.pipeline]["States"][f"Run {job.name}"]["Arguments"]["Step"]["HadoopJarStep"]["Args"]
            assert not any("{%" in arg or "dt=" in arg for arg in args)
    assert {job.name for job in registry.JOBS if job.daily} == {"log_analytics", "transaction_etl"}


@pytest.mark.parametrize(
    ("day", "valid"),
    [("2026-12-06", True), ("2024-02-29", True), ("2026-02-30", False), ("06/12/2026", False), ("2026-1-5", False)],
)
def test_a_date_that_is_not_a_calendar_day_fails_before_anything_starts(machines, day: str, valid: bool) -> None:
    for machine in machines.values():
        check = machine["States"]["Check date"]
        assert machine["States"]["Resolve date"]["Next"] == "Check date"
        assert jsonata(check["Choices"][0]["Condition"], {}, date=day) is valid
        assert machine["States"][check["Default"]]["Type"] == "Fail"
        assert day in jsonata(machine["States"]["Invalid date"]["Cause"], {}, date=day)


# ── alarms and failure notifications ─────────────────────────────────────────────────────

TOPIC = "arn:aws:sns:eu-west-1:123456789012:data-alerts"


@pytest.fixture(scope="module")
def notifying(deployment: launch.Deployment, spec: launch.ClusterSpec) -> dict[str, Any]:
    return launch.documents(registry.JOBS, deployment, spec, load_configurations(), TOPIC)


@mock_aws
def test_alarms_are_valid_put_metric_alarm_requests_on_the_metrics_line(notifying) -> None:
    alarms = notifying["alarms.json"]
    names = {alarm["AlarmName"] for alarm in alarms}
    for job in registry.JOBS:
        # by the name the metrics line carries: maintain_log_tables reports as maintain_tables
        name = job.reports_as
        assert {f"spark-jobs-{name}-failed", f"spark-jobs-{name}-gate-tripped"} <= names
        dated = any(j.dated for j in registry.JOBS if j.reports_as == name)
        assert (f"spark-jobs-{name}-no-success" in names) == dated
        assert all(a["Dimensions"] == [{"Name": "job", "Value": a["AlarmName"].split("-")[2]}] for a in alarms)
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    for alarm in alarms:
        assert shapes.problems("cloudwatch", "PutMetricAlarm", alarm) == []
        assert alarm["Namespace"] == "SparkJobs" and alarm["AlarmActions"] == [TOPIC]
        assert alarm["MetricName"] in {"RunSucceeded", "GateTripped"}  # what common/emf.py emits
        cloudwatch.put_metric_alarm(**alarm)
    stored = cloudwatch.describe_alarms()["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in stored) == sorted(names)


def test_a_failed_pipeline_notifies_the_topic_before_it_fails(notifying, tmp_path: Path, asl_validator: Path) -> None:
    for name, machine in notifying.items():
        if not name.startswith("state-machine-"):
            continue
        states = machine["States"]
        notify = states["Notify failure"]
        assert notify["Resource"] == "arn:aws:states:::sns:publish" and notify["Next"] == "Pipeline failed"
        assert notify["Arguments"]["TopicArn"] == TOPIC
        into_failed = [n for n, s in states.items() if s.get("Next") == "Pipeline failed"]
        into_failed += [n for n, s in states.items() for c in s.get("Catch", ()) if c["Next"] == "Pipeline failed"]
        gated = any(job.dated for job in registry.pipelines(registry.JOBS)[name[14:-5]])
        assert set(into_failed) == ({"Notify failure", "Notify gate"} if gated else {"Notify failure"})
        failure = {"Error": "States.TaskFailed", "Cause": "Step s-1 FAILED"}
        message = jsonata(notify["Arguments"]["Message"], {}, date="2026-12-06", failure=failure)
        assert message.startswith(f"spark-jobs {name[14:-5]} pipeline failed for 2026-12-06: States.TaskFailed: Step")
        (tmp_path / name).write_text(json.dumps(machine))
    paths = [item for p in sorted(tmp_path.iterdir()) for item in ("--json-path", str(p))]
    result = subprocess.run([str(asl_validator), *paths], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("is valid") == len(paths) // 2


def test_artifacts_write_alarms_only_with_a_topic(tmp_path: Path, capsys) -> None:
    argv = ["artifacts", "--bucket", ROOT, "--out", str(tmp_path / "emr")]
    assert emr_main([*argv, "--alarm-topic-arn", TOPIC]) == 0
    assert (tmp_path / "emr" / "alarms.json").exists()
    capsys.readouterr()
    assert emr_main([*argv, "--alarm-topic-arn", "data-alerts"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emr: error: the alarm topic must be an SNS topic ARN") and err.count("\n") == 1
    assert emr_main(argv) == 0
    assert not (tmp_path / "emr" / "alarms.json").exists()
    assert "no alarms and no failure notifications: give ALARM_TOPIC_ARN" in capsys.readouterr().err


def test_releases_before_7_11_keep_logs_on_s3_only(deployment) -> None:
    cluster = _cluster(deployment, release_label="emr-7.10.0")
    assert cluster["Applications"] == [{"Name": "Spark"}] and "MonitoringConfiguration" not in cluster
    assert shapes.problems("emr", "RunJobFlow", _cluster(deployment)) == []


# ── Delta's DynamoDB log store (opt-in) ─────────────────────────────────────────────────


@mock_aws
def test_log_store_opt_in_configures_both_targets_and_its_table(tmp_path: Path) -> None:
    argv = ["artifacts", "--bucket", ROOT, "--out", str(tmp_path / "emr")]
    argv += ["--delta-log-store-table", "delta_log", "--delta-log-store-region", "eu-west-1"]
    argv += ["--serverless-role-arn", "arn:aws:iam::123456789012:role/spark-jobs-serverless"]
    argv += ["--serverless-image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/spark-jobs:1"]
    assert emr_main(argv) == 0
    out = tmp_path / "emr"
    cluster = json.loads((out / "run-job-flow.json").read_text())
    [defaults] = [c["Properties"] for c in cluster["Configurations"] if c["Classification"] == "spark-defaults"]
    assert (
        defaults["spark.delta.logStore.s3.impl"]
        == defaults["spark.delta.logStore.s3a.impl"]
        == ("io.delta.storage.S3DynamoDBLogStore")
    )
    assert defaults["spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName"] == "delta_log"
    assert defaults["spark.io.delta.storage.S3DynamoDBLogStore.ddb.region"] == "eu-west-1"
    assert defaults["spark.jars"] == "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar"
    run = json.loads((out / "serverless" / "start-job-run-transaction_etl.json").read_text())
    props = run["configurationOverrides"]["applicationConfiguration"][0]["properties"]
    assert props["spark.jars"].split(",") == [
        "/usr/share/aws/delta/lib/delta-spark.jar",
        "/usr/share/aws/delta/lib/delta-storage.jar",
        "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar",
    ]
    assert props["spark.delta.logStore.s3.impl"] == "io.delta.storage.S3DynamoDBLogStore"
    # the table Delta claims commits in, as S3DynamoDBLogStore expects it, accepted by moto
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    dynamodb.create_table(**json.loads((out / "log-store-table.json").read_text()))
    dynamodb.update_time_to_live(**json.loads((out / "log-store-ttl.json").read_text()))
    table = dynamodb.describe_table(TableName="delta_log")["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("tablePath", "HASH"),
        ("fileName", "RANGE"),
    ]
    ttl = dynamodb.describe_time_to_live(TableName="delta_log")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expireTime" and ttl["TimeToLiveStatus"] == "ENABLED"


def test_without_the_log_store_nothing_changes_and_half_a_setting_is_one_line(tmp_path: Path, capsys) -> None:
    argv = ["artifacts", "--bucket", ROOT, "--out", str(tmp_path / "emr")]
    assert emr_main(argv) == 0
    assert "logStore" not in (tmp_path / "emr" / "run-job-flow.json").read_text()
    assert not (tmp_path / "emr" / "log-store-table.json").exists()
    capsys.readouterr()
    assert emr_main([*argv, "--delta-log-store-table", "delta_log"]) == 2
    assert capsys.readouterr().err == (
        "emr: error: the Delta log store needs both DELTA_LOG_STORE_TABLE and DELTA_LOG_STORE_REGION\n"
    )


@pytest.mark.parametrize(
    ("execution_input", "added"),
    [
        ({}, []),
        ({"acceptGates": "volume"}, ["--accept-gate", "volume"]),
        (
            {"acceptGates": ["volume", "quarantine_rate"]},
            ["--accept-gate", "volume", "--accept-gate", "quarantine_rate"],
        ),
    ],
)
def test_accept_gates_in_the_execution_input_reach_the_gated_jobs(
    machines, execution_input: dict[str, Any], added: list[str]
) -> None:
    resolve = machines["transactions"]["States"]["Resolve date"]["Assign"]
    accepted = jsonata(resolve["acceptGates"], {"input": execution_input})
    assert accepted == added
    args = dated_args(machines["transactions"], "transaction_etl", "2026-12-06", accepted)
    job = registry.find("transaction_etl")
    assert args[args.index("--transactions") :] == [*job.render_dated(ROOT, "2026-12-06"), *added]


def test_a_gate_tripped_on_the_day_is_what_the_notification_says(notifying) -> None:
    states = notifying["state-machine-transactions.json"]["States"]
    assert states["Terminate cluster after failure"]["Next"] == "Read gate"
    read = states["Read gate"]
    assert read["Arguments"] == {"Bucket": "my-bucket", "Key": "spark-jobs/warehouse/gate.json"}
    gate = {
        "job": "transaction_etl",
        "status": "gate_tripped",
        "date": "2026-12-06",
        "error": "quality gate volume tripped: 18 rows read, 0.45 times the median 40 of the last 7 days",
    }
    read_output = jsonata(read["Output"]["gate"], {"result": {"Body": json.dumps(gate)}})
    assert read_output == gate
    condition = states["Gate tripped today?"]["Choices"][0]["Condition"]
    assert jsonata(condition, {"input": {"gate": gate}}, date="2026-12-06") is True
    assert jsonata(condition, {"input": {"gate": gate}}, date="2026-12-07") is False  # an older day's gate.json
    message = jsonata(states["Notify gate"]["Arguments"]["Message"], {"input": {"gate": gate}}, date="2026-12-06")
    assert message.startswith("transaction_etl stopped for 2026-12-06: quality gate volume tripped: 18 rows read")
    assert "s3://my-bucket/spark-jobs/warehouse/gate.json" in message
    assert read["Catch"][0]["Next"] == "Notify failure"  # no gate.json: the job's own failure
    assert "Read gate" not in notifying["state-machine-segmentation.json"]["States"]
