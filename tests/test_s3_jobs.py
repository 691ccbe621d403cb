"""Every job end to end on S3: each input read from `s3://` (a glob over many small objects, one
folder per day, beside a decoy the glob must skip), every table, export and the run report
written to `s3://`, results equal to the golden files (the local-path run of the same fixture),
and no secret in anything written or printed. The runs go through `main()` in this process, on
the shared session, exactly as `python -m jobs.<job>` would. A new job joins by adding one
`JobCase` to JOBS (test_every_job_has_an_s3_case says so).

One test per job, one run per golden batch: the transaction ETL loads its two batches (the
second MERGEs into the tables the first created on S3); batch scoring uses the model the
segmentation case trained on S3 (trained first if that case did not run in this module).

`s3a://` is served by the same S3A code: rather than a second full run per job (minutes on a
busy machine), every reader and writer of common/io.py makes a round trip through it.

A local `spark-submit` of the packaged zip is a JVM of its own that must find the S3A settings
from the environment alone: the last test proves it on a run that lists real objects and stops
at once (what follows the settings is the code path the in-process run tests).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from common.fs import delete_path, read_text, require_input, write_text
from common.lines import SOURCE_FILE, read_json_lines
from common.tables import read_table, write_table
from schemas.customers import PREDICTIONS, SEGMENT_PROFILES
from schemas.logs import RAW_LOG
from schemas.quarantine import QUARANTINE
from tests.golden import (
    LOG_ANALYTICS_OPTIONS,
    LOG_ANALYTICS_TABLES,
    LOOSE_GATES,
    TRANSACTION_ETL_TABLES,
    assert_table_equals,
    file_name_only,
    orderable,
    read_expected,
    relabelled,
    relabelling,
)
from tests.submit import spark_submit
from tools.emr import registry
from tools.local_s3 import LocalS3

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
# Each fixture input file is cut into this many objects, one per day folder.
PIECES_PER_FILE = 6


@dataclass(frozen=True)
class Input:
    """A path argument and the fixture folder it reads; the folder's name is its S3 prefix."""

    flag: str
    folder: Path


@dataclass(frozen=True)
class Run:
    """One run of the job into the case's output root: fixture inputs to upload, inputs that
    are other cases' outputs (`{<job>}`: the S3 output root of that job's case, see
    JobCase.needs), and the options replacing the registry's."""

    inputs: tuple[Input, ...]
    arguments: tuple[str, ...] = ()
    linked: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobCase:
    """What the S3 end-to-end test needs to know about a job."""

    job: str
    runs: tuple[Run, ...]  # in order, into one output root; the report checked is the last run's
    tables: dict[str, StructType]  # table -> the columns compared with expected/<table>.jsonl
    expected: Path
    rows_read: int  # lines the last run's main input holds, as its report must count them
    approx: frozenset[str] = field(default_factory=frozenset)  # tables with float columns
    unchecked: tuple[str, ...] = ()  # tables the report lists that no golden file holds (a ledger)
    needs: tuple[str, ...] = ()  # jobs whose S3 outputs a run reads
    segments_of: str | None = None  # job whose predictions fix the segment numbering (KMeans)
    check_outputs: Callable[[str, dict[str, bytes]], None] | None = None  # (output URI, objects)

    @property
    def bucket(self) -> str:
        return self.job.replace("_", "-")


def key_of(uri: str) -> str:
    """The object key of an s3:// URI, as `LocalS3.objects` names it."""
    return urlsplit(uri).path.lstrip("/")


def transaction_etl_exports(output: str, written: dict[str, bytes]) -> None:
    """The Redshift export and the symlink manifests are on S3 and name S3 objects that exist."""
    bucket, root = urlsplit(output).netloc, key_of(output)
    assert f"{root}/redshift/create_tables.sql" in written
    for table in ("daily_user_totals", "user_profiles"):
        entries = json.loads(written[f"{root}/redshift/{table}.manifest"])["entries"]
        listed = {entry["url"]: entry["meta"]["content_length"] for entry in entries}
        on_s3 = {
            f"s3://{bucket}/{key}": len(body)
            for key, body in written.items()
            if key.startswith(f"{root}/redshift/{table}/") and key.endswith(".parquet")
        }
        assert listed == on_s3 and listed, table
        assert f"FROM '{output}/redshift/{table}.manifest'" in written[f"{root}/redshift/load_{table}.sql"].decode()
    # one manifest per partition (10-31 .. 11-04), one for the unpartitioned profiles; silver
    # has deletion vectors instead
    assert not [key for key in written if key.startswith(f"{root}/transactions/_symlink_format_manifest/")]
    for table, manifests in (("daily_user_totals", 5), ("user_profiles", 1)):
        prefix = f"{root}/{table}/_symlink_format_manifest/"
        found = [key for key in written if key.startswith(prefix) and key.endswith("/manifest")]
        assert len(found) == manifests, (table, found)
        listed = [uri for key in found for uri in written[key].decode().split()]
        assert listed and all(uri.startswith(f"s3://{bucket}/") and key_of(uri) in written for uri in listed), table


# silver's rows in expected/after_batch2/transactions.jsonl
SILVER_ROWS_AFTER_BATCH2 = 9


def maintained_warehouse(output: str, written: dict[str, bytes]) -> None:
    """Every table of the ETL's warehouse was compacted (and kept its rows) and vacuumed."""
    report = json.loads(written[f"{key_of(output)}/run_report.json"])
    assert report["metrics"]["schedule"]["due"] is True
    for table in ("transactions", "daily_user_totals", "user_profiles", "quarantine"):
        assert report["metrics"][table]["max_files_per_partition"] == 1, table
        assert report["metrics"][table]["retain_hours"] == 168, table
    assert report["metrics"]["transactions"]["rows"] == SILVER_ROWS_AFTER_BATCH2


def segmentation_model(output: str, written: dict[str, bytes]) -> None:
    """The saved model, its JSON export and the metrics are on S3 beside the tables."""
    root = key_of(output)
    assert json.loads(written[f"{root}/model.json"])["k"] == 3
    assert json.loads(written[f"{root}/metrics.json"])["k"] == 3
    assert any(key.startswith(f"{root}/model/stages/") for key in written)


TRANSACTIONS = FIXTURES / "transaction_etl"
CUSTOMERS = FIXTURES / "customer_segmentation"
SEGMENTATION_TABLES = {"predictions": PREDICTIONS, "segment_profiles": SEGMENT_PROFILES, "quarantine": QUARANTINE}

JOBS = [
    JobCase(
        job="log_analytics",
        runs=(
            Run(
                (Input("--input", FIXTURES / "log_analytics" / "input"),),
                LOG_ANALYTICS_OPTIONS,
            ),
        ),
        tables=LOG_ANALYTICS_TABLES,
        expected=FIXTURES / "log_analytics" / "expected",
        rows_read=41,
        approx=frozenset({"anomalies", "daily_engagement"}),
        unchecked=("loaded_files",),
    ),
    JobCase(
        job="transaction_etl",
        runs=(
            Run((Input("--transactions", TRANSACTIONS / "batch1"),), ("--batch-id", "b1", *LOOSE_GATES)),
            Run(
                (Input("--transactions", TRANSACTIONS / "batch2"), Input("--profiles", TRANSACTIONS / "profiles")),
                ("--batch-id", "b2", *LOOSE_GATES),
            ),
        ),
        tables={table: compared for table, (_, compared) in TRANSACTION_ETL_TABLES.items()},
        expected=TRANSACTIONS / "expected" / "after_batch2",
        rows_read=12,
        check_outputs=transaction_etl_exports,
    ),
    JobCase(
        # maintains the warehouse the ETL's case wrote (OPTIMIZE and VACUUM through S3A); its
        # report goes to a root of its own
        job="maintain_tables",
        runs=(Run((), linked=(("--warehouse", "{transaction_etl}"),)),),
        tables={},
        expected=TRANSACTIONS / "expected" / "after_batch2",
        rows_read=SILVER_ROWS_AFTER_BATCH2,
        needs=("transaction_etl",),
        check_outputs=maintained_warehouse,
    ),
    JobCase(
        job="customer_segmentation",
        runs=(Run((Input("--input", CUSTOMERS / "input"),), ("--k", "3", "--max-iter", "10")),),
        tables=SEGMENTATION_TABLES,
        expected=CUSTOMERS / "expected",
        rows_read=26,
        approx=frozenset({"segment_profiles"}),
        segments_of="customer_segmentation",
        check_outputs=segmentation_model,
    ),
    JobCase(
        # the training customers again: each must get its training segment, bad lines the same reasons
        job="segment_customers",
        runs=(Run((Input("--input", CUSTOMERS / "input"),), linked=(("--model", "{customer_segmentation}/model"),)),),
        tables={table: SEGMENTATION_TABLES[table] for table in ("quarantine", "predictions")},
        expected=CUSTOMERS / "expected",
        rows_read=26,
        needs=("customer_segmentation",),
        segments_of="customer_segmentation",
    ),
]
CASES = {case.job: case for case in JOBS}


def test_every_job_has_an_s3_case() -> None:
    # one case per job module (maintain_tables serves two pipelines)
    assert sorted(CASES) == sorted({job.reports_as for job in registry.present()})


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    """Job -> the S3 output root its case wrote in this module, for the cases that need it."""
    return {}


def upload_input(s3: LocalS3, bucket: str, source: Input) -> str:
    """The fixture folder as many small objects under input/<folder>/2026/11/<dd>/, plus a decoy
    the glob must not pick up (a whole copy under 2026/10/); returns the glob that reads it."""
    files = sorted(source.folder.iterdir())
    prefix = f"input/{source.folder.name}"
    keys = s3.upload_spread(files, bucket, f"{prefix}/2026/11", PIECES_PER_FILE)
    assert len(keys) >= 2 * len(files)
    s3.upload_spread(files, bucket, f"{prefix}/2026/10", 1)
    return f"s3://{bucket}/{prefix}/2026/11/*/*{files[0].suffix}"


def run_case(
    s3: LocalS3, case: JobCase, outputs: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> tuple[dict[str, str], str]:
    """Upload the case's inputs and run it, after the cases it needs if they have not run yet.
    Returns the last run's sources (argument -> URI) and everything the runs printed."""
    console = ""
    for needed in case.needs:
        if needed not in outputs:
            console += run_case(s3, CASES[needed], outputs, capfd)[1]
    s3.create_bucket(case.bucket)
    output = f"s3://{case.bucket}/output"
    main = importlib.import_module(f"jobs.{case.job}").main
    for run in case.runs:
        sources = {source.flag: upload_input(s3, case.bucket, source) for source in run.inputs}
        linked = {flag: path.format(**outputs) for flag, path in run.linked}
        job = registry.find(case.job)
        code = main(job.invocation(inputs={**sources, **linked}, output=output, options=run.arguments))
        captured = capfd.readouterr()
        console += captured.out + captured.err
        assert code == 0, console[-3000:]
    outputs[case.job] = output
    return sources, console


def comparable(spark: SparkSession, df: DataFrame, case: JobCase, outputs: dict[str, str]) -> DataFrame:
    """What the golden tests compare: file names for source files, the expected files'
    segment numbers, maps as sorted entries."""
    if SOURCE_FILE in df.columns:
        df = file_name_only(df)
    if case.segments_of and "segment" in df.columns:
        training = read_table(spark, f"{outputs[case.segments_of]}/predictions", "delta")
        df = relabelled(df, relabelling({row.customer_id: row.segment for row in training.collect()}))
    return orderable(df)


@pytest.mark.parametrize("case", JOBS, ids=lambda case: case.job)
def test_job_reads_and_writes_s3(
    spark: SparkSession, s3: LocalS3, capfd: pytest.CaptureFixture[str], outputs: dict[str, str], case: JobCase
) -> None:
    sources, console = run_case(s3, case, outputs, capfd)
    output = outputs[case.job]

    written = s3.objects(case.bucket, "output/")
    report = json.loads(written["output/run_report.json"])
    assert report["status"] == "succeeded"
    # a repeatable input (log_analytics' --input) is recorded as the list of its values
    recorded = {flag: report["arguments"][flag[2:]] for flag in sources}
    assert {flag: v[0] if isinstance(v, list) else v for flag, v in recorded.items()} == sources
    assert report["rows_read"] == case.rows_read  # the glob took the November files, not the decoy
    assert {name: table["path"] for name, table in report["tables"].items()} == {
        name: f"{output}/{name}" for name in (*case.tables, *case.unchecked)
    }
    for table, schema in case.tables.items():
        # the commit and its checksum (Delta writes the .crc through FileContext, see common/s3.py)
        assert {f"output/{table}/_delta_log/00000000000000000000.{ext}" for ext in ("json", "crc")} <= set(written)
        actual = read_table(spark, f"{output}/{table}", "delta").select(*schema.fieldNames())
        if SOURCE_FILE in actual.columns:
            sources_read = {row[0] for row in actual.select(SOURCE_FILE).distinct().collect()}
            assert all(s.startswith(f"s3://{case.bucket}/input/") and "/2026/11/" in s for s in sources_read)
        expected = read_expected(spark, case.expected / f"{table}.jsonl", schema)
        assert_table_equals(comparable(spark, actual, case, outputs), orderable(expected), approx=table in case.approx)
    if case.check_outputs:
        case.check_outputs(output, written)

    secret = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    assert not [key for key, body in written.items() if secret in body]
    assert secret.decode() not in console


def test_dashboard_and_athena_ddl_beside_an_s3_run_report(
    s3: LocalS3, capfd: pytest.CaptureFixture[str], outputs: dict[str, str]
) -> None:
    """The page and the DDL are written to S3 too: the DDL's locations are s3:// URIs of the
    tables, and jobs/build_dashboard.py writes the page beside the report it reads there."""
    case = CASES["log_analytics"]
    if case.job not in outputs:
        run_case(s3, case, outputs, capfd)
    output = outputs[case.job]
    from jobs import build_dashboard
    from tests.athena_sql import parse_ddl

    assert build_dashboard.main(["--output", output]) == 0
    written = s3.objects(case.bucket, "output/")
    report = json.loads(written["output/run_report.json"])
    page = written["output/dashboard.html"].decode()
    assert page.startswith("<!DOCTYPE html>") and report["run_id"] in page
    _, tables = parse_ddl(written["output/athena_ddl.sql"].decode())
    assert {name: t.location for name, t in tables.items()} == {name: f"{output}/{name}" for name in report["tables"]}


def test_s3a_round_trip_through_every_reader_and_writer(spark: SparkSession, s3: LocalS3) -> None:
    bucket = "s3a-round-trip"
    s3.create_bucket(bucket)
    s3.upload_spread([Path(__file__).parent / "fixtures" / "log_analytics" / "input" / "app-1.jsonl"], bucket, "in", 3)
    root = f"s3a://{bucket}"
    require_input(spark, f"{root}/in/*/*.jsonl")
    lines = read_json_lines(spark, f"{root}/in/*/*.jsonl", RAW_LOG)
    assert lines.count() == 12
    assert {row[0].rsplit("/", 2)[0] for row in lines.select(SOURCE_FILE).collect()} == {f"{root}/in"}
    for fmt in ("delta", "parquet"):
        write_table(lines.select("user_id"), f"{root}/{fmt}", fmt)
        write_table(lines.select("user_id").limit(3), f"{root}/{fmt}", fmt)  # a rerun replaces
        assert read_table(spark, f"{root}/{fmt}", fmt).count() == 3
    write_text(spark, f"{root}/report.json", '{"ok": true}\n')
    assert read_text(spark, f"{root}/report.json") == '{"ok": true}\n'
    delete_path(spark, f"{root}/report.json")
    assert "report.json" not in s3.objects(bucket, "")


def test_spark_submit_of_the_zip_finds_s3_from_the_environment(s3: LocalS3, dist: Path, tmp_path: Path) -> None:
    """Under `spark-submit --master local[2]` only AWS_ENDPOINT_URL_S3 and the credentials in the
    environment point the run at the server. The answer proves it: `s3://` is served by S3A
    (else "No FileSystem for scheme"), the listing reaches the server (else the default AWS
    endpoint would not answer) path-style and signed, and finds objects but no data file."""
    bucket = "spark-submit"
    s3.create_bucket(bucket)
    s3.client().put_object(Bucket=bucket, Key="input/2026/11/01/_SUCCESS", Body=b"")
    source = f"s3://{bucket}/input"
    result = spark_submit(dist, "log_analytics", ["--input", source, "--output", f"s3://{bucket}/out"], cwd=tmp_path)
    assert result.returncode == 1
    # spark-submit merges the Python driver's stderr into its stdout (Spark's PythonRunner)
    last_line = [line for line in result.stdout.splitlines() if line.strip()][-1]
    assert last_line == f"log_analytics: error: no input files under {source}"
    assert "Traceback" not in result.stdout + result.stderr
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr
