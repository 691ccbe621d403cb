"""One self-contained HTML page: the run's facts at the top, then sections of Vega-Lite charts.

The charting library (Vega, Vega-Lite and Vega-Embed, bundled by vl-convert from the copies
it ships) is inlined once per page, so the file opens from disk, a mail attachment or an S3
object with no network. Every chart's spec, with its data, sits in a
`<script type="application/json" data-chart=...>` element: the page renders from it, and the
tests read the numbers a chart shows from the same place.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

# Embedding: SVG (a person can save it; a test can measure it), export actions only (the
# "open in editor" action would send the data to a web site).
EMBED_OPTIONS = {"renderer": "svg", "actions": {"export": True, "source": False, "compiled": False, "editor": False}}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2933;
       background: #f5f7fa; }
header { background: #1f2933; color: #f5f7fa; padding: 16px 28px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header .sub { color: #cbd2d9; font-size: 13px; }
main { padding: 12px 28px 28px 28px; }
.facts { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.fact { background: white; border-radius: 6px; padding: 10px 14px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.fact .n { font-size: 20px; font-weight: 600; }
.fact .l { font-size: 12px; color: #616e7c; }
table.meta { border-collapse: collapse; font-size: 13px; background: white; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
table.meta td, table.meta th { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; }
table.meta td.num { text-align: right; font-variant-numeric: tabular-nums; }
h2 { font-size: 17px; margin: 22px 0 4px 0; }
p.note { font-size: 13px; color: #52606d; margin: 2px 0 8px 0; max-width: 980px; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; }
.card { background: white; border-radius: 6px; padding: 10px 12px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card h3 { font-size: 14px; margin: 0 0 2px 0; }
.card p { font-size: 12px; color: #616e7c; margin: 0 0 6px 0; max-width: 540px; }
code { font-size: 12px; }
"""

# Renders every chart, then sets `document.body.dataset.charts` to the number rendered (or
# `data-failed` to the error): a reader sees the charts, a test knows when they are all there.
RENDER_SCRIPT = """
(function () {
  const opts = %s;
  const specs = Array.from(document.querySelectorAll('script[type="application/json"][data-chart]'));
  Promise.all(specs.map(function (s) {
    return vegaEmbed('#' + s.dataset.chart, JSON.parse(s.textContent), opts);
  })).then(function (views) {
    document.body.dataset.charts = String(views.length);
  }).catch(function (error) {
    document.body.dataset.failed = String(error);
    console.error(error);
  });
})();
"""


@dataclass(frozen=True)
class Chart:
    """One chart: `key` names it in the page (and in the tests), `spec` is Vega-Lite JSON."""

    key: str
    title: str
    spec: dict[str, Any]
    note: str = ""


@dataclass
class Section:
    heading: str
    charts: list[Chart] = field(default_factory=list)
    note: str = ""


def _json_for_script(value: Any) -> str:
    """JSON safe inside a <script> element: '</' cannot end it early."""
    return json.dumps(value, separators=(",", ":"), default=str).replace("</", "<\\/")


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else html.escape(str(value))


def javascript_bundle() -> str:
    """Vega + Vega-Lite + Vega-Embed as one script, for the Vega-Lite version altair writes."""
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    return vl_convert.javascript_bundle(vl_version=vl_version_for_vl_convert())


def facts_table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>" for name, value in rows)
    return f'<table class="meta">{body}</table>'


def tables_table(tables: dict[str, dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(t.get('format', ''))}</td>"
        f'<td class="num">{_number(t.get("rows", ""))}</td>'
        f"<td><code>{html.escape(str(t.get('path', '')))}</code></td></tr>"
        for name, t in sorted(tables.items())
    )
    return f'<table class="meta"><tr><th>table</th><th>format</th><th>rows</th><th>path</th></tr>{body}</table>'


def render(
    title: str,
    report: dict[str, Any],
    inputs: list[tuple[str, str]],
    accounting: list[tuple[str, Any]],
    sections: list[Section],
    bundle: str,
) -> str:
    """The whole page as text."""

    def esc(key: str) -> str:
        return html.escape(str(report.get(key)))

    header_facts = [
        ("job", report.get("job")),
        ("run id", report.get("run_id")),
        ("version", report.get("version")),
        ("status", report.get("status")),
        ("started", report.get("started_at")),
        ("finished", report.get("finished_at")),
        *inputs,
    ]
    facts = "".join(
        f'<div class="fact"><div class="n">{_number(value)}</div><div class="l">{html.escape(label)}</div></div>'
        for label, value in accounting
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)} · {html.escape(str(report.get('run_id', '')))}</title>",
        f"<style>{STYLE}</style>",
        # Vega-Embed's bundle, inline: the only script the page needs.
        f"<script>{bundle}</script>",
        "</head><body>",
        f'<header><h1>{html.escape(title)}</h1><div class="sub">run {esc("run_id")}'
        f" · spark_jobs {esc('version')} · finished {esc('finished_at')}</div></header><main>",
        f'<div class="facts" id="accounting">{facts}</div>',
        facts_table([(name, value) for name, value in header_facts if value is not None]),
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        if section.note:
            parts.append(f'<p class="note">{html.escape(section.note)}</p>')
        parts.append('<div class="charts">')
        for chart in section.charts:
            parts.append(
                f'<div class="card"><h3>{html.escape(chart.title)}</h3>'
                + (f"<p>{html.escape(chart.note)}</p>" if chart.note else "")
                + f'<div id="chart-{chart.key}"></div>'
                f'<script type="application/json" data-chart="chart-{chart.key}">'
                f"{_json_for_script(chart.spec)}</script>"
                "</div>"
            )
        parts.append("</div>")
    parts.append("<h2>Tables written</h2>")
    parts.append(tables_table(report.get("tables", {})))
    parts.append(f"<script>{RENDER_SCRIPT % json.dumps(EMBED_OPTIONS)}</script>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
