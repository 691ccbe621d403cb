"""The docs cannot drift: every job's options and tables on its page match the code, links resolve."""

from __future__ import annotations

import importlib

import pytest

from schemas.catalog import OUTPUT_TABLES
from tests.docs_check import DOCS, REPO_ROOT, broken_links, column_problems, job_page, option_problems
from tools.emr import registry

# One page per job module (its parser, its tables): maintain_tables is registered in two pipelines.
JOB_NAMES = sorted({job.reports_as for job in (*registry.JOBS, registry.DASHBOARD, *registry.ON_DEMAND)})


def parser_of(job_name: str):
    return importlib.import_module(
        registry.find(job_name, (*registry.JOBS, registry.DASHBOARD, *registry.ON_DEMAND)).module
    ).build_parser()


def page_text(job_name: str) -> str:
    return job_page(job_name).read_text()


def test_every_job_has_a_page_and_a_table_list() -> None:
    pages = sorted(path.stem for path in (DOCS / "jobs").glob("*.md"))
    assert pages == JOB_NAMES
    assert sorted(OUTPUT_TABLES) == JOB_NAMES


@pytest.mark.parametrize("job_name", JOB_NAMES)
def test_options_on_the_page_are_the_parsers(job_name: str) -> None:
    assert option_problems(f"docs/jobs/{job_name}.md", page_text(job_name), parser_of(job_name)) == []


@pytest.mark.parametrize("job_name", JOB_NAMES)
def test_columns_on_the_page_are_the_contracts(job_name: str) -> None:
    assert column_problems(f"docs/jobs/{job_name}.md", page_text(job_name), OUTPUT_TABLES[job_name]) == []


def test_a_missing_or_invented_option_is_named() -> None:
    page = "docs/jobs/log_analytics.md"
    text = page_text("log_analytics")
    parser = parser_of("log_analytics")
    row = next(line for line in text.splitlines() if line.startswith("| `--z-threshold"))
    removed = text.replace(row + "\n", "")
    assert option_problems(page, removed, parser) == [f"{page}: option --z-threshold is not documented"]
    invented = text.replace(row, row + "\n| `--turbo` | off | goes faster |")
    assert option_problems(page, invented, parser) == [
        f"{page}: documents option --turbo, which log_analytics does not have"
    ]
    wrong_default = text.replace(row, row.replace("`3.5`", "`3.0`"))
    assert option_problems(page, wrong_default, parser) == [
        f"{page}: option --z-threshold defaults to `3.5`, documented default '`3.0`'"
    ]


def test_a_missing_renamed_or_retyped_column_is_named() -> None:
    page = "docs/jobs/transaction_etl.md"
    text = page_text("transaction_etl")
    contracts = OUTPUT_TABLES["transaction_etl"]
    row = next(line for line in text.splitlines() if line.startswith("| `total_amount`"))
    assert column_problems(page, text.replace(row + "\n", ""), contracts) == [
        f"{page}: table daily_user_totals: column total_amount (decimal(18,2)) is not documented"
    ]
    retyped = text.replace(row, row.replace("decimal(18,2)", "double"))
    assert column_problems(page, retyped, contracts) == [
        f"{page}: table daily_user_totals: column total_amount is documented as double, schemas/ says decimal(18,2)"
    ]
    count_row = next(line for line in text.splitlines() if line.startswith("| `transaction_count`"))
    swapped = text.replace(row, "@").replace(count_row, row).replace("@", count_row)
    assert column_problems(page, swapped, contracts) == [
        f"{page}: table daily_user_totals: columns documented in another order than schemas/ has them"
    ]
    renamed = text.replace(row, row.replace("`total_amount`", "`total`"))
    assert column_problems(page, renamed, contracts) == [
        f"{page}: table daily_user_totals: column total_amount (decimal(18,2)) is not documented",
        f"{page}: table daily_user_totals: documents column total, which schemas/ does not have",
    ]


def test_links_between_pages_resolve() -> None:
    pages = [REPO_ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    assert [problem for page in pages for problem in broken_links(page)] == []


def test_the_readme_is_a_front_door() -> None:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    for page in sorted(DOCS.rglob("*.md")):
        assert f"({page.relative_to(REPO_ROOT)})" in "\n".join(lines), f"README links no {page.relative_to(REPO_ROOT)}"
