"""The pages: for each job, its sections of charts from the tables and figures the run wrote.

Every figure comes from the run's outputs: the rows of its tables (read back from storage,
grouped or ordered at most), `run_report.json` (row accounting, reasons, MERGE figures) and
`metrics.json`. Nothing is recomputed from the input, except the features of the sampled
customers in the segmentation scatter, which no output table holds (said on the page).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.dashboard import DASHBOARD_FILE
from common.dashboard import charts as C
from common.dashboard.page import Chart, Section, javascript_bundle, render
from common.errors import InputError
from common.fs import join_path, path_exists, read_text, write_text
from common.report import REPORT_FILE
from common.tables import read_table

# Bounds that keep a page small enough to mail, whatever the run's size.
MAX_WINDOWS = 2000  # activity windows (x event types) drawn, the latest ones
MAX_DAYS = 1500
TOP_USERS = 15
SCATTER_SAMPLE = 1000
ISO_SECONDS = "yyyy-MM-dd'T'HH:mm:ss'Z'"


def iso(column: str) -> F.Column:
    """A timestamp as ISO-8601 UTC text (the session's time zone is UTC)."""
    return F.date_format(column, ISO_SECONDS).alias(column)


def rows(df: DataFrame) -> list[dict[str, Any]]:
    return [row.asDict(recursive=True) for row in df.collect()]


def latest(df: DataFrame, column: str, limit: int) -> tuple[DataFrame, bool]:
    """Rows of the latest `limit` distinct values of `column`, and whether any were left out."""
    values = df.select(column).distinct().orderBy(F.col(column).desc()).limit(limit + 1).collect()
    if len(values) <= limit:
        return df, False
    cutoff = values[limit - 1][0]
    return df.filter(F.col(column) >= F.lit(cutoff)), True


def reason_rows(by_reason: dict[str, int], dataset: str | None = None) -> list[dict[str, Any]]:
    return [
        {"reason": reason, "rows": count, **({"dataset": dataset} if dataset else {})}
        for reason, count in sorted(by_reason.items())
    ]


def quarantine_chart(report: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> Chart:
    main = reason_rows(report.get("quarantined_by_reason", {}), "input" if extra is not None else None)
    data = main + (extra or [])
    return Chart(
        "quarantine_by_reason",
        "Quarantine by reason",
        C.bars(
            data,
            "reason",
            "rows",
            "reason",
            "lines quarantined",
            horizontal=True,
            colour="dataset" if extra is not None else None,
        ),
        note="From the run report's quarantined_by_reason (equal to the quarantine table: reconciled by the run)."
        if data
        else "No line was quarantined.",
    )


def accounting(report: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("rows read", report.get("rows_read")),
        ("rows valid", report.get("rows_valid")),
        ("rows quarantined", report.get("rows_quarantined")),
        ("tables written", len(report.get("tables", {}))),
    ]


# ── log analytics ────────────────────────────────────────────────────────────────────────


def log_analytics(spark: SparkSession, report: dict[str, Any], tables: dict[str, DataFrame]) -> list[Section]:
    arguments = report.get("arguments", {})
    windows = tables["activity_windows"]
    shown, cut = latest(windows, "window_start", MAX_WINDOWS)
    by_type = rows(
        shown.select(iso("window_start"), iso("window_end"), "event_type", "event_count").orderBy(
            "window_start", "event_type"
        )
    )
    min_events = int(arguments.get("min_window_events") or 1)
    per_window = rows(
        shown.groupBy("window_start")
        .agg(F.sum("event_count").alias("event_count"), F.sum("error_count").alias("error_count"))
        .select(
            iso("window_start"),
            "event_count",
            "error_count",
            (F.col("error_count") / F.col("event_count")).alias("error_rate"),
            F.when(F.col("event_count") >= min_events, "scored")
            .otherwise(f"fewer than {min_events} events: not scored")
            .alias("scored"),
        )
        .orderBy("window_start")
    )
    anomalies = rows(
        tables["anomalies"]
        .select(
            iso("window_start"),
            "error_rate",
            "robust_z_score",
            "z_threshold",
            "median_error_rate",
            "robust_scale",
        )
        .orderBy("window_start")
    )
    thresholds = []
    if anomalies:
        first = anomalies[0]
        thresholds = [
            {
                "threshold_rate": first["median_error_rate"] + first["z_threshold"] * first["robust_scale"],
                "label": f"median + {first['z_threshold']} x robust scale",
            }
        ]
    z = arguments.get("z_threshold")
    window_note = f" Only the latest {MAX_WINDOWS} windows are drawn." if cut else ""

    days, days_cut = latest(tables["daily_engagement"], "event_date", MAX_DAYS)
    day_note = f" Only the latest {MAX_DAYS} days are drawn." if days_cut else ""
    engagement = rows(days.orderBy("event_date"))
    for row in engagement:
        row["event_date"] = str(row["event_date"])
    users = [
        {"event_date": r["event_date"], "users": r[kind], "kind": kind.replace("_users", "")}
        for r in engagement
        for kind in ("new_users", "returning_users")
    ]
    per_user = [
        {"event_date": r["event_date"], "events_per_user": r[f"events_per_user_{stat}"], "statistic": stat}
        for r in engagement
        for stat in ("mean", "median", "p90")
    ]
    activity = [
        {"event_date": r["event_date"], "count": r[column], "measure": measure}
        for r in engagement
        for column, measure in (("event_count", "events"), ("active_users", "active users"))
    ]
    errors = [
        {"event_date": str(r["event_date"]), "status_code": str(r["status_code"]), "error_count": r["error_count"]}
        for r in rows(latest(tables["error_patterns"], "event_date", MAX_DAYS)[0].orderBy("event_date", "status_code"))
    ]
    heaviest = rows(
        tables["user_activity"]
        .orderBy(F.col("event_count").desc(), "user_id")
        .limit(TOP_USERS)
        .select("user_id", "event_count", iso("first_seen"), iso("last_seen"))
    )
    return [
        Section(
            "Activity",
            [
                Chart(
                    "events_by_type",
                    "Events per window by event type",
                    C.time_stack(
                        by_type, "window_start", "window_end", "event_count", "event_type", "window (UTC)", "events"
                    ),
                    note=f"activity_windows: {arguments.get('window_minutes')}-minute windows.{window_note}",
                ),
                Chart(
                    "daily_activity",
                    "Events and active users per day",
                    C.daily_lines(activity, "event_date", "count", "measure", "per day"),
                    note="daily_engagement: every event and every distinct user of each day in the warehouse's "
                    f"history.{day_note}",
                ),
                Chart(
                    "active_users",
                    "Active users per day: new and returning",
                    C.daily_stack(users, "event_date", "users", "kind", "active users", order=["new", "returning"]),
                    note="daily_engagement. New: first seen that day in the warehouse's whole history; returning: "
                    "seen on an earlier day of it (a late file that shows an earlier first day corrects both days).",
                ),
                Chart(
                    "events_per_user",
                    "Events per active user per day",
                    C.daily_lines(per_user, "event_date", "events_per_user", "statistic", "events per active user"),
                    note="daily_engagement: mean, median and 90th percentile of one day's events per active user.",
                ),
                Chart(
                    "heaviest_users",
                    f"Heaviest users (top {TOP_USERS})",
                    C.bars(heaviest, "user_id", "event_count", "user", "events", horizontal=True),
                    note="user_activity, by event count.",
                ),
            ],
        ),
        Section(
            "Errors",
            [
                Chart(
                    "error_rate",
                    "Error rate per window, anomalies marked",
                    C.error_rate(per_window, anomalies, thresholds),
                    note=f"Errors / events per window over all event types (activity_windows); red diamonds: the "
                    f"anomalies table (robust z-score > {z} against the window's own baseline of recent windows); "
                    "dashed: the rate that z-score threshold means for the first anomaly's baseline."
                    + ("" if anomalies else " No window was anomalous, so the run recorded no baseline to draw.")
                    + window_note,
                ),
                Chart(
                    "error_patterns",
                    "Errors per day by status code",
                    C.daily_stack(errors, "event_date", "error_count", "status_code", "errors"),
                    note=f"error_patterns: events with a status code of 400 or more, per day (UTC) and code.{day_note}",
                ),
                quarantine_chart(report),
            ],
        ),
    ]


# ── transaction ETL ──────────────────────────────────────────────────────────────────────


def transaction_etl(spark: SparkSession, report: dict[str, Any], tables: dict[str, DataFrame]) -> list[Section]:
    metrics = report.get("metrics", {})
    refreshed = metrics.get("daily_user_totals", {}).get("dates_refreshed", [])
    changed = (lambda d: True) if refreshed == "all" else (lambda d, s=set(refreshed): d in s)
    gold = tables["daily_user_totals"]
    days, cut = latest(gold, "transaction_date", MAX_DAYS)
    daily = rows(
        days.groupBy("transaction_date")
        .agg(
            F.sum("total_amount").cast("double").alias("net_total"),
            F.sum("transaction_count").alias("transaction_count"),
        )
        .orderBy("transaction_date")
    )
    for row in daily:
        row["transaction_date"] = str(row["transaction_date"])
        row["changed_by_run"] = "yes" if changed(row["transaction_date"]) else "no"
    silver = tables["transactions"]
    if cut:
        silver = silver.filter(F.col("transaction_date") >= F.lit(daily[0]["transaction_date"]).cast("date"))
    money = []
    for row in rows(
        silver.groupBy("transaction_date")
        .agg(
            F.sum(F.when(F.col("amount") > 0, F.col("amount")).otherwise(0)).cast("double").alias("sales"),
            F.sum(F.when(F.col("amount") < 0, F.col("amount")).otherwise(0)).cast("double").alias("refunds"),
        )
        .orderBy("transaction_date")
    ):
        day = str(row["transaction_date"])
        for kind in ("sales", "refunds"):
            money.append(
                {
                    "transaction_date": day,
                    "kind": kind,
                    "amount": row[kind],
                    "changed_by_run": "yes" if changed(day) else "no",
                }
            )
    top = rows(
        gold.groupBy("user_id")
        .agg(F.sum("total_amount").cast("double").alias("net_total"))
        .orderBy(F.col("net_total").desc(), "user_id")
        .limit(TOP_USERS)
    )
    day_note = f" Only the latest {MAX_DAYS} days are drawn." if cut else ""
    activity = [
        Chart(
            "daily_net",
            "Net total and transactions per day",
            C.daily_net(daily),
            note="daily_user_totals (gold, net of refunds), summed over users. Round points: dates this run changed "
            f"(its dates_refreshed: {'all' if refreshed == 'all' else len(refreshed)}).{day_note}",
        ),
        Chart(
            "sales_refunds",
            "Sales and refunds per day",
            C.daily_money(money, "amount"),
            note="transactions (silver): positive amounts are sales, negative ones refunds; faded: dates this run "
            "did not change.",
        ),
        Chart(
            "top_users",
            f"Top users by net total (top {TOP_USERS})",
            C.bars(top, "user_id", "net_total", "user", "net total", horizontal=True, value_format=",.2f"),
            note="daily_user_totals, summed per user over every date.",
        ),
    ]
    if "user_profiles" in tables:
        by_country = rows(
            gold.join(tables["user_profiles"].select("user_id", "country"), "user_id", "left")
            .groupBy(F.coalesce(F.col("country"), F.lit("(no profile)")).alias("country"))
            .agg(F.sum("total_amount").cast("double").alias("net_total"))
            .orderBy(F.col("net_total").desc(), "country")
        )
        activity.append(
            Chart(
                "by_country",
                "Net total by country",
                C.bars(by_country, "country", "net_total", "country", "net total", value_format=",.2f"),
                note="daily_user_totals joined to each user's current profile (user_profiles).",
            )
        )
    merge_rows = []
    for table, key in (("transactions", "merge_transactions"), ("user_profiles", "merge_profiles")):
        figures = metrics.get(key)
        if figures:
            for figure in ("inserted", "updated", "unchanged", "duplicates_collapsed"):
                merge_rows.append({"table": table, "figure": figure, "rows": figures.get(figure, 0)})
    profile_reasons = metrics.get("profiles", {}).get("quarantined_by_reason")
    extra = reason_rows(profile_reasons, "profiles") if profile_reasons is not None else None
    load = [
        Chart(
            "merge",
            "MERGE figures",
            C.grouped_bars(merge_rows, "table", "figure", "rows", "rows"),
            note="From the run report (metrics.merge_transactions, metrics.merge_profiles): rows inserted, updated, "
            "left unchanged, and duplicates collapsed in the batch before the MERGE.",
        ),
        quarantine_chart(report, extra),
    ]
    return [Section("Money over time", activity), Section("This batch", load)]


# ── customer segmentation ────────────────────────────────────────────────────────────────


def customer_segmentation(spark: SparkSession, report: dict[str, Any], tables: dict[str, DataFrame]) -> list[Section]:
    root = report["_root"]
    metrics_path = join_path(root, "metrics.json")
    model = json.loads(read_text(spark, metrics_path)) if path_exists(spark, metrics_path) else {}
    model = model or report.get("metrics", {}).get("model", {})
    chosen = model.get("k")
    curve = [
        {"k": int(k), "silhouette": s, "chosen": int(k) == chosen}
        for k, s in sorted(model.get("silhouette_by_k", {}).items(), key=lambda item: int(item[0]))
    ]
    profile_table = tables["segment_profiles"]
    profiles = rows(profile_table.orderBy("segment"))
    sizes = [{"segment": str(p["segment"]), "customers": p["customers"]} for p in profiles]
    # The features the model was trained on (demographic, behaviour or both): each has a *_mean
    # column, each category a *_share map.
    measures = [c[: -len("_mean")] for c in profile_table.columns if c.endswith("_mean")]
    shares_of = [
        c for c in profile_table.columns if c.endswith("_share") and dict(profile_table.dtypes)[c].startswith("map")
    ]
    means = [
        {"segment": str(p["segment"]), "measure": measure, "mean": p[f"{measure}_mean"]}
        for p in profiles
        for measure in measures
    ]

    def category_rows(column: str) -> list[dict[str, Any]]:
        return [
            {"segment": str(p["segment"]), "category": category, "share": share}
            for p in profiles
            for category, share in sorted((p[column] or {}).items())
        ]

    sample = scatter_sample(spark, report, tables["predictions"])
    return [
        Section(
            "Model",
            [
                Chart(
                    "silhouette",
                    "Silhouette by k",
                    C.silhouette(curve),
                    note=f"metrics.json: every k tried; the chosen k ({chosen}) has the highest silhouette.",
                ),
                Chart(
                    "segment_sizes",
                    "Segment sizes",
                    C.bars(sizes, "segment", "customers", "segment", "customers", sort_by_value=False),
                    note="segment_profiles.customers.",
                ),
            ],
        ),
        Section(
            "Segment profiles",
            [
                Chart(
                    "profile_means",
                    "Mean of each feature per segment",
                    C.profile_means(means, measures),
                    note="segment_profiles: *_mean columns (each panel has its own scale).",
                ),
                *(
                    Chart(
                        column,
                        column[: -len("_share")].replace("_", " ").capitalize(),
                        C.shares(category_rows(column), "share of the segment"),
                    )
                    for column in shares_of
                ),
                *(
                    [
                        Chart(
                            "scatter",
                            f"Annual income against spending score (sample of {len(sample)})",
                            C.scatter(sample),
                            note="Segments from the predictions table, for a fixed sample of customers (by a hash "
                            "of customer_id); their income and score are read again from the run's input, cleaned "
                            "by the same rules, since no output table keeps them.",
                        )
                    ]
                    if sample
                    else []
                ),
            ],
        ),
    ]


def scatter_sample(spark: SparkSession, report: dict[str, Any], predictions: DataFrame) -> list[dict[str, Any]]:
    """A bounded, repeatable sample of the predictions, with the customers' features."""
    from common.classify import classify_lines
    from common.lines import read_csv_lines
    from common.rules.customers import CUSTOMER_CONTRACT, to_customers
    from schemas.customers import RAW_CUSTOMER

    source = report.get("arguments", {}).get("input")  # a warehouse-only run has no customer CSV
    features = ("age", "annual_income", "spending_score")
    picked = (
        predictions.withColumn("_order", F.xxhash64("customer_id"))
        .orderBy("_order", "customer_id")
        .limit(SCATTER_SAMPLE)
    )
    if set(features) <= set(predictions.columns):  # a training run's predictions keep the features
        return rows(picked.orderBy("_order", "customer_id").select("customer_id", "segment", *features))
    if not source:
        return []
    lines = read_csv_lines(spark, source, RAW_CUSTOMER)
    customers = classify_lines(lines, CUSTOMER_CONTRACT).transform(to_customers)
    joined = picked.select("customer_id", "segment", "_order").join(customers, "customer_id")
    return rows(joined.orderBy("_order", "customer_id").select("customer_id", "segment", *features))


# ── any other run (batch scoring...) ─────────────────────────────────────────────────────


def generic(spark: SparkSession, report: dict[str, Any], tables: dict[str, DataFrame]) -> list[Section]:
    charts = [quarantine_chart(report)]
    by_segment = report.get("metrics", {}).get("customers_by_segment")
    if by_segment:
        sizes = [{"segment": s, "customers": n} for s, n in sorted(by_segment.items(), key=lambda i: int(i[0]))]
        charts.insert(
            0,
            Chart(
                "segment_sizes",
                "Customers per segment",
                C.bars(sizes, "segment", "customers", "segment", "customers", sort_by_value=False),
                note="From the run report (metrics.customers_by_segment).",
            ),
        )
    sizes = [{"table": name, "rows": t["rows"]} for name, t in sorted(report.get("tables", {}).items())]
    charts.append(Chart("table_rows", "Rows per table", C.bars(sizes, "table", "rows", "table", "rows")))
    return [Section("The run", charts)]


PAGES: dict[str, tuple[str, Callable[..., list[Section]]]] = {
    "log_analytics": ("Log analytics: user activity and errors", log_analytics),
    "transaction_etl": ("Transaction ETL: money, users and this batch", transaction_etl),
    "customer_segmentation": ("Customer segmentation: model and segments", customer_segmentation),
    "segment_customers": ("Batch scoring: customers per segment", generic),
}


def inputs(report: dict[str, Any]) -> list[tuple[str, str]]:
    arguments = report.get("arguments", {})
    names = ("input", "transactions", "profiles", "model", "output", "warehouse", "batch_id")
    return [(name, text(arguments[name])) for name in names if arguments.get(name)]


def text(value: Any) -> str:
    """An argument as the page states it: a repeated option's values joined."""
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def build(spark: SparkSession, output_root: str, report: dict[str, Any] | None = None) -> dict[str, Any]:
    report_path = join_path(output_root, REPORT_FILE)
    if report is None:
        if not path_exists(spark, report_path):
            raise InputError(f"no {REPORT_FILE} under {output_root}: not the output of a finished run")
        report = json.loads(read_text(spark, report_path))
    report = {**report, "_root": output_root}
    title, page = PAGES.get(report.get("job", ""), (f"{report.get('job')} run", generic))
    tables = {name: read_table(spark, t["path"], t["format"]) for name, t in report.get("tables", {}).items()}
    sections = page(spark, report, tables)
    text = render(title, report, inputs(report), accounting(report), sections, javascript_bundle())
    path = join_path(output_root, DASHBOARD_FILE)
    write_text(spark, path, text)
    size = len(text.encode("utf-8"))
    return {"path": path, "bytes": size, "charts": sum(len(s.charts) for s in sections)}
