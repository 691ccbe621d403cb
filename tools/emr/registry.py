"""The one place that says which jobs exist, how to run each on which inputs, and in which
pipeline.

Adding a job is adding one `Job` here: the artifact (`tools/package.py`), the EMR steps, the
Step Functions state machines, `make submit`, `make run` (tools/demo.py) and its S3 twin
(tools/local_s3.py), the benchmark and the end-to-end tests all derive their invocations from
this list. The tests fail when a file in `jobs/` has no entry, so the list cannot silently
fall behind.

Paths are templates: `{root}` is a data root, the deployment root given as BUCKET on EMR (for
example `s3://my-bucket/spark-jobs`) or a local folder (`make run` uses data/), so one registry
serves every bucket, environment and laptop. Data layout under the root (docs/emr-on-ec2.md documents
it for the people who load the inputs):

    {root}/input/<dataset>/...      inputs the jobs read (logs, transactions, profiles,
                                    customers, new_customers)
    {root}/input/<dataset>/dt=YYYY-MM-DD/
                                    one day of a dataset that arrives daily (logs,
                                    transactions): a dated run reads only its day's prefix
    {root}/output/<job>/...         outputs of the analytics jobs
    {root}/warehouse/...            the transaction ETL's Delta tables and Redshift export
    {root}/models/<job>/...         trained models
    {root}/artifacts/<version>/...  what `make deploy` uploads
    {root}/logs/emr/                cluster and step logs
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

# Where one day of a daily dataset lands under its input path: Hive-style, so Athena and Spark
# can also read the whole dataset partitioned by `dt`.
DAY_LAYOUT = "dt={date}/"


def day_prefix(path: str, day: str) -> str:
    """The prefix holding processing day `day` (an ISO date, or a placeholder) of a daily input."""
    return f"{path.rstrip('/')}/{DAY_LAYOUT.format(date=day)}"


ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = ROOT / "jobs"


@dataclass(frozen=True)
class Job:
    """How to run one job.

    name: the job's name, also the step name and `make submit JOB=<name>`.
    module: the entrypoint module; `jobs.x` ships as `entrypoints/x.py`.
    pipeline / order: the pipeline it runs in, and its position there (1 runs first).
    inputs: (flag, path template) of every input it reads, in order.
    output: (flag, path template) of the root it writes (tables, report).
    options: its other arguments, as production runs it.
    spark_conf: per-job `--conf` settings on top of the cluster's spark-defaults.
    redshift_sql: SQL files (templated URIs) the job writes for Redshift; the pipeline's
        state machine runs them, in this order, with the Redshift Data API after the job.
    redshift_loaded: (the export's record, its acknowledgement), templated URIs: once every SQL
        file ran, the state machine copies the first to the second, so the job's next export
        knows the last one reached Redshift (else it carries its dates over).
    idempotent: a rerun with the same arguments gives the same outputs (it replaces them), so
        the orchestrators retry it once after a failure (a lost Spot node, an S3 hiccup) and
        EMR Serverless gets a retry policy. Say False for a job that appends or sends.
    daily: input flags whose data arrives daily: a dated run reads only that day's prefix
        (`DAY_LAYOUT` under the input's path).
    dated_options: options a dated run adds, templated with `{date}` (the processing day): the
        day itself and, where the job has one, the batch id derived from it.
    """

    name: str
    module: str
    pipeline: str
    order: int
    inputs: tuple[tuple[str, str], ...]
    output: tuple[str, str]
    description: str
    options: tuple[str, ...] = ()
    spark_conf: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    redshift_sql: tuple[str, ...] = ()
    redshift_loaded: tuple[str, str] | tuple[()] = ()
    idempotent: bool = True
    daily: tuple[str, ...] = ()
    dated_options: tuple[str, ...] = ()

    @property
    def entrypoint(self) -> str:
        """The script name spark-submit runs (a copy of the module's file)."""
        return self.module.rsplit(".", 1)[-1] + ".py"

    @property
    def reports_as(self) -> str:
        """The name its run report and metrics line carry (the module's `JOB`): two entries of
        one module (maintain_tables in two pipelines) report as one job."""
        return self.module.rsplit(".", 1)[-1]

    @property
    def source(self) -> Path:
        return ROOT / Path(*self.module.split(".")).with_suffix(".py")

    @property
    def arguments(self) -> tuple[str, ...]:
        """Its command-line arguments, templated with `{root}`."""
        paths = (*self.inputs, self.output)
        return (*(text for flag, path in paths for text in (flag, path)), *self.options)

    def render(self, root: str) -> tuple[str, ...]:
        """The arguments for one data root."""
        return tuple(argument.format(root=root) for argument in self.arguments)

    @property
    def dated(self) -> bool:
        """Whether the pipelines pass this job a processing date."""
        return bool(self.daily or self.dated_options)

    def render_dated(self, root: str, day: str) -> tuple[str, ...]:
        """The arguments of the run for processing day `day` (an ISO date, or a placeholder the
        orchestrator fills in): each daily input read from its day's prefix, plus the dated
        options; a job that is not dated runs as `render` says."""
        inputs = tuple(
            (flag, day_prefix(path.format(root=root), day) if flag in self.daily else path.format(root=root))
            for flag, path in self.inputs
        )
        paths = (*inputs, (self.output[0], self.output[1].format(root=root)))
        options = tuple(option.format(root=root) for option in self.options)
        dated = tuple(option.replace("{date}", day) for option in self.dated_options)
        return (*(text for flag, path in paths for text in (flag, path)), *options, *dated)

    def invocation(
        self,
        *,
        inputs: Mapping[str, str] | None = None,
        output: str | None = None,
        options: Sequence[str] | None = None,
        root: str | None = None,
    ) -> list[str]:
        """The arguments for a run on other data: `inputs` binds input flags to paths (only
        those are passed: an optional input left out is not read), `output` the output root,
        `options` replaces the production options; whatever is not bound comes from the layout
        under `root`. A flag the job does not take is refused, so a caller cannot drift from
        the job's real command line."""
        flags = {flag for flag, _ in self.inputs}
        unknown = sorted(set(inputs or {}) - flags)
        if unknown:
            raise KeyError(
                f"{self.name} takes no input {', '.join(unknown)}: its inputs are {', '.join(sorted(flags))}"
            )
        if (inputs is None or output is None) and root is None:
            raise ValueError(f"{self.name}: give a root for the paths not bound")
        bound = inputs if inputs is not None else {flag: path.format(root=root) for flag, path in self.inputs}
        out_flag, out_path = self.output
        return [
            *(text for flag, _ in self.inputs if flag in bound for text in (flag, str(bound[flag]))),
            out_flag,
            str(output) if output is not None else out_path.format(root=root),
            *(self.options if options is None else options),
        ]

    def render_redshift_sql(self, root: str) -> tuple[str, ...]:
        return tuple(uri.format(root=root) for uri in self.redshift_sql)

    def render_redshift_loaded(self, root: str) -> tuple[str, ...]:
        return tuple(uri.format(root=root) for uri in self.redshift_loaded)


JOBS: tuple[Job, ...] = (
    Job(
        name="log_analytics",
        module="jobs.log_analytics",
        pipeline="logs",
        order=1,
        inputs=(("--input", "{root}/input/logs"),),
        output=("--output", "{root}/output/log_analytics"),
        daily=("--input",),
        dated_options=("--date", "{date}"),
        description="Web/app logs to user activity, error patterns, activity windows and anomalies.",
    ),
    Job(
        name="transaction_etl",
        module="jobs.transaction_etl",
        pipeline="transactions",
        order=1,
        inputs=(("--transactions", "{root}/input/transactions"), ("--profiles", "{root}/input/profiles")),
        output=("--warehouse", "{root}/warehouse"),
        # Transactions arrive daily; profiles are a full snapshot the MERGE upserts every run.
        # The batch id is the day, so a rerun of a day replaces that day's quarantine rows and
        # silver's batch_id says which day a row came with.
        daily=("--transactions",),
        dated_options=("--date", "{date}", "--batch-id", "{date}"),
        description="Transactions and profiles MERGEd into Delta tables, exported for Redshift.",
        # The job writes its Redshift export and the SQL that loads it under
        # <warehouse>/redshift/: the DDL first, then one idempotent load per table.
        redshift_sql=(
            "{root}/warehouse/redshift/create_tables.sql",
            "{root}/warehouse/redshift/load_daily_user_totals.sql",
            "{root}/warehouse/redshift/load_user_profiles.sql",
        ),
        # After every SQL file ran, the pipeline copies the export's record (what it holds) to
        # the acknowledgement the next run reads: an export never acknowledged is carried over.
        redshift_loaded=("{root}/warehouse/redshift/export.json", "{root}/warehouse/redshift/loaded.json"),
    ),
    Job(
        name="maintain_tables",
        module="jobs.maintain_tables",
        pipeline="transactions",
        order=2,
        # Runs after every ETL batch and works every 7th (it counts the batches in the
        # transactions table since its last run), so the schedule lives with the data, not in
        # the state machine. VACUUM keeps 7 days of versions (the tables' time travel window).
        # It rewrites the warehouse's files in place (same rows); its report has a root of its own.
        inputs=(("--warehouse", "{root}/warehouse"),),
        output=("--output", "{root}/output/maintain_tables"),
        options=("--every-batches", "7", "--retain-hours", "168"),
        description="Warehouse maintenance: OPTIMIZE small files per date, VACUUM past the retention.",
    ),
    Job(
        name="maintain_log_tables",
        module="jobs.maintain_tables",
        pipeline="logs",
        order=2,
        # The same job over the log warehouse (found from what the root holds): after every daily
        # log_analytics run, working every 7th (batches counted in events' history); its
        # commits leave the aggregates as they are. Its report has a root of its own.
        inputs=(("--warehouse", "{root}/output/log_analytics"),),
        output=("--output", "{root}/output/maintain_log_tables"),
        options=("--every-batches", "7", "--retain-hours", "168"),
        description="Log warehouse maintenance: OPTIMIZE small files of events per date, VACUUM past the retention.",
    ),
    Job(
        name="customer_segmentation",
        module="jobs.customer_segmentation",
        pipeline="segmentation",
        order=1,
        # Demographics from the customer files, behaviour from the transaction ETL's warehouse.
        inputs=(("--input", "{root}/input/customers"), ("--warehouse", "{root}/warehouse")),
        output=("--output", "{root}/models/customer_segmentation"),
        options=("--k-range", "2-8", "--seed", "42"),
        description="KMeans customer segments: trains each k in the range, keeps the best silhouette.",
    ),
    Job(
        name="segment_customers",
        module="jobs.segment_customers",
        pipeline="segmentation",
        order=2,
        inputs=(
            ("--model", "{root}/models/customer_segmentation/model"),
            ("--input", "{root}/input/new_customers"),
            ("--warehouse", "{root}/warehouse"),
        ),
        output=("--output", "{root}/output/customer_segments"),
        description="Batch scoring: assigns each new customer the segment of the trained model.",
    ),
)


# The dashboard builder is no pipeline's job: each pipeline's state machine runs it after every
# job, over that job's output root (tools/emr/launch.py), and it ships beside the jobs.
DASHBOARD = Job(
    name="build_dashboard",
    module="jobs.build_dashboard",
    pipeline="",
    order=0,
    inputs=(),
    output=("--output", "{root}"),
    description="dashboard.html, a self-contained page of charts, beside a finished run's report.",
)


# Jobs run on demand, by an operator, never by a pipeline: no state machine, EMR step list or
# `make run` includes them (those derive from JOBS); they ship in the artifact like the others.
ON_DEMAND: tuple[Job, ...] = (
    Job(
        name="erase_users",
        module="jobs.erase_users",
        pipeline="",
        order=0,
        inputs=(),
        # One root per run: the warehouse here; the log root ({root}/output/log_analytics) is erased
        # by a second run with the same ids (docs/jobs/erase_users.md).
        output=("--root", "{root}/warehouse"),
        options=("--user-ids-file", "{root}/input/erasure_requests/user_ids.txt"),
        idempotent=True,
        description="Erasure on request: a user's rows deleted from a root, its aggregates recomputed.",
    ),
)


def output_root(job: Job, root: str) -> str:
    """Where `job` writes its run report (and its dashboard and Athena DDL) under a data root."""
    return job.output[1].format(root=root)


def shipped(jobs: Iterable[Job] = JOBS) -> tuple[Job, ...]:
    """What the artifact carries an entrypoint for: the present jobs and the dashboard builder,
    one per module (a module registered in two pipelines ships once)."""
    modules: dict[str, Job] = {}
    for job in (*present(jobs), *present((DASHBOARD, *ON_DEMAND))):
        modules.setdefault(job.module, job)
    return tuple(modules.values())


def _reads_from(reader: Iterable[Job], writer: Iterable[Job]) -> bool:
    """Whether a job of `reader` takes an input that a job of `writer` writes."""
    outputs = [job.output[1] for job in writer]
    return any(path == out or path.startswith(out + "/") for job in reader for _, path in job.inputs for out in outputs)


def in_run_order(jobs: Iterable[Job] = JOBS) -> list[Job]:
    """Every job, each pipeline's jobs in their order, a pipeline after those whose outputs it
    reads (segmentation reads the transaction ETL's warehouse), otherwise in name order: an
    order in which each job finds what the jobs before it wrote."""
    waiting = dict(pipelines(jobs))
    ordered: list[Job] = []
    while waiting:
        name = next(
            (n for n, p in waiting.items() if not any(_reads_from(p, o) for m, o in waiting.items() if m != n)),
            next(iter(waiting)),  # a cycle: name order
        )
        ordered += waiting.pop(name)
    return ordered


def present(jobs: Iterable[Job] = JOBS) -> tuple[Job, ...]:
    """The registered jobs whose module exists in this checkout."""
    return tuple(job for job in jobs if job.source.exists())


def submittable() -> tuple[Job, ...]:
    """What `make submit JOB=` and `make submit-serverless JOB=` run: the present jobs of the
    pipelines and those run on demand (an erasure is submitted by an operator, one root a run)."""
    return (*present(JOBS), *present(ON_DEMAND))


def missing(jobs: Iterable[Job] = JOBS) -> tuple[Job, ...]:
    """Registered jobs whose module is not in this checkout (e.g. not merged yet)."""
    return tuple(job for job in jobs if not job.source.exists())


def unregistered(jobs: Iterable[Job] = JOBS, jobs_dir: Path = JOBS_DIR) -> list[str]:
    """Job files in jobs/ that no entry names: each must be registered to be shipped."""
    modules = {job.module for job in jobs} | {DASHBOARD.module} | {job.module for job in ON_DEMAND}
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
