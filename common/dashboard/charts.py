"""Vega-Lite specs (through altair) for the dashboards: each takes plain rows, returns JSON.

Rows are lists of dicts, already read from the run's tables and report: no chart computes a
figure of its own, it only draws the ones it is given. Times are ISO-8601 UTC text and the
time scales are UTC, so a reader in any time zone sees the times the tables hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

WIDTH, HEIGHT = 430, 220
UTC_AXIS = {"format": "%b %d %H:%M", "labelAngle": 0}


def _alt():
    import altair as alt

    return alt


def _spec(chart: Any) -> dict[str, Any]:
    return chart.properties(width=WIDTH, height=HEIGHT).to_dict()


def _data(rows: Sequence[dict[str, Any]]) -> Any:
    return _alt().Data(values=[dict(row) for row in rows])


def time_stack(
    rows: Sequence[dict[str, Any]], time: str, end: str, value: str, colour: str, time_title: str, value_title: str
):
    """Stacked bars, one per window (windows in order, labelled by their UTC start), one colour
    per category (events per window by event type)."""
    alt = _alt()
    label = "replace(slice(datum.value, 5, 16), 'T', ' ')"  # 2026-11-01T10:00:00Z -> 11-01 10:00
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X(
                f"{time}:O",
                title=time_title,
                axis=alt.Axis(labelExpr=label, labelOverlap=True, labelAngle=-45),
            ),
            y=alt.Y(f"{value}:Q", title=value_title, stack="zero"),
            color=alt.Color(f"{colour}:N", title=colour.replace("_", " ")),
            tooltip=[
                alt.Tooltip(f"{time}:N", title=time_title),
                alt.Tooltip(f"{end}:N", title="until"),
                f"{colour}:N",
                f"{value}:Q",
            ],
        )
    )
    return _spec(chart)


def daily_stack(rows: Sequence[dict[str, Any]], date: str, value: str, colour: str, value_title: str, order=None):
    """Stacked bars per day (active users split into new and returning)."""
    alt = _alt()
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X(f"{date}:O", title="day (UTC)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y(f"{value}:Q", title=value_title, stack="zero"),
            color=alt.Color(f"{colour}:N", title=colour.replace("_", " "), sort=order),
            tooltip=[f"{date}:N", f"{colour}:N", f"{value}:Q"],
        )
    )
    return _spec(chart)


def daily_lines(rows: Sequence[dict[str, Any]], date: str, value: str, series: str, value_title: str):
    """One line per series over days (mean / median / p90 events per active user)."""
    alt = _alt()
    chart = (
        alt.Chart(_data(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{date}:O", title="day (UTC)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y(f"{value}:Q", title=value_title),
            color=alt.Color(f"{series}:N", title=series.replace("_", " ")),
            tooltip=[f"{date}:N", f"{series}:N", alt.Tooltip(f"{value}:Q", format=".2f")],
        )
    )
    return _spec(chart)


def error_rate(
    windows: Sequence[dict[str, Any]], anomalies: Sequence[dict[str, Any]], thresholds: Sequence[dict[str, Any]]
):
    """Error rate per window as a line, anomalous windows as red points, the rate the z-score
    threshold corresponds to as a dashed rule (when the run recorded its baseline)."""
    alt = _alt()
    x = alt.X("window_start:T", title="window start (UTC)", scale=alt.Scale(type="utc"), axis=alt.Axis(**UTC_AXIS))
    line = (
        alt.Chart(_data(windows))
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=x,
            y=alt.Y("error_rate:Q", title="error rate (errors / events)", axis=alt.Axis(format="%")),
            color=alt.Color("scored:N", title="window", scale=alt.Scale(range=["#3e7cb1", "#b8c2cc"])),
            tooltip=[
                alt.Tooltip("window_start:N", title="window start"),
                "event_count:Q",
                "error_count:Q",
                alt.Tooltip("error_rate:Q", format=".2%"),
            ],
        )
    )
    points = (
        alt.Chart(_data(anomalies))
        .mark_point(color="#d64545", size=120, filled=True, shape="diamond")
        .encode(
            x=x,
            y="error_rate:Q",
            tooltip=[
                alt.Tooltip("window_start:N", title="anomalous window"),
                alt.Tooltip("error_rate:Q", format=".2%"),
                alt.Tooltip("robust_z_score:Q", format=".2f"),
                "z_threshold:Q",
            ],
        )
    )
    layers = [line, points]
    if thresholds:
        rule = (
            alt.Chart(_data(thresholds))
            .mark_rule(color="#d64545", strokeDash=[6, 4])
            .encode(y="threshold_rate:Q", tooltip=[alt.Tooltip("threshold_rate:Q", format=".2%"), "label:N"])
        )
        layers.append(rule)
    return _spec(alt.layer(*layers))


def bars(
    rows: Sequence[dict[str, Any]],
    category: str,
    value: str,
    category_title: str,
    value_title: str,
    horizontal: bool = False,
    colour: str | None = None,
    sort_by_value: bool = True,
    value_format: str | None = None,
):
    """Bars per category (status codes, reasons, users, segments...), largest first."""
    alt = _alt()
    sort = "-x" if horizontal else "-y"
    cat = alt.X if not horizontal else alt.Y
    val = alt.Y if not horizontal else alt.X
    tooltip = [f"{category}:N", alt.Tooltip(f"{value}:Q", format=value_format) if value_format else f"{value}:Q"]
    encoding: dict[str, Any] = {
        ("y" if horizontal else "x"): cat(
            f"{category}:N",
            title=category_title,
            sort=sort if sort_by_value else None,
            **({} if horizontal else {"axis": alt.Axis(labelAngle=0)}),
        ),
        ("x" if horizontal else "y"): val(f"{value}:Q", title=value_title),
        "tooltip": tooltip,
    }
    if colour:
        encoding["color"] = alt.Color(f"{colour}:N", title=colour.replace("_", " "))
        tooltip.append(f"{colour}:N")
    return _spec(alt.Chart(_data(rows)).mark_bar().encode(**encoding))


def grouped_bars(rows: Sequence[dict[str, Any]], group: str, category: str, value: str, value_title: str):
    """Bars per category, one panel per group (MERGE figures per table)."""
    alt = _alt()
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X(f"{category}:N", title=None, sort=None, axis=alt.Axis(labelAngle=-30)),
            y=alt.Y(f"{value}:Q", title=value_title),
            color=alt.Color(f"{category}:N", legend=None),
            column=alt.Column(f"{group}:N", title=None),
            tooltip=[f"{group}:N", f"{category}:N", f"{value}:Q"],
        )
    )
    return chart.properties(width=200, height=HEIGHT).to_dict()


def daily_money(rows: Sequence[dict[str, Any]], value_title: str):
    """Per day: sales and refunds as bars either side of zero, net as a line (silver / gold)."""
    alt = _alt()
    x = alt.X("transaction_date:O", title="day (UTC)", axis=alt.Axis(labelAngle=-45))
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("amount:Q", title=value_title),
            color=alt.Color(
                "kind:N", title=None, scale=alt.Scale(domain=["sales", "refunds"], range=["#3e7cb1", "#d64545"])
            ),
            opacity=alt.Opacity("changed_by_run:N", title="changed by this run", scale=alt.Scale(range=[0.45, 1.0])),
            tooltip=["transaction_date:N", "kind:N", alt.Tooltip("amount:Q", format=",.2f"), "changed_by_run:N"],
        )
    )
    return _spec(chart)


def daily_net(rows: Sequence[dict[str, Any]]):
    """Gold's net total per day (line) and its transaction count (bars), dates this run changed marked."""
    alt = _alt()
    base = alt.Chart(_data(rows)).encode(
        x=alt.X("transaction_date:O", title="day (UTC)", axis=alt.Axis(labelAngle=-45))
    )
    count = base.mark_bar(opacity=0.35, color="#7b8794").encode(
        y=alt.Y("transaction_count:Q", title="transactions"),
        tooltip=["transaction_date:N", "transaction_count:Q", "changed_by_run:N"],
    )
    net = base.mark_line(point=True, color="#1f2933").encode(
        y=alt.Y("net_total:Q", title="net total"),
        shape=alt.Shape("changed_by_run:N", title="changed by this run"),
        tooltip=["transaction_date:N", alt.Tooltip("net_total:Q", format=",.2f"), "changed_by_run:N"],
    )
    return _spec(alt.layer(count, net).resolve_scale(y="independent"))


def silhouette(rows: Sequence[dict[str, Any]]):
    """Silhouette per k, the chosen k marked."""
    alt = _alt()
    base = alt.Chart(_data(rows)).encode(
        x=alt.X("k:O", title="k (segments)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("silhouette:Q", title="silhouette", scale=alt.Scale(zero=False)),
    )
    line = base.mark_line(point=True).encode(tooltip=["k:O", alt.Tooltip("silhouette:Q", format=".4f")])
    chosen = base.transform_filter("datum.chosen").mark_point(size=220, color="#d64545", filled=True, shape="diamond")
    label = base.transform_filter("datum.chosen").mark_text(dy=-16, color="#d64545").encode(text=alt.value("chosen"))
    return _spec(alt.layer(line, chosen, label))


def profile_means(rows: Sequence[dict[str, Any]], measures: Sequence[str]):
    """Each segment's mean of every feature, one panel per measure (own scale)."""
    alt = _alt()
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("segment:N", title="segment", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("mean:Q", title=None),
            color=alt.Color("segment:N", legend=None),
            column=alt.Column("measure:N", title=None, sort=list(measures)),
            tooltip=["segment:N", "measure:N", alt.Tooltip("mean:Q", format=",.2f")],
        )
        .resolve_scale(y="independent")
    )
    return chart.properties(width=150, height=HEIGHT).to_dict()


def shares(rows: Sequence[dict[str, Any]], title: str):
    """Category shares per segment, stacked to 100 %."""
    alt = _alt()
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("segment:N", title="segment", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("share:Q", title=title, axis=alt.Axis(format="%"), stack="zero"),
            color=alt.Color("category:N", title=None),
            tooltip=["segment:N", "category:N", alt.Tooltip("share:Q", format=".1%")],
        )
    )
    return chart.properties(width=260, height=HEIGHT).to_dict()


def scatter(rows: Sequence[dict[str, Any]]):
    """Income against spending score, one colour per segment."""
    alt = _alt()
    chart = (
        alt.Chart(_data(rows))
        .mark_circle(size=28, opacity=0.7)
        .encode(
            x=alt.X("annual_income:Q", title="annual income"),
            y=alt.Y("spending_score:Q", title="spending score"),
            color=alt.Color("segment:N", title="segment"),
            tooltip=["customer_id:N", "segment:N", "annual_income:Q", "spending_score:Q", "age:Q"],
        )
    )
    return _spec(chart)
