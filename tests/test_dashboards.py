"""Each job's dashboard in a real headless Chromium: it opens from file:// with the network
off, logs no console error, draws every chart, and draws the numbers the run's tables hold.

One run per job on the golden fixtures (the ETL loads two batches, so some dates are changed
by the second and some are not); scoring's page is built by the standalone entrypoint. The
numbers are read back from each chart's embedded data in the loaded page, and compared with the
tables read from storage. Screenshots are kept in test-artifacts/dashboards/ ($TEST_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from common.dashboard import DASHBOARD_FILE
from common.tables import read_table
from jobs import build_dashboard, customer_segmentation, log_analytics, segment_customers, transaction_etl
from schemas.customers import PREDICTIONS
from schemas.quarantine import QUARANTINE
from tests.athena_sql import parse_ddl
from tests.browser import INSTALL_HINT, Browser, chromium_binary
from tests.golden import LOG_ANALYTICS_OPTIONS, LOOSE_GATES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "dashboards"
# Mail attachments are commonly capped at 10 to 25 MB; a page must stay far below.
MAX_PAGE_BYTES = 3_000_000

READY = "document.body && (document.body.dataset.charts || document.body.dataset.failed) || null"
COLLECT = """(() => {
  const charts = Array.from(document.querySelectorAll('script[type="application/json"][data-chart]')).map(s => {
    const el = document.getElementById(s.dataset.chart);
    const svgs = el ? el.querySelectorAll('svg.marks') : [];
    const box = svgs.length ? svgs[0].getBoundingClientRect() : {width: 0, height: 0};
    const marks = svgs.length ? svgs[0].querySelectorAll(
      'g.mark-rect path, g.mark-symbol path, g.mark-line path, g.mark-rule line, g.mark-area path').length : 0;
    return {key: s.dataset.chart.slice(6), spec: JSON.parse(s.textContent), svgs: svgs.length,
            width: box.width, height: box.height, marks: marks};
  });
  return {charts: charts, text: document.body.innerText,
          rendered: document.body.dataset.charts || null, failed: document.body.dataset.failed || null};
})()"""


@pytest.fixture(scope="module")
def browser() -> Browser:
    binary = chromium_binary()
    if binary is None:
        pytest.fail(f"no Chromium for the dashboard tests: {INSTALL_HINT}")
    chromium = Browser(binary)
    yield chromium
    chromium.close()


def datasets(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The data of every view of a chart (layers in order), as the page embeds it."""
    named = spec.get("datasets", {})
    found: list[list[dict[str, Any]]] = []

    def visit(node: dict[str, Any]) -> None:
        data = node.get("data")
        if data:
            found.append(data["values"] if "values" in data else named[data["name"]])
        for layer in node.get("layer", []):
            visit(layer)
        if "spec" in node:
            visit(node["spec"])

    visit(spec)
    return found


def open_dashboard(browser: Browser, root: Path, name: str) -> tuple[dict[str, list[list[dict]]], str]:
    """Load the page and check what every page must do; returns each chart's data and the text."""
    page = root / DASHBOARD_FILE
    assert page.stat().st_size < MAX_PAGE_BYTES
    html = page.read_text()
    assert "http://" not in html.split("<script>", 1)[0] and "<script src" not in html
    loaded = browser.load(page.as_uri(), READY, COLLECT, ARTIFACTS / f"{name}.png")
    assert loaded.console_errors == []
    assert loaded.remote_requests == []
    value = loaded.value
    assert value["failed"] is None
    assert int(value["rendered"]) == len(value["charts"]) > 0
    for chart in value["charts"]:
        assert chart["svgs"] == 1, chart["key"]
        assert chart["width"] > 0 and chart["height"] > 0, chart["key"]
        assert chart["marks"] > 0, chart["key"]
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
    return {c["key"]: datasets(c["spec"]) for c in value["charts"]}, value["text"]


def assert_states_the_run(text: str, report: dict[str, Any], *inputs: str) -> None:
    for fact in (report["run_id"], report["version"], *inputs):
        assert fact in text
    for count in ("rows_read", "rows_valid", "rows_quarantined"):
        assert f"{report[count]:,}" in text


def table(spark: SparkSession, report: dict[str, Any], name: str):
    return read_table(spark, report["tables"][name]["path"], report["tables"][name]["format"])


def quarantine_counts(spark: SparkSession, report: dict[str, Any], by: tuple[str, ...] = ("reason",)) -> Counter:
    return Counter(
        {tuple(r[c] for c in by): r["count"] for r in table(spark, report, "quarantine").groupBy(*by).count().collect()}
    )


# ── log analytics ────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def logs_run(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("dash_logs") / "out"
    args = ["--input", str(fixtures / "log_analytics" / "input"), "--output", str(output)]
    report = log_analytics.run(spark, log_analytics.parse_args([*args, *LOG_ANALYTICS_OPTIONS, "--dashboard"]))
    return output, report


def test_log_analytics_dashboard_draws_the_tables(spark: SparkSession, logs_run, browser: Browser) -> None:
    output, report = logs_run
    charts, text = open_dashboard(browser, output, "log_analytics")
    assert_states_the_run(text, report, *report["arguments"]["input"])
    assert "first seen that day in the warehouse's whole history" in text

    windows = table(spark, report, "activity_windows").collect()
    iso = "%Y-%m-%dT%H:%M:%SZ"
    assert {(r["window_start"], r["event_type"]): r["event_count"] for r in charts["events_by_type"][0]} == {
        (w.window_start.strftime(iso), w.event_type): w.event_count for w in windows
    }
    engagement = table(spark, report, "daily_engagement").collect()
    assert {(r["event_date"], r["measure"]): r["count"] for r in charts["daily_activity"][0]} == {
        (str(e.event_date), measure): e[column]
        for e in engagement
        for column, measure in (("event_count", "events"), ("active_users", "active users"))
    }
    assert {(r["event_date"], r["kind"]): r["users"] for r in charts["active_users"][0]} == {
        (str(e.event_date), kind): e[f"{kind}_users"] for e in engagement for kind in ("new", "returning")
    }
    assert {(r["event_date"], r["statistic"]): r["events_per_user"] for r in charts["events_per_user"][0]} == {
        (str(e.event_date), s): e[f"events_per_user_{s}"] for e in engagement for s in ("mean", "median", "p90")
    }
    users = table(spark, report, "user_activity").orderBy(F.desc("event_count"), "user_id").limit(15).collect()
    assert [(r["user_id"], r["event_count"]) for r in charts["heaviest_users"][0]] == [
        (u.user_id, u.event_count) for u in users
    ]
    rate_line, anomaly_points, threshold = charts["error_rate"]
    per_window: dict[str, list[int]] = {}
    for w in windows:
        sums = per_window.setdefault(w.window_start.strftime(iso), [0, 0])
        sums[0] += w.event_count
        sums[1] += w.error_count
    assert {r["window_start"]: [r["event_count"], r["error_count"]] for r in rate_line} == per_window
    anomalies = table(spark, report, "anomalies").collect()
    assert [(r["window_start"], r["error_rate"]) for r in anomaly_points] == [
        (a.window_start.strftime(iso), a.error_rate) for a in anomalies
    ]
    assert threshold[0]["threshold_rate"] == pytest.approx(
        anomalies[0].median_error_rate + anomalies[0].z_threshold * anomalies[0].robust_scale
    )
    patterns = table(spark, report, "error_patterns").collect()
    assert {(r["event_date"], r["status_code"]): r["error_count"] for r in charts["error_patterns"][0]} == {
        (str(p.event_date), str(p.status_code)): p.error_count for p in patterns
    }
    drawn = Counter({(r["reason"],): r["rows"] for r in charts["quarantine_by_reason"][0]})
    assert (
        drawn
        == quarantine_counts(spark, report)
        == Counter({(k,): v for k, v in report["quarantined_by_reason"].items()})
    )


# ── transaction ETL ──────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def etl_run(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    warehouse = tmp_path_factory.mktemp("dash_etl") / "warehouse"
    root = fixtures / "transaction_etl"
    args = ["--warehouse", str(warehouse), *LOOSE_GATES, "--transactions"]
    transaction_etl.run(spark, transaction_etl.parse_args([*args, str(root / "batch1"), "--batch-id", "b1"]))
    second = [*args, str(root / "batch2"), "--batch-id", "b2", "--profiles", str(root / "profiles"), "--dashboard"]
    return warehouse, transaction_etl.run(spark, transaction_etl.parse_args(second))


def test_transaction_etl_dashboard_draws_the_tables(spark: SparkSession, etl_run, browser: Browser) -> None:
    warehouse, report = etl_run
    charts, text = open_dashboard(browser, warehouse, "transaction_etl")
    assert_states_the_run(text, report, report["arguments"]["transactions"], report["arguments"]["profiles"])

    refreshed = set(report["metrics"]["daily_user_totals"]["dates_refreshed"])
    gold = table(spark, report, "daily_user_totals")
    per_day = gold.groupBy("transaction_date").agg(
        F.sum("total_amount").alias("t"), F.sum("transaction_count").alias("n")
    )
    expected = {str(r.transaction_date): (float(r.t), r.n) for r in per_day.collect()}
    assert {r["transaction_date"]: (r["net_total"], r["transaction_count"]) for r in charts["daily_net"][0]} == expected
    marked = {r["transaction_date"] for r in charts["daily_net"][0] if r["changed_by_run"] == "yes"}
    assert marked == refreshed and refreshed <= set(expected)

    silver = table(spark, report, "transactions").collect()
    money: dict[tuple[str, str], float] = {}
    for t in silver:
        kind = "sales" if t.amount > 0 else "refunds"
        key = (str(t.transaction_date), kind)
        money[key] = money.get(key, 0) + float(t.amount)
    drawn = {(r["transaction_date"], r["kind"]): r["amount"] for r in charts["sales_refunds"][0] if r["amount"]}
    assert drawn == pytest.approx(money) and any(kind == "refunds" for _, kind in drawn)

    per_user = gold.groupBy("user_id").agg(F.sum("total_amount").alias("t")).collect()
    top = sorted(((float(u.t), u.user_id) for u in per_user), key=lambda p: (-p[0], p[1]))[:15]
    assert [(r["net_total"], r["user_id"]) for r in charts["top_users"][0]] == top

    countries = {p.user_id: p.country for p in table(spark, report, "user_profiles").collect()}
    by_country: dict[str, float] = {}
    for row in gold.collect():
        country = countries.get(row.user_id) or "(no profile)"
        by_country[country] = by_country.get(country, 0) + float(row.total_amount)
    assert {r["country"]: r["net_total"] for r in charts["by_country"][0]} == pytest.approx(by_country)

    merges = {(r["table"], r["figure"]): r["rows"] for r in charts["merge"][0]}
    for name, key in (("transactions", "merge_transactions"), ("user_profiles", "merge_profiles")):
        for figure in ("inserted", "updated", "unchanged", "duplicates_collapsed"):
            assert merges[(name, figure)] == report["metrics"][key][figure]

    batch_quarantine = Counter(
        {
            (r.reason, "input" if r.dataset == "transactions" else r.dataset): r["count"]
            for r in table(spark, report, "quarantine")
            .filter("batch_id = 'b2'")
            .groupBy("reason", "dataset")
            .count()
            .collect()
        }
    )
    assert (
        Counter({(r["reason"], r["dataset"]): r["rows"] for r in charts["quarantine_by_reason"][0]}) == batch_quarantine
    )


# ── customer segmentation and scoring ────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def segmentation_runs(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("dash_segments")
    golden = fixtures / "customer_segmentation"
    train = ["--input", str(golden / "input"), "--output", str(base / "model"), "--k-range", "2-4", "--max-iter", "10"]
    trained = customer_segmentation.run(spark, customer_segmentation.parse_args([*train, "--dashboard"]))
    inputs = base / "to_score"
    inputs.mkdir()
    shutil.copy(golden / "score" / "new-customers.csv", inputs)
    score = ["--model", str(base / "model" / "model"), "--input", str(inputs), "--output", str(base / "scored")]
    scored = segment_customers.run(spark, segment_customers.parse_args([*score, "--format", "parquet"]))
    return base, trained, scored


def test_segmentation_dashboard_draws_the_model_and_segments(
    spark: SparkSession, segmentation_runs, browser: Browser
) -> None:
    base, report, _ = segmentation_runs
    charts, text = open_dashboard(browser, base / "model", "customer_segmentation")
    assert_states_the_run(text, report, report["arguments"]["input"])

    metrics = json.loads((base / "model" / "metrics.json").read_text())
    curve = charts["silhouette"][0]
    assert {str(r["k"]): r["silhouette"] for r in curve} == metrics["silhouette_by_k"]
    assert [r["k"] for r in curve if r["chosen"]] == [metrics["k"]]

    profiles = table(spark, report, "segment_profiles").collect()
    assert {r["segment"]: r["customers"] for r in charts["segment_sizes"][0]} == {
        str(p.segment): p.customers for p in profiles
    }
    assert {(r["segment"], r["measure"]): r["mean"] for r in charts["profile_means"][0]} == {
        (str(p.segment), m): p[f"{m}_mean"] for p in profiles for m in ("age", "annual_income", "spending_score")
    }
    for column in ("gender_share", "marital_status_share"):  # the fixture trains on demographics
        assert {(r["segment"], r["category"]): r["share"] for r in charts[column][0]} == {
            (str(p.segment), c): s for p in profiles for c, s in p[column].items()
        }
    segments = {p.customer_id: p.segment for p in table(spark, report, "predictions").collect()}
    points = charts["scatter"][0]
    assert 0 < len(points) <= len(segments)
    assert all(segments[p["customer_id"]] == p["segment"] for p in points)


def test_build_dashboard_entrypoint_over_a_parquet_scoring_run(
    spark: SparkSession, segmentation_runs, browser: Browser, capsys: pytest.CaptureFixture
) -> None:
    base, _, scored = segmentation_runs
    assert not (base / "scored" / DASHBOARD_FILE).exists()  # scored without --dashboard: no page
    assert build_dashboard.main(["--output", str(base / "scored")]) == 0
    assert str(base / "scored" / DASHBOARD_FILE) in capsys.readouterr().out
    charts, text = open_dashboard(browser, base / "scored", "segment_customers")
    assert_states_the_run(text, scored, scored["arguments"]["input"], scored["arguments"]["model"])
    assert {r["segment"]: r["customers"] for r in charts["segment_sizes"][0]} == scored["metrics"][
        "customers_by_segment"
    ]


def test_build_dashboard_on_a_root_without_a_run_report_is_one_line(tmp_path: Path, capsys) -> None:
    assert build_dashboard.main(["--output", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"build_dashboard: error: no run_report.json under {tmp_path}: not the output of a finished run"
    )


# ── the Athena DDL the same runs wrote ───────────────────────────────────────────────────


def test_delta_run_ddl_locates_every_table_it_wrote(logs_run) -> None:
    output, report = logs_run
    assert report["metrics"]["athena"] == {
        "ddl": str(output / "athena_ddl.sql"),
        "database": "log_analytics",
        "tables": sorted(report["tables"]),
    }
    databases, tables = parse_ddl((output / "athena_ddl.sql").read_text())
    assert databases == ["log_analytics"] and sorted(tables) == sorted(report["tables"])
    for name, table in tables.items():
        assert table.database == "log_analytics"
        assert table.location == f"file:{output / name}" == f"file:{report['tables'][name]['path']}"
        assert table.properties == {"table_type": "DELTA"} and table.columns == []
        assert (output / name / "_delta_log").is_dir()


def test_parquet_run_ddl_has_the_contract_columns(segmentation_runs) -> None:
    base, _, scored = segmentation_runs
    _, tables = parse_ddl((base / "scored" / "athena_ddl.sql").read_text())
    contracts = {"predictions": PREDICTIONS, "quarantine": QUARANTINE}
    assert sorted(tables) == sorted(contracts) == sorted(scored["tables"])
    for name, contract in contracts.items():
        assert tables[name].stored_as == "PARQUET" and tables[name].partitions == []
        assert tables[name].columns == [(f.name, f.dataType.simpleString()) for f in contract.fields]
        assert tables[name].location == f"file:{base / 'scored' / name}"


def test_a_run_without_dashboard_imports_none_of_it() -> None:
    """The flag's absence costs nothing: no charting import, no page (checked in a fresh
    interpreter, since this one has built pages)."""
    code = (
        "import sys, argparse\n"
        "from jobs import log_analytics\n"
        "from common.dashboard import build_if_asked\n"
        "args = log_analytics.parse_args(['--input', 'i', '--output', 'o'])\n"
        "assert args.dashboard is False\n"
        "build_if_asked(None, args, 'o', {}, 'log_analytics')\n"
        "loaded = [m for m in ('common.dashboard.build', 'vl_convert', 'altair') if m in sys.modules]\n"
        "assert loaded == [], loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
