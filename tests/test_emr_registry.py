"""The job registry and the artifact built from it: one entry per job, nothing else shipped."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from tools import package
from tools.emr import registry

ROOT = "s3://my-bucket/spark-jobs"


def test_every_job_file_is_registered() -> None:
    # A job added to jobs/ without a registry entry would never reach EMR: fail here instead.
    assert registry.unregistered() == []


def test_unregistered_job_files_are_found(tmp_path: Path) -> None:
    for name in ("__init__.py", "known.py", "new_job.py"):
        (tmp_path / name).write_text("")
    known = registry.Job("known", "jobs.known", "p", 1, (), ("--output", "{root}/out"), "")
    assert registry.unregistered([known], jobs_dir=tmp_path) == ["new_job"]


def test_names_are_unique_and_orders_run_one_to_n() -> None:
    names = [job.name for job in registry.JOBS]
    assert len(names) == len(set(names))
    for pipeline, jobs in registry.pipelines(registry.JOBS).items():
        assert [job.order for job in jobs] == list(range(1, len(jobs) + 1)), pipeline
        # a module runs at most once per pipeline (maintain_tables runs in two, over their roots)
        assert len({job.module for job in jobs}) == len(jobs), pipeline


def test_arguments_render_for_a_root_and_stay_under_it() -> None:
    for job in registry.JOBS:
        rendered = job.render(ROOT)
        assert not any("{" in argument for argument in rendered), job.name
        paths = [argument for argument in rendered if argument.startswith("s3://")]
        assert paths and all(path.startswith(ROOT + "/") for path in paths), job.name
        assert all(uri.startswith(ROOT + "/") for uri in job.render_redshift_sql(ROOT))


def test_scoring_reads_the_model_training_writes() -> None:
    train = registry.find("customer_segmentation")
    score = registry.find("segment_customers")
    assert train.pipeline == score.pipeline and train.order < score.order
    output = train.render(ROOT)[train.render(ROOT).index("--output") + 1]
    model = score.render(ROOT)[score.render(ROOT).index("--model") + 1]
    assert model == f"{output}/model"


def test_redshift_sql_sits_in_the_etl_warehouse() -> None:
    etl = registry.find("transaction_etl")
    warehouse = etl.render(ROOT)[etl.render(ROOT).index("--warehouse") + 1]
    assert etl.render_redshift_sql(ROOT)
    assert all(
        uri.startswith(f"{warehouse}/redshift/") and uri.endswith(".sql") for uri in etl.render_redshift_sql(ROOT)
    )


def test_unknown_job_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="log_analytics"):
        registry.find("nope")


@pytest.mark.parametrize("job", registry.present(), ids=lambda job: job.name)
def test_present_job_accepts_its_registered_arguments(job: registry.Job, capsys: pytest.CaptureFixture) -> None:
    module = importlib.import_module(job.module)
    assert callable(module.main)
    module.parse_args(list(job.render(ROOT)))  # argparse exits on a wrong argument
    with pytest.raises(SystemExit) as version:
        module.parse_args(["--version"])
    assert version.value.code == 0
    assert package.version() in capsys.readouterr().out


# ── the artifact ─────────────────────────────────────────────────────────────────────────


def test_entrypoints_are_the_registered_jobs(dist: Path) -> None:
    shipped = registry.shipped()
    assert sorted(p.name for p in (dist / "entrypoints").iterdir()) == sorted(j.entrypoint for j in shipped)
    assert len({j.module for j in shipped}) == len(shipped)
    assert registry.DASHBOARD in shipped
    for job in shipped:
        assert (dist / "entrypoints" / job.entrypoint).read_bytes() == job.source.read_bytes()


def test_requirements_pin_great_expectations_and_what_it_needs(dist: Path) -> None:
    lines = [line for line in (dist / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    pins = dict(line.split("==") for line in lines)
    assert pins["great-expectations"] == "1.24.1"
    # transitive needs are pinned too, so a node installs exactly what the tests ran with
    assert {"pandas", "numpy", "pydantic", "jsonschema"} <= set(pins)
    assert not {"pyspark", "delta-spark", "py4j"} & set(pins)
    assert not {"pytest", "moto", "ruff", "chispa", "boto3"} & set(pins)
    assert list(pins) == sorted(pins)


def test_manifest_lists_every_file_with_its_sha256(dist: Path) -> None:
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["version"] == package.version()
    files = sorted(p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert sorted(manifest["files"]) == files
    assert manifest["files"][manifest["zip"]] == package.sha256(dist / manifest["zip"])
    assert {"bootstrap/install_requirements.sh", "bootstrap/configurations.json"} <= set(files)


def test_whole_dist_is_reproducible(dist: Path, tmp_path: Path) -> None:
    again = tmp_path / "dist"
    assert package.main(["--dist", str(again)]) == 0
    assert (again / "manifest.json").read_bytes() == (dist / "manifest.json").read_bytes()


def test_zip_never_holds_tests_or_caches() -> None:
    assert package._shipped(Path("jobs/log_analytics.py"))
    for path in ("common/tests/helper.py", "jobs/test_x.py", "common/__pycache__/io.cpython-311.py", "common/x.pyc"):
        assert not package._shipped(Path(path)), path


def test_secret_scan_finds_credentials(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text('PATH = "s3://bucket/key"\n')
    (tmp_path / "leaky.py").write_text(
        '"""doc"""\nKEY = "AKIA' + "ABCDEFGHIJKLMNOP" + '"\npassword = "hunter2hunter2"\n'
    )
    assert package.find_secrets([Path("clean.py"), Path("leaky.py")], root=tmp_path) == ["leaky.py:2", "leaky.py:3"]
    assert package.find_secrets(package.source_files()) == []


def test_refused_build_keeps_the_last_good_dist(dist: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    before = (dist / "manifest.json").read_bytes()
    monkeypatch.setattr(package, "find_secrets", lambda files: ["common/x.py:3"])
    assert package.main(["--dist", str(dist)]) == 1
    assert capsys.readouterr().err == "package: error: refusing to package what looks like a secret: common/x.py:3\n"
    assert (dist / "manifest.json").read_bytes() == before


def test_build_stops_on_an_unregistered_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(registry, "unregistered", lambda: ["rogue_job"])
    assert package.main(["--dist", str(tmp_path / "dist")]) == 1
    assert capsys.readouterr().err.strip() == (
        "package: error: jobs without an entry in tools/emr/registry.py: rogue_job"
    )


def test_an_invocation_binds_paths_and_refuses_flags_the_job_does_not_take() -> None:
    etl = registry.find("transaction_etl")
    assert etl.invocation(root="r") == list(etl.render("r"))
    bound = etl.invocation(inputs={"--transactions": "t"}, output="w", options=("--batch-id", "b1"))
    assert bound == ["--transactions", "t", "--warehouse", "w", "--batch-id", "b1"]
    with pytest.raises(KeyError, match="transaction_etl takes no input --input"):
        etl.invocation(inputs={"--input": "t"}, output="w")
    with pytest.raises(ValueError, match="give a root"):
        etl.invocation(inputs={"--transactions": "t"})


@pytest.mark.parametrize("job", registry.ON_DEMAND, ids=lambda job: job.name)
def test_on_demand_jobs_are_shipped_but_in_no_pipeline(job: registry.Job) -> None:
    module = importlib.import_module(job.module)
    module.parse_args(list(job.render(ROOT)))  # argparse exits on a wrong argument
    assert job in registry.shipped()
    assert job in registry.submittable()  # make submit JOB=<name>, make submit-serverless
    assert job.name not in {j.name for j in registry.JOBS}  # make run, EMR steps and state machines use JOBS
    assert job not in registry.in_run_order(registry.present())
