"""The one place that says which jobs exist, how EMR runs them and in which pipeline.

Adding a job is adding one `Job` here: the artifact (`tools/package.py`), the EMR steps, the
Step Functions state machines, `make submit` and the tests all read this list. The tests
fail when a file in `jobs/` has no entry, so the list cannot silently fall behind.

Arguments are templates: `{root}` is the deployment root given as BUCKET (for example
`s3://my-bucket/spark-jobs`), so one registry serves every bucket and environment.
Data layout under the root (the README documents it for the people who load the inputs):

    {root}/input/<dataset>/...      inputs the jobs read
    {root}/output/<job>/...         outputs of the analytics jobs
    {root}/warehouse/...            the transaction ETL's Delta tables and Redshift export
    {root}/models/<job>/...         trained models
    {root}/artifacts/<version>/...  what `make deploy` uploads
    {root}/logs/emr/                cluster and step logs
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = ROOT / "jobs"


@dataclass(frozen=True)
class Job:
    """How to run one job on EMR.

    name: the job's name, also the step name and `make submit JOB=<name>`.
    module: the entrypoint module; `jobs.x` ships as `entrypoints/x.py`.
    pipeline / order: the pipeline it runs in, and its position there (1 runs first).
    arguments: its command-line arguments, templated with `{root}`.
    spark_conf: per-job `--conf` settings on top of the cluster's spark-defaults.
    redshift_sql: SQL files (templated URIs) the job writes for Redshift; the pipeline's
        state machine runs them, in this order, with the Redshift Data API after the job.
    """

    name: str
    module: str
    pipeline: str
    order: int
    arguments: tuple[str, ...]
    description: str
    spark_conf: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    redshift_sql: tuple[str, ...] = ()

    @property
    def entrypoint(self) -> str:
        """The script name spark-submit runs (a copy of the module's file)."""
        return self.module.rsplit(".", 1)[-1] + ".py"

    @property
    def source(self) -> Path:
        return ROOT / Path(*self.module.split(".")).with_suffix(".py")

    def render(self, root: str) -> tuple[str, ...]:
        """The arguments for one deployment root."""
        return tuple(argument.format(root=root) for argument in self.arguments)

    def render_redshift_sql(self, root: str) -> tuple[str, ...]:
        return tuple(uri.format(root=root) for uri in self.redshift_sql)


JOBS: tuple[Job, ...] = (
    Job(
        name="log_analytics",
        module="jobs.log_analytics",
        pipeline="logs",
        order=1,
        arguments=("--input", "{root}/input/logs", "--output", "{root}/output/log_analytics"),
        description="Web/app logs to user activity, error patterns, activity windows and anomalies.",
    ),
    Job(
        name="transaction_etl",
        module="jobs.transaction_etl",
        pipeline="transactions",
        order=1,
        arguments=(
            "--transactions",
            "{root}/input/transactions",
            "--profiles",
            "{root}/input/profiles",
            "--warehouse",
            "{root}/warehouse",
        ),
        description="Transactions and profiles MERGEd into Delta tables, exported for Redshift.",
        # The job writes its Redshift export and the SQL that loads it under
        # <warehouse>/redshift/: the DDL first, then one idempotent load per table.
        redshift_sql=(
            "{root}/warehouse/redshift/create_tables.sql",
            "{root}/warehouse/redshift/load_daily_user_totals.sql",
            "{root}/warehouse/redshift/load_user_profiles.sql",
        ),
    ),
    Job(
        name="maintain_tables",
        module="jobs.maintain_tables",
        pipeline="transactions",
        order=2,
        # Runs after every ETL batch and works every 7th (it counts the batches in the
        # transactions table since its last run), so the schedule lives with the data, not in
        # the state machine. VACUUM keeps 7 days of versions (the tables' time travel window).
        arguments=("--warehouse", "{root}/warehouse", "--every-batches", "7", "--retain-hours", "168"),
        description="Warehouse maintenance: OPTIMIZE small files per date, VACUUM past the retention.",
    ),
    Job(
        name="customer_segmentation",
        module="jobs.customer_segmentation",
        pipeline="segmentation",
        order=1,
        arguments=(
            "--input",
            "{root}/input/customers",
            "--output",
            "{root}/models/customer_segmentation",
            "--k-range",
            "2-8",
            "--seed",
            "42",
        ),
        description="KMeans customer segments: trains each k in the range, keeps the best silhouette.",
    ),
    Job(
        name="segment_customers",
        module="jobs.segment_customers",
        pipeline="segmentation",
        order=2,
        arguments=(
            "--model",
            "{root}/models/customer_segmentation/model",
            "--input",
            "{root}/input/customers",
            "--output",
            "{root}/output/customer_segments",
        ),
        description="Batch scoring: assigns every customer the segment of the trained model.",
    ),
)


def present(jobs: Iterable[Job] = JOBS) -> tuple[Job, ...]:
    """The registered jobs whose module exists in this checkout."""
    return tuple(job for job in jobs if job.source.exists())


def missing(jobs: Iterable[Job] = JOBS) -> tuple[Job, ...]:
    """Registered jobs whose module is not in this checkout (e.g. not merged yet)."""
    return tuple(job for job in jobs if not job.source.exists())


def unregistered(jobs: Iterable[Job] = JOBS, jobs_dir: Path = JOBS_DIR) -> list[str]:
    """Job files in jobs/ that no entry names: each must be registered to be shipped."""
    modules = {job.module for job in jobs}
    files = sorted(p.stem for p in jobs_dir.glob("[!_]*.py"))
    return [name for name in files if f"jobs.{name}" not in modules]


def pipelines(jobs: Iterable[Job]) -> dict[str, list[Job]]:
    """Jobs grouped by pipeline, in run order; pipelines sorted by name."""
    grouped: dict[str, list[Job]] = {}
    for job in jobs:
        grouped.setdefault(job.pipeline, []).append(job)
    return {name: sorted(grouped[name], key=lambda j: j.order) for name in sorted(grouped)}


def find(name: str, jobs: Iterable[Job] = JOBS) -> Job:
    """The job called `name`, or a KeyError listing the names there are."""
    jobs = tuple(jobs)
    for job in jobs:
        if job.name == name:
            return job
    raise KeyError(f"unknown job {name!r}: one of {', '.join(sorted(j.name for j in jobs))}")
