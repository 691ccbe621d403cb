"""Run one pipeline of the same artifact from Apache Airflow (Amazon provider's EMR operators).

Setup, once per release:
    make deploy BUCKET=s3://my-bucket/spark-jobs
    make emr-artifacts BUCKET=s3://my-bucket/spark-jobs
    cp -r dist/emr "$AIRFLOW_HOME/dags/spark_jobs_emr"     # next to this file

The DAG reads the generated documents, so Airflow runs exactly what Step Functions and
`make submit DATE=...` run, for the run's processing day: the documents hold `${DATE}` where a
daily job's day goes (its input prefix `dt=YYYY-MM-DD/`, its batch id), filled with Airflow's
`{{ ds }}` (the day before the run's logical time, as the state machines default to). A backfill
is `airflow dags backfill -s 2026-11-01 -e 2026-11-07 spark_jobs_logs`: max_active_runs=1
keeps the days from overlapping. The steps: create the cluster, one step per job in registry order (each watched by a
sensor), terminate the cluster whatever happened, and fail the run if any job failed.
Needs apache-airflow-providers-amazon and an `aws_default` connection allowed to run EMR.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow import DAG
from airflow.decorators import task
from airflow.exceptions import AirflowException
from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.utils.trigger_rule import TriggerRule

DOCUMENTS = Path(__file__).parent / "spark_jobs_emr"
PIPELINE = "logs"
DATE_PLACEHOLDER = "${DATE}"  # tools/emr/launch.py


def load(name: str) -> Any:
    return json.loads((DOCUMENTS / name).read_text())


def step_config(cli_step: dict[str, Any]) -> dict[str, Any]:
    """steps-<pipeline>.json is in `aws emr add-steps` form; the API wants a StepConfig. The
    processing day becomes `{{ ds }}`, which the operator renders (`steps` is a templated field)."""
    args = [arg.replace(DATE_PLACEHOLDER, "{{ ds }}") for arg in cli_step["Args"]]
    return {
        "Name": cli_step["Name"],
        "ActionOnFailure": cli_step["ActionOnFailure"],
        "HadoopJarStep": {"Jar": cli_step["Jar"], "Args": args},
    }


with DAG(
    dag_id=f"spark_jobs_{PIPELINE}",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,  # a backfill is asked for explicitly (see above)
    max_active_runs=1,
    tags=["spark-jobs", "emr"],
) as dag:
    cluster = EmrCreateJobFlowOperator(
        task_id="create_cluster",
        job_flow_overrides=load("run-job-flow.json"),
        emr_conn_id=None,  # the document is complete; no connection extras merged in
    )
    previous = cluster
    for cli_step in load(f"steps-{PIPELINE}.json"):
        name = cli_step["Name"]
        add = EmrAddStepsOperator(
            task_id=f"add_{name}",
            job_flow_id=cluster.output,
            steps=[step_config(cli_step)],
        )
        wait = EmrStepSensor(
            task_id=f"wait_{name}",
            job_flow_id=cluster.output,
            step_id=f"{{{{ task_instance.xcom_pull(task_ids='add_{name}')[0] }}}}",
            poke_interval=60,
        )
        previous >> add >> wait
        previous = wait

    terminate = EmrTerminateJobFlowOperator(
        task_id="terminate_cluster",
        job_flow_id=cluster.output,
        trigger_rule=TriggerRule.ALL_DONE,  # also after a failed job
    )
    previous >> terminate

    @task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
    def fail_if_a_job_failed() -> None:
        # terminate_cluster succeeds either way; without this the run would look green.
        raise AirflowException("a job failed: see the failed wait_* task and the step logs under LogUri")

    [*dag.tasks] >> fail_if_a_job_failed()
