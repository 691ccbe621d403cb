"""Unit tests of the log analytics transforms, on small hand-made DataFrames."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession

from jobs.log_analytics import (
    activity_windows,
    daily_engagement,
    engagement_by_day,
    error_patterns,
    error_rate_anomalies,
    in_ranges,
    merge_ranges,
    moved_first_dates,
    range_dates,
    rescored_ranges,
    user_activity,
    user_activity_changes,
    user_days,
    window_ranges,
)
from schemas.logs import ACTIVITY_WINDOWS, EVENT, USER_ACTIVITY


def at(hhmmss: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-01T{hhmmss}")


def events(spark: SparkSession, *rows: tuple[str, str, str, int]) -> DataFrame:
    return spark.createDataFrame([(at(t), u, e, s) for t, u, e, s in rows], EVENT)


def on(day: int, hhmmss: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-{day:02d}T{hhmmss}")


def test_daily_engagement_counts_users_events_percentiles_and_first_days(spark: SparkSession) -> None:
    rows = [
        # day 1: a has 1 event, b 3 (a duplicate counts), c 6
        (on(1, "00:00:00"), "a"),
        *[(on(1, "10:00:00"), "b")] * 2,
        (on(1, "23:59:59.999"), "b"),
        *[(on(1, f"12:0{i}:00"), "c") for i in range(6)],
        # day 2: b returns with 2 events, d is new with 1; the day starts at midnight UTC
        (on(2, "00:00:00"), "b"),
        (on(2, "08:00:00"), "b"),
        (on(2, "09:00:00"), "d"),
        # day 4 (nothing on day 3): a returns after a gap
        (on(4, "07:00:00"), "a"),
    ]
    df = spark.createDataFrame([(t, u, "view", 200) for t, u in rows], EVENT)
    got = {r.event_date.isoformat(): r.asDict() for r in daily_engagement(user_days(df)).collect()}
    assert sorted(got) == ["2026-11-01", "2026-11-02", "2026-11-04"]
    day1, day2, day4 = got["2026-11-01"], got["2026-11-02"], got["2026-11-04"]
    assert (day1["active_users"], day1["event_count"], day1["new_users"], day1["returning_users"]) == (3, 10, 3, 0)
    # per-user counts 1, 3, 6: mean 10/3, median 3, p90 interpolated between 3 and 6 at 0.8 -> 5.4
    assert day1["events_per_user_mean"] == pytest.approx(10 / 3)
    assert (day1["events_per_user_median"], day1["events_per_user_p90"]) == (3.0, pytest.approx(5.4))
    assert (day2["active_users"], day2["event_count"], day2["new_users"], day2["returning_users"]) == (2, 3, 1, 1)
    assert (day2["events_per_user_median"], day2["events_per_user_p90"]) == (1.5, pytest.approx(1.9))
    assert (day4["active_users"], day4["new_users"], day4["returning_users"]) == (1, 0, 1)
    assert sum(d["event_count"] for d in got.values()) == len(rows)


def test_user_activity_counts_duplicates_and_spans_first_to_last(spark: SparkSession) -> None:
    df = events(
        spark,
        ("10:00:00", "a", "view", 200),
        ("10:00:00", "a", "view", 200),
        ("12:30:00", "a", "buy", 500),
        ("11:00:00", "b", "view", 200),
    ).unionByName(spark.createDataFrame([(on(3, "08:00:00"), "a", "view", 200)], EVENT))
    rows = {r.user_id: (r.event_count, r.first_seen, r.last_seen) for r in user_activity(user_days(df)).collect()}
    # rolled up from per-day rows: the count sums the days, the span runs from the first day to the last
    assert rows == {"a": (4, at("10:00:00"), on(3, "08:00:00")), "b": (1, at("11:00:00"), at("11:00:00"))}


def test_error_patterns_keep_only_status_400_and_up(spark: SparkSession) -> None:
    df = events(
        spark,
        ("10:00:00", "a", "view", 399),
        ("10:00:01", "a", "view", 400),
        ("10:00:02", "b", "view", 400),
        ("10:00:03", "b", "view", 599),
        ("10:00:04", "b", "view", 302),
    )
    assert {(r.status_code, r.error_count) for r in error_patterns(df).collect()} == {(400, 2), (599, 1)}


def test_activity_windows_are_tumbling_and_start_inclusive(spark: SparkSession) -> None:
    df = events(
        spark,
        ("10:14:59", "a", "view", 200),
        ("10:15:00", "a", "view", 500),
        ("10:15:00", "b", "view", 200),
        ("10:29:59.999", "c", "buy", 404),
    )
    rows = {
        (r.window_start, r.window_end, r.event_type): (r.event_count, r.distinct_users, r.error_count)
        for r in activity_windows(df, 15).collect()
    }
    assert rows == {
        (at("10:00:00"), at("10:15:00"), "view"): (1, 1, 0),
        (at("10:15:00"), at("10:30:00"), "view"): (2, 2, 1),
        (at("10:15:00"), at("10:30:00"), "buy"): (1, 1, 1),
    }


def windows(spark: SparkSession, *per_hour: tuple[int, int]) -> DataFrame:
    """Hourly windows with (events, errors), split over two event types to test the roll-up."""
    rows = []
    for hour, (n, errors) in enumerate(per_hour):
        start, end = at(f"{hour:02d}:00:00"), at(f"{hour + 1:02d}:00:00")
        rows.append((start, end, "view", n - n // 2, 1, min(errors, n - n // 2)))
        rows.append((start, end, "buy", n // 2, 1, errors - min(errors, n - n // 2)))
    return spark.createDataFrame(rows, ACTIVITY_WINDOWS)


# These windows are all within one baseline (28 days): score each against every earlier one.
ALL_PAST = {"min_baseline_windows": 1}


def test_anomaly_uses_median_absolute_deviation(spark: SparkSession) -> None:
    # rates 0.10, 0.12, 0.08, 0.10, 0.11, 0.09, 0.60: median 0.10, MAD 0.01
    df = windows(spark, (100, 10), (100, 12), (100, 8), (100, 10), (100, 11), (100, 9), (100, 60))
    [row] = error_rate_anomalies(df, z_threshold=3.5, min_window_events=20, **ALL_PAST).collect()
    assert row.window_start == at("06:00:00")
    assert (row.event_count, row.error_count) == (100, 60)
    assert row.median_error_rate == pytest.approx(0.10)
    assert row.robust_scale == pytest.approx(0.01 * 1.4826)
    assert row.robust_z_score == pytest.approx(0.5 / (0.01 * 1.4826))
    assert (row.z_threshold, row.baseline_windows) == (3.5, 7)


def test_anomaly_falls_back_to_mean_deviation_when_most_windows_are_equal(spark: SparkSession) -> None:
    # rates 0, 0, 0, 0, 0.5: median 0 and MAD 0; mean absolute deviation 0.1
    df = windows(spark, (40, 0), (40, 0), (40, 0), (40, 0), (40, 20))
    [row] = error_rate_anomalies(df, z_threshold=3.5, min_window_events=20, **ALL_PAST).collect()
    assert row.robust_scale == pytest.approx(0.1 * 1.2533)
    assert row.robust_z_score == pytest.approx(0.5 / (0.1 * 1.2533))


def test_no_anomaly_when_every_window_has_the_same_rate(spark: SparkSession) -> None:
    df = windows(spark, (50, 5), (50, 5), (50, 5))
    assert error_rate_anomalies(df, **ALL_PAST).count() == 0


def test_small_windows_are_neither_scored_nor_baseline(spark: SparkSession) -> None:
    # the 5-event window is all errors but too small to judge; without it the rest are flat
    df = windows(spark, (40, 4), (40, 4), (40, 4), (40, 4), (40, 4), (5, 5))
    assert error_rate_anomalies(df, min_window_events=20, **ALL_PAST).count() == 0
    assert error_rate_anomalies(df, min_window_events=5, **ALL_PAST).count() == 1


def test_low_error_rate_is_not_an_anomaly(spark: SparkSession) -> None:
    # a window far *below* the others is good news, not an incident
    df = windows(spark, (100, 20), (100, 21), (100, 19), (100, 20), (100, 0))
    assert error_rate_anomalies(df, **ALL_PAST).count() == 0


def daily_windows(spark: SparkSession, *per_day: tuple[int, int]) -> DataFrame:
    """One hourly window a day (at noon) with (events, errors)."""
    rows = []
    for day, (n, errors) in enumerate(per_day, start=1):
        start = datetime.fromisoformat(f"2026-11-{day:02d}T12:00:00")
        rows.append((start, start.replace(hour=13), "view", n, 1, errors))
    return spark.createDataFrame(rows, ACTIVITY_WINDOWS)


def test_baseline_is_the_windows_of_the_days_up_to_the_window(spark: SparkSession) -> None:
    # days 1-3 fail a lot, days 4-7 little, day 8 a lot again: against a 4-day baseline (days
    # 5-8) day 8 is an incident; against all history (median 0.26, MAD 0.24) it is not
    df = daily_windows(spark, *[(100, 50)] * 3, (100, 1), (100, 2), (100, 1), (100, 2), (100, 60))
    [row] = error_rate_anomalies(df, 3.5, 20, baseline_days=4, min_baseline_windows=4).collect()
    assert (row.window_start, row.baseline_windows) == (datetime.fromisoformat("2026-11-08T12:00:00"), 4)
    # baseline rates 0.02, 0.01, 0.02, 0.60: median 0.02, MAD 0.005
    assert row.median_error_rate == pytest.approx(0.02)
    assert row.robust_scale == pytest.approx(0.005 * 1.4826)
    assert error_rate_anomalies(df, 3.5, 20, baseline_days=30, min_baseline_windows=4).count() == 0


def test_a_window_with_too_short_a_baseline_is_not_scored(spark: SparkSession) -> None:
    df = daily_windows(spark, (100, 1), (100, 2), (100, 1), (100, 60))
    assert error_rate_anomalies(df, 3.5, 20, baseline_days=28, min_baseline_windows=5).count() == 0
    [row] = error_rate_anomalies(df, 3.5, 20, baseline_days=28, min_baseline_windows=4).collect()
    assert row.baseline_windows == 4


# ── what a batch's refresh recomputes (docs/jobs/log_analytics.md, "What a run reads and rewrites") ──


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(f"{text}+00:00").timestamp())


def test_window_ranges_cover_the_dates_and_reach_into_neighbours_when_windows_span_midnight() -> None:
    days = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 5)]
    # hourly windows divide a day: exactly the days, consecutive days merged
    assert window_ranges(days, 60) == [
        (epoch("2026-11-01T00:00:00"), epoch("2026-11-03T00:00:00")),
        (epoch("2026-11-05T00:00:00"), epoch("2026-11-06T00:00:00")),
    ]
    # 7-hour windows from the epoch: the first window overlapping Nov 7 starts on Nov 6 (at
    # 18:00), the last one starts on Nov 7 at 22:00 and ends on Nov 8 at 05:00
    [(start, end)] = window_ranges([date(2026, 11, 7)], 7 * 60)
    assert (start, end) == (epoch("2026-11-06T18:00:00"), epoch("2026-11-08T05:00:00"))
    assert range_dates([(start, end)]) == [date(2026, 11, 6), date(2026, 11, 7), date(2026, 11, 8)]
    assert range_dates([(epoch("2026-11-05T00:00:00"), epoch("2026-11-06T00:00:00"))]) == [date(2026, 11, 5)]


def test_rescored_ranges_reach_the_windows_whose_baseline_holds_a_changed_window() -> None:
    day = 86_400
    assert rescored_ranges([(0, day), (3 * day, 4 * day)], 2) == [(0, 6 * day)]
    assert rescored_ranges([(0, day), (5 * day, 6 * day)], 2) == [(0, 3 * day), (5 * day, 8 * day)]
    assert merge_ranges([(5, 6), (0, 2), (2, 3)]) == [(0, 3), (5, 6)]


def test_in_ranges_selects_window_starts_in_the_ranges(spark: SparkSession) -> None:
    starts = spark.createDataFrame([(at(f"{h:02d}:00:00"),) for h in range(6)], "window_start timestamp")
    ranges = [
        (epoch("2026-11-01T01:00:00"), epoch("2026-11-01T03:00:00")),
        (epoch("2026-11-01T05:00:00"), epoch("2026-11-01T09:00:00")),
    ]
    got = [
        r.window_start.hour for r in starts.where(in_ranges("window_start", ranges)).orderBy("window_start").collect()
    ]
    assert got == [1, 2, 5]
    assert starts.where(in_ranges("window_start", [])).count() == 0


def users(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame([(u, n, on(*first), on(*last)) for u, n, first, last in rows], USER_ACTIVITY)


def test_user_activity_changes_add_the_batch_and_recompute_the_users_of_replaced_files(spark: SparkSession) -> None:
    current = users(
        spark,
        ("ann", 3, (2, "10:00:00"), (3, "10:00:00")),
        ("ben", 1, (2, "09:00:00"), (2, "09:00:00")),
        ("cat", 2, (1, "08:00:00"), (1, "09:00:00")),
    )
    added = users(
        spark,
        ("ann", 2, (1, "07:00:00"), (4, "07:00:00")),  # a late file: ann's first day moves to day 1
        ("dan", 1, (4, "12:00:00"), (4, "12:00:00")),  # new
        ("ben", 5, (4, "12:00:00"), (4, "12:00:00")),  # also in a replaced file: recomputed
    )
    recompute = spark.createDataFrame([("ben",), ("cat",)], "user_id string")
    recomputed = users(spark, ("ben", 5, (4, "12:00:00"), (4, "12:00:00")))  # cat has no event left
    changes = user_activity_changes(current, added, recompute, recomputed)
    got = {
        r.user_id: (r.event_count, r.first_seen, r.last_seen, r.previous_first_seen, r.deleted)
        for r in changes.collect()
    }
    assert got == {
        "ann": (5, on(1, "07:00:00"), on(4, "07:00:00"), on(2, "10:00:00"), False),
        "dan": (1, on(4, "12:00:00"), on(4, "12:00:00"), None, False),
        "ben": (5, on(4, "12:00:00"), on(4, "12:00:00"), on(2, "09:00:00"), False),
        "cat": (None, None, None, on(1, "08:00:00"), True),
    }
    moved = sorted(r.event_date.day for r in changes.transform(moved_first_dates).collect())
    # ann: day 2 -> 1; dan: new on 4; ben: 2 -> 4; cat: gone from 1
    assert moved == [1, 2, 4]


def test_engagement_by_day_counts_new_users_from_their_first_day_of_all_history(spark: SparkSession) -> None:
    rows = [(on(3, "10:00:00"), "a"), (on(3, "11:00:00"), "a"), (on(3, "12:00:00"), "b")]
    day3 = user_days(spark.createDataFrame([(t, u, "view", 200) for t, u in rows], EVENT))
    first = spark.createDataFrame(
        [("a", date(2026, 11, 1)), ("b", date(2026, 11, 3))], "user_id string, first_date date"
    )
    [row] = engagement_by_day(day3, first).collect()
    assert (row.active_users, row.event_count, row.new_users, row.returning_users) == (2, 3, 1, 1)
    assert (row.events_per_user_median, row.events_per_user_mean) == (1.5, 1.5)
